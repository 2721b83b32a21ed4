import { randomUUID } from 'node:crypto'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import type { QueryRecorder } from './support/query-recorder'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'
import { supportsManyAndReturn, supportsScalarLists, TAGS_COLUMN, testWhere, withTags } from './support/test-database-kind'

const manyAndReturnTest = testWhere(supportsManyAndReturn(), 'Prisma has no createManyAndReturn/updateManyAndReturn on MySQL')

/**
 * Every top-level Prisma operation on a model with encrypted fields: plaintext goes in and comes
 * back out, while the table (read with raw SQL) and the query that reached the database hold
 * only ciphertext.
 */
let db: TestDatabase
let prisma: EncryptedClient
let recorder: QueryRecorder

beforeAll(async () => {
  db = await createTestDatabase()
  ;({ prisma, recorder } = encryptedClient(db))
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  await truncateTables(db)
  recorder.clear()
})

const secret = (label: string) => `${label}-${randomUUID()}`

interface UserRow {
  id: number
  email: string
  phone: string | null
  tags: string[] | null
  avatar: Uint8Array | null
}

async function storedUser(id: number): Promise<UserRow> {
  const [row] = await db.sql<UserRow>(`SELECT id, email, phone${TAGS_COLUMN}, avatar FROM users WHERE id = $1`, [id])
  if (!row) throw new Error(`no users row ${id}`)
  return row
}

/** A stored text value: in our format and not containing the plaintext. */
function expectCiphertextOf(stored: unknown, plaintext: string): void {
  expect(typeof stored).toBe('string')
  expect(stored as string).toMatch(/^\$kfe\$[A-Za-z0-9_-]+$/)
  expect(stored as string).not.toContain(plaintext)
}

/** None of the plaintexts was in any query that reached the database. */
function expectNothingSentInClear(...plaintexts: string[]): void {
  const sent = recorder.text()
  expect(recorder.queries.length).toBeGreaterThan(0)
  for (const p of plaintexts) expect(sent).not.toContain(p)
}

describe('writes', () => {
  test('create returns plaintext and stores ciphertext in every encrypted column', async () => {
    const email = secret('create-email')
    const phone = secret('create-phone')
    const tags = [secret('tag-a'), secret('tag-b')]
    const avatar = Buffer.from(secret('avatar-bytes'))
    const user = await prisma.user.create({ data: { email, phone, ...withTags(tags), avatar, name: 'Ada' } })
    expect(user).toMatchObject({ email, phone, ...withTags(tags), name: 'Ada' })
    expect(Buffer.from(user.avatar!)).toEqual(avatar)

    const row = await storedUser(user.id)
    expectCiphertextOf(row.email, email)
    expectCiphertextOf(row.phone, phone)
    if (supportsScalarLists()) {
      expect(row.tags).toHaveLength(2)
      row.tags!.forEach((t, i) => expectCiphertextOf(t, tags[i]!))
    }
    expect(Buffer.from(row.avatar!).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x4b, 0x46, 0x45]))
    expect(Buffer.from(row.avatar!).includes(avatar)).toBe(false)
    expectNothingSentInClear(email, phone, ...tags, avatar.toString())
  })

  test('createMany encrypts every row', async () => {
    const emails = [secret('many-1'), secret('many-2'), secret('many-3')]
    const result = await prisma.user.createMany({ data: emails.map((email) => ({ email, phone: `${email}-phone` })) })
    expect(result.count).toBe(3)
    const rows = await db.sql<UserRow>('SELECT id, email, phone FROM users ORDER BY id')
    rows.forEach((row, i) => {
      expectCiphertextOf(row.email, emails[i]!)
      expectCiphertextOf(row.phone, `${emails[i]}-phone`)
    })
    const read = await prisma.user.findMany({ orderBy: { id: 'asc' } })
    expect(read.map((u) => u.email)).toEqual(emails)
    expect(read.map((u) => u.phone)).toEqual(emails.map((e) => `${e}-phone`))
    expectNothingSentInClear(...emails)
  })

  manyAndReturnTest('createManyAndReturn returns plaintext records', async () => {
    const emails = [secret('cmar-1'), secret('cmar-2')]
    const created = await prisma.user.createManyAndReturn({ data: emails.map((email) => ({ email, ...withTags([email]) })) })
    expect(created.map((u) => u.email).sort()).toEqual([...emails].sort())
    for (const u of created) {
      const row = await storedUser(u.id)
      expectCiphertextOf(row.email, u.email)
      if (!supportsScalarLists()) continue
      expect(u.tags).toEqual([u.email])
      expectCiphertextOf(row.tags![0], u.email)
    }
    expectNothingSentInClear(...emails)
  })

  test('update replaces the stored ciphertext and returns the new plaintext', async () => {
    const user = await prisma.user.create({ data: { email: secret('before') } })
    const before = await storedUser(user.id)
    const email = secret('after')
    const phone = secret('after-phone')
    const updated = await prisma.user.update({ where: { id: user.id }, data: { email, phone: { set: phone } } })
    expect(updated).toMatchObject({ id: user.id, email, phone })
    const row = await storedUser(user.id)
    expectCiphertextOf(row.email, email)
    expectCiphertextOf(row.phone, phone)
    expect(row.email).not.toBe(before.email)
    expectNothingSentInClear(email, phone)
  })

  test('updateMany writes ciphertext to every matched row', async () => {
    await prisma.user.createMany({
      data: [
        { email: secret('um-1'), name: 'group' },
        { email: secret('um-2'), name: 'group' },
        { email: secret('um-3'), name: 'other' },
      ],
    })
    const phone = secret('um-phone')
    const result = await prisma.user.updateMany({ where: { name: 'group' }, data: { phone } })
    expect(result.count).toBe(2)
    const rows = await db.sql<UserRow & { name: string }>('SELECT id, name, phone FROM users ORDER BY id')
    for (const row of rows) {
      if (row.name === 'group') expectCiphertextOf(row.phone, phone)
      else expect(row.phone).toBeNull()
    }
    const read = await prisma.user.findMany({ where: { name: 'group' } })
    expect(read.map((u) => u.phone)).toEqual([phone, phone])
    expectNothingSentInClear(phone)
  })

  manyAndReturnTest('updateManyAndReturn returns plaintext records', async () => {
    const emails = [secret('umar-1'), secret('umar-2')]
    await prisma.user.createMany({ data: emails.map((email) => ({ email, name: 'umar' })) })
    const tags = [secret('umar-tag')]
    const phone = secret('umar-phone')
    const updated = await prisma.user.updateManyAndReturn({ where: { name: 'umar' }, data: { phone, ...withTags(tags) } })
    expect(updated.map((u) => u.email).sort()).toEqual([...emails].sort())
    for (const u of updated) {
      expect(u.phone).toBe(phone)
      expectCiphertextOf((await storedUser(u.id)).phone, phone)
      if (!supportsScalarLists()) continue
      expect(u.tags).toEqual(tags)
      expectCiphertextOf((await storedUser(u.id)).tags![0], tags[0]!)
    }
    expectNothingSentInClear(...emails, ...tags, phone)
  })

  test('upsert, create branch', async () => {
    const email = secret('upsert-create')
    const user = await prisma.user.upsert({ where: { id: 4242 }, create: { email }, update: { email: secret('unused') } })
    expect(user.email).toBe(email)
    expectCiphertextOf((await storedUser(user.id)).email, email)
    expectNothingSentInClear(email)
  })

  test('upsert, update branch', async () => {
    const existing = await prisma.user.create({ data: { email: secret('upsert-old') } })
    const email = secret('upsert-update')
    const created = secret('upsert-unused')
    const user = await prisma.user.upsert({
      where: { id: existing.id },
      create: { email: created },
      update: { email, ...withTags({ push: 'pushed' }) },
    })
    expect(user).toMatchObject({ id: existing.id, email, ...withTags(['pushed']) })
    const row = await storedUser(existing.id)
    expectCiphertextOf(row.email, email)
    if (supportsScalarLists()) expectCiphertextOf(row.tags![0], 'pushed')
    expectNothingSentInClear(email, created)
  })

  test('delete returns the deleted record in plaintext', async () => {
    const email = secret('delete')
    const user = await prisma.user.create({ data: { email, ...withTags(['t']) } })
    const deleted = await prisma.user.delete({ where: { id: user.id } })
    expect(deleted).toMatchObject({ id: user.id, email, ...withTags(['t']) })
    expect(await db.sql('SELECT id FROM users')).toHaveLength(0)
  })

  test('deleteMany', async () => {
    await prisma.user.createMany({
      data: [
        { email: secret('dm-1'), name: 'x' },
        { email: secret('dm-2'), name: 'x' },
        { email: secret('dm-3'), name: 'y' },
      ],
    })
    expect((await prisma.user.deleteMany({ where: { name: 'x' } })).count).toBe(2)
    expect(await prisma.user.count()).toBe(1)
  })
})

describe('reads', () => {
  let ids: number[]
  let emails: string[]
  beforeEach(async () => {
    emails = [secret('read-1'), secret('read-2'), secret('read-3')]
    ids = []
    for (const [i, email] of emails.entries()) {
      ids.push(
        (
          await prisma.user.create({
            data: { email, phone: i === 1 ? null : `${email}-phone`, name: i < 2 ? 'pair' : 'single', ...withTags([email, 'x']) },
          })
        ).id,
      )
    }
  })

  test('findUnique and findUniqueOrThrow', async () => {
    expect(await prisma.user.findUnique({ where: { id: ids[0]! } })).toMatchObject({
      email: emails[0],
      phone: `${emails[0]}-phone`,
      ...withTags([emails[0], 'x']),
    })
    expect(await prisma.user.findUniqueOrThrow({ where: { id: ids[1]! } })).toMatchObject({ email: emails[1], phone: null })
    expect(await prisma.user.findUnique({ where: { id: -1 } })).toBeNull()
    await expect(prisma.user.findUniqueOrThrow({ where: { id: -1 } })).rejects.toMatchObject({ code: 'P2025' })
  })

  test('findFirst and findFirstOrThrow', async () => {
    expect((await prisma.user.findFirst({ where: { name: 'single' } }))?.email).toBe(emails[2])
    expect((await prisma.user.findFirstOrThrow({ where: { name: 'pair' }, orderBy: { id: 'desc' } })).email).toBe(emails[1])
    await expect(prisma.user.findFirstOrThrow({ where: { name: 'nobody' } })).rejects.toMatchObject({ code: 'P2025' })
  })

  test('findMany, with select and omit', async () => {
    const all = await prisma.user.findMany({ orderBy: { id: 'asc' } })
    expect(all.map((u) => u.email)).toEqual(emails)
    if (supportsScalarLists()) expect(all.map((u) => u.tags)).toEqual(emails.map((e) => [e, 'x']))
    const selected = await prisma.user.findMany({ select: { email: true, phone: true }, orderBy: { id: 'asc' } })
    expect(selected).toEqual(emails.map((email, i) => ({ email, phone: i === 1 ? null : `${email}-phone` })))
    const omitted = await prisma.user.findMany({ omit: { email: true }, orderBy: { id: 'asc' } })
    expect(omitted.map((u) => 'email' in u)).toEqual([false, false, false])
    expect(omitted.map((u) => u.phone)).toEqual(emails.map((e, i) => (i === 1 ? null : `${e}-phone`)))
    if (supportsScalarLists()) expect(omitted.map((u) => u.tags)).toEqual(emails.map((e) => [e, 'x']))
  })

  test('concurrent findUnique calls (which Prisma batches into one query) each get their own plaintext', async () => {
    const users = await Promise.all(ids.map((id) => prisma.user.findUnique({ where: { id } })))
    expect(users.map((u) => u?.email)).toEqual(emails)
    if (!supportsScalarLists()) return
    const withPosts = await Promise.all(ids.map((id) => prisma.user.findUnique({ where: { id }, select: { tags: true } })))
    expect(withPosts.map((u) => u?.tags)).toEqual(emails.map((e) => [e, 'x']))
  })

  manyAndReturnTest('createManyAndReturn and updateManyAndReturn with a to-one include', async () => {
    const [a, b] = [secret('inc-a'), secret('inc-b')]
    const created = await prisma.user.createManyAndReturn({ data: [{ email: a, managerId: ids[0]! }], include: { manager: true } })
    expect(created.map((u) => [u.email, u.manager?.email])).toEqual([[a, emails[0]]])
    const updated = await prisma.user.updateManyAndReturn({ where: { id: created[0]!.id }, data: { phone: b }, include: { manager: true } })
    expect(updated.map((u) => [u.phone, u.manager?.email])).toEqual([[b, emails[0]]])
  })

  test('count, aggregate and groupBy on non-encrypted fields; _count of an encrypted field', async () => {
    expect(await prisma.user.count()).toBe(3)
    expect(await prisma.user.count({ where: { name: 'pair' } })).toBe(2)
    expect(await prisma.user.count({ select: { _all: true, phone: true } })).toEqual({ _all: 3, phone: 2 })
    const agg = await prisma.user.aggregate({ _count: { _all: true, email: true }, _min: { id: true }, _max: { id: true } })
    expect(agg).toEqual({ _count: { _all: 3, email: 3 }, _min: { id: ids[0] }, _max: { id: ids[2] } })
    const groups = await prisma.user.groupBy({ by: ['name'], _count: { _all: true, phone: true }, orderBy: { name: 'asc' } })
    expect(groups).toEqual([
      { name: 'pair', _count: { _all: 2, phone: 1 } },
      { name: 'single', _count: { _all: 1, phone: 1 } },
    ])
  })
})

test('a model without encrypted fields is left alone', async () => {
  const log = await prisma.auditLog.create({ data: { message: 'stored as written' } })
  expect(await db.sql('SELECT message FROM audit_log WHERE id = $1', [log.id])).toEqual([{ message: 'stored as written' }])
  expect(await prisma.auditLog.findMany({ where: { message: { contains: 'as written' } }, orderBy: { message: 'asc' } })).toEqual([log])
})
