import { randomBytes } from 'node:crypto'
import { BlindIndexWriteError, InvalidFieldValueError, UnsupportedEncryptedFieldQueryError } from '../src'
import { ENTITIES, Post, Profile, User } from './support/typeorm-entities'
import { createTypeOrmDatabase, type TypeOrmTestDatabase } from './support/typeorm-data-source'

/**
 * Every write and read path of the TypeORM adapter, against a real database (sql.js, or
 * PostgreSQL with DATABASE_URL), on TypeORM 1.x and 0.3 (two Jest projects). Every plaintext the
 * workload uses is recorded; the last test shows none of them in any statement or parameter
 * TypeORM handed to the driver, while a plain column's values are there (positive control).
 */
let db: TypeOrmTestDatabase
const secrets: string[] = []
const controls: string[] = []

function secret(label: string): string {
  const s = `${label}-${randomBytes(6).toString('hex')}`
  secrets.push(s)
  return s
}
function control(): string {
  const s = `control-${randomBytes(6).toString('hex')}`
  controls.push(s)
  return s
}

beforeAll(async () => (db = await createTypeOrmDatabase(ENTITIES)))
afterEach(() => db.capture.clear())
afterAll(() => db.close())

const users = () => db.dataSource.getRepository(User)
const statements = () => db.capture.statements.map((s) => s.query)
async function rawUser(id: number): Promise<Record<string, unknown>> {
  const [row] = await db.sql(`SELECT * FROM users WHERE id = $1`, [id])
  return row!
}

test('the file runs on the TypeORM line its Jest project names', () => {
  const line = (globalThis as { KFE_TYPEORM_LINE?: string }).KFE_TYPEORM_LINE
  const resolved = require.resolve('typeorm')
  expect(line === '0.3' ? resolved : 'not 0.3').toMatch(line === '0.3' ? /node_modules[\\/]typeorm-0\.3[\\/]/ : 'not 0.3')
  if (line !== '0.3') expect(resolved).toMatch(/node_modules[\\/]typeorm[\\/]/)
})

test("save() with cascades encrypts every encrypted column, fills the blind index, and leaves plaintext in the caller's objects", async () => {
  const email = secret('Ann') + '@Example.com'
  const phone = secret('phone')
  const bio = secret('bio')
  const body = secret('body')
  const tags = [secret('tag'), secret('tag')]
  const avatar = Buffer.from(secret('avatar'))
  const name = control()
  const user = users().create({
    email,
    phone,
    name,
    tags,
    avatar,
    profile: { bio } as Profile,
    posts: [{ title: control(), body } as Post],
  })
  await users().save(user)
  expect(user).toMatchObject({ email, phone, tags, profile: { bio }, posts: [{ body }] })
  expect(user.avatar).toEqual(avatar)
  expect(user.emailIndex).toMatch(/^v1:/)
  const row = await rawUser(user.id)
  for (const column of ['email', 'phone', 'tags']) expect(String(row[column])).toMatch(/^\$kfe\$/)
  expect(Buffer.from(row.avatar as Uint8Array).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x4b, 0x46, 0x45]))
  expect(row.name).toBe(name)
  const [profile] = await db.sql('SELECT * FROM profiles WHERE user_id = $1', [user.id])
  expect(String(profile!.biography)).toMatch(/^\$kfe\$/)

  const found = await users().findOne({ where: { id: user.id }, relations: { posts: true } })
  expect(found).toMatchObject({ email, phone, tags, name, profile: { bio }, posts: [{ body }] })
  expect(found!.avatar).toEqual(avatar)
})

test('saving a loaded entity whose encrypted values did not change rewrites none of them', async () => {
  const user = await users().save(users().create({ email: secret('same') + '@x.io', phone: secret('p'), name: control() }))
  const before = await rawUser(user.id)
  const loaded = (await users().findOneBy({ id: user.id }))!
  db.capture.clear()
  await users().save(loaded)
  expect(statements().filter((q) => /^UPDATE/i.test(q))).toEqual([])
  loaded.name = control()
  await users().save(loaded)
  const updates = statements().filter((q) => /^UPDATE/i.test(q))
  expect(updates).toHaveLength(1)
  expect(updates[0]).not.toMatch(/"email"|"phone"/)
  const after = await rawUser(user.id)
  expect([after.email, after.phone, after.email_index]).toEqual([before.email, before.phone, before.email_index])
  expect(loaded.email).toBe(user.email)
  expect(loaded.phone).toBe(user.phone)
})

test('changing an encrypted value on a loaded entity rewrites it and its blind index', async () => {
  const user = await users().save(users().create({ email: secret('old') + '@x.io' }))
  const loaded = (await users().findOneBy({ id: user.id }))!
  const before = await rawUser(user.id)
  loaded.email = secret('new') + '@x.io'
  await users().save(loaded)
  expect(loaded.email).toMatch(/^new-/)
  const after = await rawUser(user.id)
  expect(after.email).not.toBe(before.email)
  expect(after.email_index).not.toBe(before.email_index)
  expect((await users().findOneBy({ email: loaded.email.toUpperCase() }))?.id).toBe(user.id)
})

test('insert(), update() and upsert(), on the repository and the manager', async () => {
  const email = secret('ins') + '@x.io'
  const values = { email, phone: secret('p'), name: control() }
  const result = await users().insert(values)
  expect(values.email).toBe(email) // the caller's object is back to plaintext
  const id = result.identifiers[0]!.id as number
  expect(String((await rawUser(id)).email)).toMatch(/^\$kfe\$/)

  const many = [{ email: secret('m1') + '@x.io' }, { email: secret('m2') + '@x.io' }]
  await db.dataSource.manager.insert(User, many)
  for (const m of many) expect((await users().findOneBy({ email: m.email }))?.email).toBe(m.email)

  const phone = secret('upd')
  await users().update({ email }, { phone })
  expect((await users().findOneBy({ id }))?.phone).toBe(phone)
  expect(String((await rawUser(id)).phone)).toMatch(/^\$kfe\$/)

  const newEmail = secret('upd') + '@x.io'
  await db.dataSource.manager.update(User, id, { email: newEmail })
  expect((await users().findOneBy({ email: newEmail }))?.id).toBe(id)

  const upPhone = secret('ups')
  await users().upsert({ email: newEmail, phone: upPhone, name: control() }, ['emailIndex'])
  const rows = await users().findBy({ email: newEmail })
  expect(rows.map((r) => [r.id, r.phone])).toEqual([[id, upPhone]])
})

test('QueryBuilder insert().values(), update().set(), getMany/getOne and joins', async () => {
  const email = secret('qb') + '@x.io'
  await db.dataSource.createQueryBuilder().insert().into(User).values({ email, name: control() }).execute()
  const one = await users().createQueryBuilder('u').where({ email }).getOne()
  expect(one?.email).toBe(email)
  const phone = secret('qbset')
  await db.dataSource.createQueryBuilder().update(User).set({ phone }).where({ email }).execute()
  expect(String((await rawUser(one!.id)).phone)).toMatch(/^\$kfe\$/)
  const body = secret('qbpost')
  await db.dataSource.getRepository(Post).save({ title: control(), body, author: { id: one!.id } })
  const joined = await users().createQueryBuilder('u').leftJoinAndSelect('u.posts', 'p').where('u.id = :id', { id: one!.id }).getMany()
  expect(joined.map((u) => [u.phone, u.posts?.map((p) => p.body)])).toEqual([[phone, [body]]])
  const posts = await db.dataSource.getRepository(Post).find({ where: { author: { email } }, relations: { author: true } })
  expect(posts.map((p) => [p.body, p.author?.email])).toEqual([[body, email]])
})

test('transactions: writes and reads through the transaction manager', async () => {
  const email = secret('tx') + '@x.io'
  const seen = await db.dataSource.transaction(async (manager) => {
    const u = await manager.save(manager.create(User, { email, profile: { bio: secret('txbio') } as Profile }))
    await manager.getRepository(User).update(u.id, { phone: secret('txphone') })
    return manager.getRepository(User).findOneBy({ email })
  })
  expect(seen?.email).toBe(email)
  expect(seen?.profile?.bio).toMatch(/^txbio-/)
  await expect(
    db.dataSource.transaction(async (manager) => {
      await manager.save(manager.create(User, { email: secret('rolled') + '@x.io' }))
      throw new Error('roll back')
    }),
  ).rejects.toThrow('roll back')
})

test('relations load decrypted: eager, relations option, and the query strategy', async () => {
  const email = secret('rel') + '@x.io'
  const bio = secret('relbio')
  const body = secret('relbody')
  const saved = await users().save(users().create({ email, profile: { bio } as Profile, posts: [{ title: control(), body } as Post] }))
  const byQuery = await users().find({ where: { id: saved.id }, relations: { posts: true }, relationLoadStrategy: 'query' })
  expect(byQuery.map((u) => [u.profile?.bio, u.posts?.map((p) => p.body)])).toEqual([[bio, [body]]])
  const profile = await db.dataSource.getRepository(Profile).findOne({ where: { user: { email } }, relations: { user: true } })
  expect([profile?.bio, profile?.user?.email]).toEqual([bio, email])
})

test('null clears an encrypted value and its blind index; wrong types are refused before any SQL', async () => {
  const user = await users().save(users().create({ email: secret('nul') + '@x.io', phone: secret('p') }))
  user.phone = null
  await users().save(user)
  expect((await rawUser(user.id)).phone).toBeNull()
  db.capture.clear()
  await expect(users().insert({ email: 42 as never })).rejects.toBeInstanceOf(InvalidFieldValueError)
  expect(statements().filter((q) => /INSERT/i.test(q))).toEqual([])
})

test("a write the database rejects leaves the caller's objects in plaintext too", async () => {
  const email = secret('dup') + '@x.io'
  await users().insert({ email })
  const again = { email, phone: secret('dup-phone') }
  await expect(users().insert(again)).rejects.toThrow() // unique blind index
  expect(again.email).toBe(email)
  expect(again.phone).toMatch(/^dup-phone-/)
  const entity = users().create({ email, phone: secret('dup-save') })
  await expect(users().save(entity)).rejects.toThrow()
  expect([entity.email, entity.phone]).toEqual([email, expect.stringMatching(/^dup-save-/)])
})

test('writing a blind index directly is refused', async () => {
  const user = await users().save(users().create({ email: secret('bi') + '@x.io' }))
  await expect(users().update(user.id, { emailIndex: 'v1:forged' })).rejects.toBeInstanceOf(BlindIndexWriteError)
})

test('paths the adapter cannot see (listeners off) are refused at the driver, never sent in plaintext', async () => {
  const email = secret('nolisten') + '@x.io'
  await expect(users().save(users().create({ email }), { listeners: false })).rejects.toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
  await expect(
    db.dataSource.createQueryBuilder().insert().into(User).values({ email }).callListeners(false).execute(),
  ).rejects.toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
  const user = await users().save(users().create({ email: secret('x') + '@x.io' }))
  await expect(
    db.dataSource
      .createQueryBuilder()
      .update(User)
      .set({ phone: secret('nolisten') })
      .whereInIds(user.id)
      .callListeners(false)
      .execute(),
  ).rejects.toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
})

test('getRawMany and query() return the stored values as they are', async () => {
  const email = secret('raw') + '@x.io'
  await users().save(users().create({ email }))
  const raw = await users().createQueryBuilder('u').select('u.email', 'email').where({ email }).getRawMany()
  expect(raw).toHaveLength(1)
  expect(String(raw[0].email)).toMatch(/^\$kfe\$/)
})

test('no plaintext reached the driver in the whole workload; the plain column did (positive control)', () => {
  const text = db.capture.text('all')
  expect(secrets.length).toBeGreaterThan(20)
  const leaked = secrets.filter((s) => text.includes(s) || text.includes(s.toLowerCase()))
  expect(leaked).toEqual([])
  expect(controls.filter((c) => text.includes(c))).toEqual(controls)
})
