import 'reflect-metadata'
import {
  And,
  Column,
  DataSource,
  Entity,
  Equal,
  ILike,
  In,
  JoinColumn,
  ManyToOne,
  Not,
  OneToMany,
  PrimaryGeneratedColumn,
  Raw,
  type DataSourceOptions,
} from 'typeorm'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { ScopeChangeError, ScopeRequiredError, UnsupportedEncryptedFieldQueryError } from '../src/errors'
import { localScopeKeys } from '../src/keys/local-scope-keys'
import { encryptDataSource, typeOrmScopeKeyStore } from '../src/typeorm'
import { testLocalKeys } from './support/keys'
import { SqlCapture } from './support/typeorm-data-source'
import { privateTypeOrmDatabase } from './support/typeorm-private-database'
import { BlindIndex, Encrypted, EncryptionScope } from '../src/typeorm'
import { ENTITIES, TenantNote, User } from './support/typeorm-entities'

/** An author of row-scoped notes (the shared test entities have no relation to TenantNote). */
@Entity({ name: 'note_authors' })
class NoteAuthor {
  @PrimaryGeneratedColumn() id!: number
  @Column('varchar', { length: 64 }) name!: string
  @OneToMany(() => AuthoredNote, (note) => note.author) notes?: AuthoredNote[]
}

/** A row-scoped note with an author, for reads and filters through a relation. */
@Entity({ name: 'authored_notes' })
class AuthoredNote {
  @PrimaryGeneratedColumn() id!: number
  @EncryptionScope() @Column('varchar', { name: 'tenant_id', length: 191 }) tenantId!: string
  @Encrypted() @Column('text', { nullable: true }) email?: string | null
  @BlindIndex('email', { normalize: ['lowercase', 'trim'] }) @Column('text', { name: 'email_index', nullable: true }) emailIndex?:
    string | null
  @ManyToOne(() => NoteAuthor, (author) => author.notes, { nullable: true }) @JoinColumn({ name: 'author_id' }) author?: NoteAuthor | null
}

/**
 * Review of the TypeORM row-scoped keys (tenant_notes.tenant_id, @EncryptionScope): attacks on
 * writes, reads and filters. `test.failing` = a demonstrated bug (named with file:line); the
 * others held and stay as regression tests. better-sqlite3 by default, or DATABASE_URL's server
 * (PostgreSQL schema, or a MySQL/MariaDB database with the server's default collation).
 */
const url = process.env.DATABASE_URL
const postgres = Boolean(url && /^postgres(ql)?:/.test(url))
const mysql = Boolean(url && /^mysql:/.test(url))
const master = testLocalKeys()
const entities = [...ENTITIES, TenantNote, NoteAuthor, AuthoredNote]
let options: DataSourceOptions
let cleanup: () => Promise<void>
let plain: DataSource
let ds: DataSource
let encryptor: EnvelopeEncryptor
const capture = new SqlCapture()
const ctx = (f: 'email' | 'body') => fieldContext('TenantNote', f, 'tenant_notes', f, 'text')

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return plain.query(postgres ? query : query.replace(/\$\d+/g, '?'), params)
}

type Row = { id: number; tenant_id: string; email: string | null; body: string | null; email_index: string | null }
const row = async (id: number) => (await sql<Row>('SELECT * FROM tenant_notes WHERE id = $1', [id]))[0]!
/** Whether `stored` opens under `scope` as field `f` (a value sealed under another tenant does not). */
const opens = (stored: unknown, scope: string, f: 'email' | 'body' = 'email') =>
  encryptor.decryptMany([{ value: stored, ctx: ctx(f), scope }]).then(
    () => true,
    () => false,
  )
const repo = () => ds.getRepository(TenantNote)
const note = async (tenantId: string, email = `${tenantId}@x.io`) =>
  (await repo().save(repo().create({ tenantId, email, body: `${tenantId} body` }))).id

beforeAll(async () => {
  ;({ options, plain, cleanup } = await privateTypeOrmDatabase('rsreview', entities))
  encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store: typeOrmScopeKeyStore(plain) }) })
  ds = await encryptDataSource(await new DataSource({ ...options, synchronize: false, logger: capture }).initialize(), { encryptor })
})

afterAll(async () => {
  for (const d of [ds, plain]) if (d?.isInitialized) await d.destroy()
  await cleanup?.()
})

describe('writes', () => {
  test('save of an array mixing tenants seals each row under its own tenant', async () => {
    const saved = await repo().save([repo().create({ tenantId: 'A', email: 'm@x.io' }), repo().create({ tenantId: 'B', email: 'm@x.io' })])
    const [a, b] = [await row(saved[0]!.id), await row(saved[1]!.id)]
    expect([await opens(a.email, 'A'), await opens(a.email, 'B'), await opens(b.email, 'B'), await opens(b.email, 'A')]).toEqual([
      true,
      false,
      true,
      false,
    ])
    expect(a.email_index).not.toBe(b.email_index)
  })

  test('an entity loaded without the scope column, given an encrypted value, is refused', async () => {
    const id = await note('A')
    const loaded = (await repo().findOne({ select: { id: true }, where: { id } }))!
    loaded.email = 'changed@x.io'
    expect(await rejection(repo().save(loaded))).toBeInstanceOf(ScopeRequiredError)
    expect(await repo().findOneBy({ id })).toMatchObject({ tenantId: 'A', email: 'A@x.io' })
  })

  test('save() moving a row to another tenant is refused (plain object, or loaded without the scope); nothing written', async () => {
    const id = await note('A')
    expect(await rejection(repo().save({ id, tenantId: 'B', email: 'taken@x.io' }))).toBeInstanceOf(ScopeChangeError)
    const loaded = (await repo().findOne({ select: { id: true }, where: { id } }))!
    Object.assign(loaded, { tenantId: 'B', body: 'moved' })
    expect(await rejection(repo().save(loaded))).toBeInstanceOf(ScopeChangeError) // the stored row is A's
    expect(await repo().findOneBy({ id })).toMatchObject({ tenantId: 'A', email: 'A@x.io', body: 'A body' })
  })

  // Found in review, fixed (src/typeorm/query-hooks.ts checkUpdateScope): TypeORM's persistence UPDATE is
  // `update().set(changes).where(identifier)`, which never holds the scope equality, so every save()
  // of a loaded entity whose encrypted value changed throws ScopeRequiredError (fails closed, but the
  // README's "save a loaded entity" path is unusable).
  test('save() of a loaded entity with a changed encrypted value writes it under its tenant', async () => {
    const id = await note('A')
    const loaded = (await repo().findOneBy({ id }))!
    loaded.email = 'changed@x.io'
    await repo().save(loaded)
    expect(await repo().findOneBy({ id })).toMatchObject({ tenantId: 'A', email: 'changed@x.io' })
  })

  // Found in review, fixed (query-hooks.ts checkUpsert: refused unless the conflict target holds the scope): an INSERT ... ON
  // CONFLICT DO UPDATE / ON DUPLICATE KEY UPDATE seals its values under the inserted row's tenant and
  // writes them into the existing row, whatever its tenant. orUpdate(['email']) leaves tenant_id: A's row
  // gets a value sealed under B (and its email_index stays the old one). Not on PostgreSQL here: TypeORM
  // sends DEFAULT for a generated id there, so only a unique column (TenantNote has none) could conflict.
  ;(postgres ? test.skip : test)("insert().orUpdate(['email'], ['id']) onto a row of A does not write a value sealed under B", async () => {
    const id = await note('A')
    const write = ds
      .createQueryBuilder()
      .insert()
      .into(TenantNote)
      .values({ id, tenantId: 'B', email: 'b-sealed@x.io' })
      .orUpdate(['email'], ['id'])
      .execute()
      .catch((e: unknown) => e)
    await write
    const after = await row(id)
    expect(after.tenant_id).toBe('A')
    expect(await opens(after.email, 'A')).toBe(true)
  })

  ;(postgres ? test.skip : test)('repo.upsert({ id, tenantId: other }) does not move a row of A to B', async () => {
    const id = await note('A')
    await repo()
      .upsert({ id, tenantId: 'B', email: 'upserted@x.io' }, ['id'])
      .catch((e: unknown) => e)
    const after = await row(id)
    expect(after.tenant_id).toBe('A')
    expect(await opens(after.email, 'A')).toBe(true)
  })

  // Found in review, fixed (query-hooks.ts checkUpsert): TypeORM picks an upsert's ON CONFLICT columns
  // before beforeInsert sets the blind index, so the update branch rewrote email but not email_index.
  // A row-scoped upsert on ['id'] is now refused; an unscoped entity's overwrite gains the index column.
  ;(postgres ? test.skip : test)('repo.upsert keeps the blind index in step (a row-scoped one on [id] is refused)', async () => {
    const id = await note('A')
    expect(await rejection(repo().upsert({ id, tenantId: 'A', email: 'again@x.io' }, ['id']))).toBeInstanceOf(ScopeRequiredError)
    expect(await repo().findOneBy({ id })).toMatchObject({ tenantId: 'A', email: 'A@x.io' })
    const users = ds.getRepository(User)
    const user = await users.save(users.create({ email: 'before-upsert@x.io' }))
    await users.upsert({ id: user.id, email: 'after-upsert@x.io' }, ['id'])
    expect((await users.findBy({ email: 'after-upsert@x.io' })).map((u) => u.id)).toEqual([user.id])
    expect(await users.findBy({ email: 'before-upsert@x.io' })).toEqual([])
  })

  // Found in review, fixed (query-hooks.ts objectWhere wraps string conditions in parentheses): andWhere is taken to narrow, but TypeORM joins
  // string conditions unparenthesised (isolateWhereStatements is off by default): `tenant_id = 'A' AND
  // id = :b OR id = :b` matches B's row, which then gets tenant_id = 'A' (query-hooks.ts:117) and an
  // email sealed under A.
  test("update().where({ tenantId: 'A' }).andWhere(string with OR) does not touch B's row", async () => {
    const [a, b] = [await note('A'), await note('B')]
    await ds
      .createQueryBuilder()
      .update(TenantNote)
      .set({ email: 'a-sealed@x.io' })
      .where({ tenantId: 'A' })
      .andWhere('id = :a OR id = :b', { a: -1, b })
      .execute()
      .catch((e: unknown) => e)
    expect((await row(b)).tenant_id).toBe('B')
    expect(await repo().findOneBy({ id: b })).toMatchObject({ tenantId: 'B', email: 'B@x.io', body: 'B body' })
    expect((await row(a)).tenant_id).toBe('A')
  })

  test('update with the scope only in a string where, after orWhere, or with whereInIds is refused; nothing sent', async () => {
    const [a, b] = [await note('A'), await note('B')]
    const qb = () => ds.createQueryBuilder().update(TenantNote).set({ email: 'x@x.io' })
    capture.clear()
    for (const attempt of [
      qb().where('tenant_id = :t', { t: 'A' }),
      qb().where({ tenantId: 'A' }).orWhere({ id: b }),
      qb().where({ tenantId: 'A' }).where({ id: b }),
      qb().where({ tenantId: 'A' }).whereInIds([b]),
      qb().where({ tenantId: 'A' }).orWhereInIds([b]),
      qb().where({ tenantId: In(['A']) }),
      qb().where([{ tenantId: 'A' }, { id: b }]),
    ])
      expect(await rejection(attempt.execute())).toBeInstanceOf(ScopeRequiredError)
    expect(
      await rejection(
        qb()
          .set({ tenantId: () => "'B'", email: 'x@x.io' })
          .where({ tenantId: 'A', id: a })
          .execute(),
      ),
    ).toBeInstanceOf(ScopeChangeError)
    expect(await rejection(ds.manager.increment(TenantNote, { id: a }, 'tenantId', 1))).toBeInstanceOf(ScopeRequiredError)
    expect(capture.statements.filter((s) => /UPDATE/i.test(s.query))).toEqual([])
    await qb().where({ tenantId: 'A' }).andWhereInIds([a, b]).execute()
    expect(await repo().findOneBy({ id: a })).toMatchObject({ tenantId: 'A', email: 'x@x.io' })
    expect(await repo().findOneBy({ id: b })).toMatchObject({ tenantId: 'B', email: 'B@x.io' })
  })

  test('update().set({ email|body: () => sql }) (raw SQL as a value) is refused; nothing written', async () => {
    const a = await note('A')
    for (const set of [{ email: () => "'raw'" }, { body: () => "'raw'" }])
      expect(await rejection(ds.createQueryBuilder().update(TenantNote).set(set).where({ tenantId: 'A', id: a }).execute())).toBeTruthy()
    expect(await repo().findOneBy({ id: a })).toMatchObject({ email: 'A@x.io', body: 'A body' })
  })
})

describe('reads', () => {
  test('raw rows (getRawMany, stream, query) hold ciphertext; entities decrypt with their own row scope', async () => {
    const [a, b] = [await note('A', 'ra@x.io'), await note('B', 'rb@x.io')]
    const raw = await repo()
      .createQueryBuilder('n')
      .where('n.id IN (:...ids)', { ids: [a, b] })
      .orderBy('n.id')
      .getRawMany()
    for (const r of raw) expect(String(r.n_email)).toMatch(/^\$kfe\$/)
    const { entities: ents } = await repo().createQueryBuilder('n').whereInIds([a, b]).orderBy('n.id').getRawAndEntities()
    expect(ents.map((e) => e.email)).toEqual(['ra@x.io', 'rb@x.io'])
    if (mysql) {
      const streamed: Array<Record<string, unknown>> = []
      for await (const r of (await repo().createQueryBuilder('n').whereInIds([a]).stream()) as AsyncIterable<Record<string, unknown>>)
        streamed.push(r)
      expect(String(streamed[0]!.n_email)).toMatch(/^\$kfe\$/)
    }
    const [count, total] = await repo().findAndCount({ select: { id: true, email: true }, where: { id: In([a, b]) }, order: { id: 'ASC' } })
    expect([count.map((n) => [n.tenantId, n.email]), total]).toEqual([
      [
        ['A', 'ra@x.io'],
        ['B', 'rb@x.io'],
      ],
      2,
    ])
  })

  test('relations: joins and separate relation queries decrypt each note under its own tenant', async () => {
    const users = ds.getRepository(NoteAuthor)
    const notes = ds.getRepository(AuthoredNote)
    const owner = await users.save(users.create({ name: 'rel' }))
    await notes.save([
      notes.create({ tenantId: 'A', email: 'ja@x.io', author: owner }),
      notes.create({ tenantId: 'B', email: 'jb@x.io', author: owner }),
    ])
    const expected = [
      ['A', 'ja@x.io'],
      ['B', 'jb@x.io'],
    ]
    const pairs = (u: NoteAuthor | null | undefined) => (u?.notes ?? []).map((n) => [n.tenantId, n.email]).sort()
    const select = { id: true, notes: { id: true, email: true } }
    for (const relationLoadStrategy of ['join', 'query'] as const)
      expect(pairs(await users.findOne({ select, relations: { notes: true }, where: { id: owner.id }, relationLoadStrategy }))).toEqual(
        expected,
      )
    const joined = await users.createQueryBuilder('u').leftJoinAndSelect('u.notes', 'n').where('u.id = :id', { id: owner.id }).getOne()
    expect(pairs(joined)).toEqual(expected)
    const related = await ds.createQueryBuilder().relation(NoteAuthor, 'notes').of(owner.id).loadMany<AuthoredNote>()
    expect(related.map((n) => [n.tenantId, n.email]).sort()).toEqual(expected)
    expect(
      await rejection(
        users.createQueryBuilder('u').leftJoin('u.notes', 'n').addSelect(['n.id', 'n.email']).where({ id: owner.id }).getOne(),
      ),
    ).toBeInstanceOf(ScopeRequiredError)
  })

  test('select in array form (0.3) without the scope column is refused or gets it, never a wrong-scope read', async () => {
    const a = await note('A', 'arr@x.io')
    const got = await repo()
      .find({ select: ['id', 'email'] as never, where: { id: a } })
      .catch((e: unknown) => e)
    if (Array.isArray(got)) expect(got).toEqual([expect.objectContaining({ email: 'arr@x.io' })])
    else expect(got).toBeInstanceOf(Error) // ScopeRequiredError on 0.3 lines without it; 1.x has no array form
  })
})

describe('filters', () => {
  test('email through a relation needs the scope in the nested object; OR arrays need it per object', async () => {
    const users = ds.getRepository(NoteAuthor)
    const notes = ds.getRepository(AuthoredNote)
    const owner = await users.save(users.create({ name: 'f' }))
    await notes.save([
      notes.create({ tenantId: 'A', email: 'f@x.io', author: owner }),
      notes.create({ tenantId: 'B', email: 'f@x.io', author: owner }),
    ])
    const found = await users.find({
      where: { id: owner.id, notes: { tenantId: 'B', email: 'F@x.io' } },
      relations: { notes: true },
    })
    expect(found[0]!.notes!.map((n) => n.tenantId)).toEqual(['B'])
    capture.clear()
    for (const where of [{ notes: { email: 'f@x.io' } }, { notes: [{ tenantId: 'A', email: 'f@x.io' }, { email: 'f@x.io' }] }])
      expect(await rejection(users.find({ where: { id: owner.id, ...where } as never }))).toBeInstanceOf(ScopeRequiredError)
    const byAuthor = await notes.find({ where: { tenantId: 'A', email: 'f@x.io', author: { id: owner.id } } })
    expect(byAuthor.map((n) => n.tenantId)).toEqual(['A'])
    expect(capture.statements.filter((s) => /authored_notes/.test(s.query)).length).toBe(1)
  })

  test('a scope that is not one plain equality (In, Not, And, Raw) is refused; Not/In on email stay in the tenant', async () => {
    const a = await note('A', 'op@x.io')
    await note('B', 'op@x.io')
    for (const tenantId of [In(['A']), Not('A'), And(Equal('A')), Raw((t) => `${t} = 'A'`)])
      expect(await rejection(repo().findBy({ tenantId, email: 'op@x.io' } as never))).toBeInstanceOf(ScopeRequiredError)
    for (const email of [ILike('op@x.io'), Raw((e) => `${e} = 'x'`)])
      expect(await rejection(repo().findBy({ tenantId: 'A', email } as never))).toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
    expect((await repo().findBy({ tenantId: Equal('A'), email: In(['op@x.io', 'no@x.io']) })).map((n) => n.id)).toEqual([a])
    const [other, otherB] = [await note('A', 'other@x.io'), await note('B', 'other@x.io')]
    const notOp = await repo().findBy({ tenantId: 'A', email: Not('op@x.io'), id: In([a, other, otherB]) })
    expect(notOp.map((n) => n.id)).toEqual([other])
  })
})

describe('keys and collations', () => {
  // Known limit (README "Limits"; typeorm-scope-key-store.ts, `dataSource.query`): on a one-connection driver
  // (sql.js, better-sqlite3) the new tenant's key row is written inside the caller's transaction; a
  // rollback removes it while the encryptor keeps the key in memory, and later writes of that tenant
  // are sealed under a key no other process (nor a restart) can find.
  ;(postgres ? test.skip : test.failing)(
    'a rolled-back first write of a tenant does not leave its later values unreadable (sql.js, shared DataSource)',
    async () => {
      const s = await new DataSource({ type: 'sqljs', entities, synchronize: true }).initialize()
      try {
        await s.query(`CREATE TABLE kfe_scope_keys (scope TEXT NOT NULL PRIMARY KEY, provider_id TEXT NOT NULL, wrapped_key TEXT,
        shredded_at DATETIME, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`)
        const scopeKeys = () => localScopeKeys({ master, store: typeOrmScopeKeyStore(s) })
        await encryptDataSource(s, { encryptor: new EnvelopeEncryptor({ keys: master, scopeKeys: scopeKeys() }) })
        const r = s.getRepository(TenantNote)
        await rejection(
          s.transaction(async (m) => {
            await m.save(m.create(TenantNote, { tenantId: 'C', email: 'first@x.io' }))
            throw new Error('rolled back')
          }),
        )
        const id = (await r.save(r.create({ tenantId: 'C', email: 'second@x.io' }))).id
        const [stored] = await s.query('SELECT email FROM tenant_notes WHERE id = ?', [id])
        const fresh = new EnvelopeEncryptor({ keys: master, scopeKeys: scopeKeys() }) // another process, or after a restart
        expect(await fresh.decryptMany([{ value: stored.email, ctx: ctx('email'), scope: 'C' }])).toEqual(['second@x.io'])
      } finally {
        await s.destroy()
      }
    },
  )

  // Known limit (README: a binary collation for the scope column) (src/typeorm/query-hooks.ts, on MySQL/MariaDB's default case-insensitive collation):
  // `{ tenantId: 'ci' }` matches tenant 'CI''s rows; the update seals its values under 'ci' and sets
  // tenant_id = 'ci': CI's row moves to tenant ci (the migration compares byte for byte, updates do not).
  ;(mysql ? test.failing : test.skip)("update({ id, tenantId: 'ci' }) does not move or reseal a row of tenant 'CI'", async () => {
    const id = await note('CI')
    await repo()
      .update({ id, tenantId: 'ci' }, { email: 'ci-sealed@x.io' })
      .catch((e: unknown) => e)
    const after = await row(id)
    expect(after.tenant_id).toBe('CI')
    expect(await opens(after.email, 'CI')).toBe(true)
  })
})
