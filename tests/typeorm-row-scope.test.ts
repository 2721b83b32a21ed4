import 'reflect-metadata'
import { Column, DataSource, Entity, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import {
  ConfigurationError,
  DecryptionFailedError,
  SchemaAnnotationError,
  ScopeChangeError,
  ScopeKeyShreddedError,
  ScopeRequiredError,
} from '../src/errors'
import { localScopeKeys, type LocalScopeKeys } from '../src/keys/local-scope-keys'
import { Encrypted, EncryptionScope, blindIndexValues, encryptDataSource, encryptionModelOf, typeOrmScopeKeyStore } from '../src/typeorm'
import { testLocalKeys } from './support/keys'
import { SqlCapture } from './support/typeorm-data-source'
import { privateTypeOrmDatabase } from './support/typeorm-private-database'
import { ENTITIES, TenantNote } from './support/typeorm-entities'

/**
 * Row-scoped keys through TypeORM (issue 13): `tenant_notes.tenant_id` (@EncryptionScope) is the
 * scope of every encrypted value and blind index of its row, on one shared table and one
 * DataSource. The key table `kfe_scope_keys` lives in the same database (`typeOrmScopeKeyStore`).
 * A better-sqlite3 file by default, a private schema (PostgreSQL) or database (MySQL) on the
 * server named by DATABASE_URL. Runs on TypeORM 1.x and 0.3 (two Jest projects).
 */
const url = process.env.DATABASE_URL
const postgres = Boolean(url && /^postgres(ql)?:/.test(url))
const master = testLocalKeys()
const entities = [...ENTITIES, TenantNote]
let options: DataSourceOptions
let cleanup: () => Promise<void>
let plain: DataSource
let ds: DataSource
let scopeKeys: LocalScopeKeys
let encryptor: EnvelopeEncryptor
const capture = new SqlCapture()
const emailCtx = fieldContext('TenantNote', 'email', 'tenant_notes', 'email', 'text')

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

const count = async () => Number((await sql<{ n: unknown }>('SELECT COUNT(*) AS n FROM tenant_notes'))[0]!.n)

beforeAll(async () => {
  ;({ options, plain, cleanup } = await privateTypeOrmDatabase('rowscope', entities, 'utf8mb4_bin'))
  scopeKeys = localScopeKeys({ master, store: typeOrmScopeKeyStore(plain) })
  encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
  ds = await encryptDataSource(await new DataSource({ ...options, synchronize: false, logger: capture }).initialize(), { encryptor })
})

afterAll(async () => {
  for (const d of [ds, plain]) if (d?.isInitialized) await d.destroy()
  await cleanup?.()
})

describe('configuration', () => {
  test('the model names the scope column; a DataSource scope or missing scopeKeys is refused', async () => {
    const other = async () => new DataSource({ ...options, synchronize: false }).initialize()
    const a = await other()
    const b = await other()
    try {
      expect(encryptionModelOf(a).models.TenantNote!.scopeField).toEqual({ name: 'tenantId', column: 'tenant_id' })
      expect(await rejection(encryptDataSource(a, { encryptor, scope: 'A' }))).toBeInstanceOf(ConfigurationError)
      expect(await rejection(encryptDataSource(b, { keys: master }))).toBeInstanceOf(ConfigurationError)
    } finally {
      await a.destroy()
      await b.destroy()
    }
  })

  test('a nullable, encrypted or second scope column is refused with SchemaAnnotationError', async () => {
    @Entity({ name: 'bad_nullable' })
    class BadNullable {
      @PrimaryGeneratedColumn() id!: number
      @EncryptionScope() @Column('varchar', { length: 64, nullable: true }) tenant?: string | null
      @Encrypted() @Column('text') body!: string
    }
    @Entity({ name: 'bad_encrypted' })
    class BadEncrypted {
      @PrimaryGeneratedColumn() id!: number
      @EncryptionScope() @Encrypted() @Column('text') tenant!: string
    }
    @Entity({ name: 'bad_two' })
    class BadTwo {
      @PrimaryGeneratedColumn() id!: number
      @EncryptionScope() @Column('varchar', { length: 64 }) a!: string
      @EncryptionScope() @Column('varchar', { length: 64 }) b!: string
    }
    for (const target of [BadNullable, BadEncrypted, BadTwo]) {
      const d = await new DataSource({ type: 'sqljs', entities: [target] }).initialize()
      try {
        expect(() => encryptionModelOf(d)).toThrow(SchemaAnnotationError)
      } finally {
        await d.destroy()
      }
    }
  })
})

describe('two tenants in tenant_notes', () => {
  let noteA: number
  let noteB: number

  test('save and find per tenant: same email, different blind indexes; a filter needs the tenant', async () => {
    const repo = ds.getRepository(TenantNote)
    noteA = (await repo.save(repo.create({ tenantId: 'A', email: 'alice@x.io', body: 'A body' }))).id
    noteB = (await repo.save(repo.create({ tenantId: 'B', email: 'Alice@x.io', body: 'B body' }))).id
    const rows = await sql<{ email: string; email_index: string; body: string }>(
      'SELECT email, email_index, body FROM tenant_notes WHERE id IN ($1, $2) ORDER BY id',
      [noteA, noteB],
    )
    expect(rows[0]!.email_index).not.toBe(rows[1]!.email_index)
    for (const r of rows) expect(r.email).toMatch(/^\$kfe\$/)
    expect(blindIndexValues(ds, TenantNote, 'email', 'ALICE@x.io', 'A')).toEqual([rows[0]!.email_index])
    expect(() => blindIndexValues(ds, TenantNote, 'email', 'alice@x.io')).toThrow(/needs the row scope/)

    expect((await repo.findBy({ tenantId: 'A', email: 'alice@x.io' })).map((n) => n.id)).toEqual([noteA])
    expect((await repo.findBy({ tenantId: 'B', email: ' ALICE@x.io' })).map((n) => n.id)).toEqual([noteB])
    expect(await repo.findOneBy({ id: noteA })).toMatchObject({ tenantId: 'A', email: 'alice@x.io', body: 'A body' })
    const either = await repo.find({
      where: [
        { tenantId: 'A', email: 'alice@x.io' },
        { tenantId: 'B', email: 'alice@x.io' },
      ],
      order: { id: 'ASC' },
    })
    expect(either.map((n) => n.id)).toEqual([noteA, noteB])

    capture.clear()
    const err = await rejection(repo.findBy({ email: 'alice@x.io' }))
    expect(err).toBeInstanceOf(ScopeRequiredError)
    expect(err).toMatchObject({ code: 'KFE_SCOPE_REQUIRED', model: 'TenantNote', field: 'email' })
    expect(await rejection(repo.find({ where: [{ tenantId: 'A', email: 'alice@x.io' }, { email: 'alice@x.io' }] }))).toBeInstanceOf(
      ScopeRequiredError,
    )
    expect(capture.statements.filter((s) => /tenant_notes/.test(s.query))).toEqual([])
  })

  test("A's ciphertext copied into B's row fails to decrypt", async () => {
    const [row] = await sql<{ email: string }>('SELECT email FROM tenant_notes WHERE id = $1', [noteA])
    const [rowB] = await sql<{ email: string }>('SELECT email FROM tenant_notes WHERE id = $1', [noteB])
    await sql('UPDATE tenant_notes SET email = $1 WHERE id = $2', [row!.email, noteB])
    const err = await rejection(ds.getRepository(TenantNote).findOneBy({ id: noteB }))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect(String((err as Error).message)).not.toContain('alice')
    await sql('UPDATE tenant_notes SET email = $1 WHERE id = $2', [rowB!.email, noteB])
  })

  test('a write without the scope is refused, nothing written; a scope change is refused', async () => {
    const repo = ds.getRepository(TenantNote)
    const before = await count()
    const err = await rejection(repo.save(repo.create({ email: 'no-tenant@x.io' })))
    expect(err).toBeInstanceOf(ScopeRequiredError)
    expect(err).toMatchObject({ model: 'TenantNote', field: 'email' })
    expect(await rejection(repo.insert({ tenantId: '', body: 'x' }))).toBeInstanceOf(ScopeRequiredError)
    // Not a scope even without an encrypted value: 'A ' matches tenant_id = 'A' under PAD SPACE collations.
    expect(await rejection(repo.insert({ tenantId: 'A ' }))).toBeInstanceOf(ScopeRequiredError)
    expect(await rejection(repo.save(repo.create({ tenantId: 'B ' })))).toBeInstanceOf(ScopeRequiredError)
    expect(await count()).toBe(before)

    const loaded = (await repo.findOneBy({ id: noteA }))!
    loaded.tenantId = 'B'
    loaded.body = 'moved'
    const change = await rejection(repo.save(loaded))
    expect(change).toBeInstanceOf(ScopeChangeError)
    expect(change).toMatchObject({ code: 'KFE_SCOPE_CHANGE', model: 'TenantNote', field: 'tenantId' })
    expect((await sql<{ tenant_id: string }>('SELECT tenant_id FROM tenant_notes WHERE id = $1', [noteA]))[0]!.tenant_id).toBe('A')
    expect(await repo.findOneBy({ id: noteA })).toMatchObject({ tenantId: 'A', body: 'A body' })

    // Repository / QueryBuilder update: the where object must hold the scope; the values are encrypted under it.
    capture.clear()
    expect(await rejection(repo.update({ id: noteA }, { email: 'new@x.io' }))).toBeInstanceOf(ScopeRequiredError)
    expect(await rejection(repo.update({ id: noteA }, { tenantId: 'A', email: 'new@x.io' }))).toBeInstanceOf(ScopeRequiredError)
    expect(
      await rejection(
        ds.createQueryBuilder().update(TenantNote).set({ email: 'new@x.io' }).where({ id: noteA }).orWhere({ tenantId: 'A' }).execute(),
      ),
    ).toBeInstanceOf(ScopeRequiredError)
    expect(await rejection(repo.update({ id: noteA, tenantId: 'A' }, { tenantId: 'B', email: 'new@x.io' }))).toBeInstanceOf(
      ScopeChangeError,
    )
    expect(capture.statements.filter((s) => /UPDATE/i.test(s.query))).toEqual([])
    await ds.createQueryBuilder().update(TenantNote).set({ email: 'moved@x.io' }).where({ id: noteA }).andWhere({ tenantId: 'A' }).execute()
    expect(await repo.findOneBy({ id: noteA })).toMatchObject({ tenantId: 'A', email: 'moved@x.io' })
    await repo.update({ id: noteA, tenantId: 'A' }, { email: 'alice@x.io' })
    expect(await repo.findOneBy({ id: noteA })).toMatchObject({ email: 'alice@x.io' })
    expect((await repo.findBy({ tenantId: 'A', email: 'alice@x.io' })).map((n) => n.id)).toEqual([noteA])
  })

  test('a find whose select leaves the scope column out gets it added; a query builder without it is refused', async () => {
    const repo = ds.getRepository(TenantNote)
    expect(await repo.find({ select: { id: true, email: true }, where: { id: noteA } })).toEqual([
      expect.objectContaining({ id: noteA, tenantId: 'A', email: 'alice@x.io' }),
    ])
    // Only ids: nothing encrypted is read, nothing is added.
    expect(await repo.find({ select: { id: true }, where: { id: noteA } })).toEqual([{ id: noteA }])
    expect(
      await rejection(repo.createQueryBuilder('n').select(['n.id', 'n.body']).where('n.id = :id', { id: noteA }).getMany()),
    ).toBeInstanceOf(ScopeRequiredError)
    const withScope = await repo.find({ select: { id: true, tenantId: true, email: true }, where: { id: noteA } })
    expect(withScope).toEqual([expect.objectContaining({ id: noteA, email: 'alice@x.io' })])
  })

  test("the core reads TypeORM's value with the row's scope, and TypeORM reads the core's", async () => {
    const [row] = await sql<{ email: string }>('SELECT email FROM tenant_notes WHERE id = $1', [noteB])
    expect(await encryptor.decryptMany([{ value: row!.email, ctx: emailCtx, scope: 'B' }])).toEqual(['Alice@x.io'])
    expect(await rejection(encryptor.decryptMany([{ value: row!.email, ctx: emailCtx, scope: 'A' }]))).toBeInstanceOf(DecryptionFailedError)
    const [byCore] = await encryptor.encryptMany([{ value: 'core@x.io', ctx: emailCtx, scope: 'B' }])
    const index = blindIndexValues(ds, TenantNote, 'email', 'core@x.io', 'B')[0]
    const [{ id }] = await ds
      .createQueryBuilder()
      .insert()
      .into('tenant_notes')
      .values({ tenantId: 'B' })
      .execute()
      .then((r) => r.identifiers as [{ id: number }])
    await sql('UPDATE tenant_notes SET email = $1, email_index = $2 WHERE id = $3', [byCore, index, id])
    const repo = ds.getRepository(TenantNote)
    expect(await repo.findOneBy({ id })).toMatchObject({ tenantId: 'B', email: 'core@x.io' })
    expect((await repo.findBy({ tenantId: 'B', email: 'core@x.io' })).map((n) => n.id)).toEqual([id])
  })

  test('shred A: its rows throw ScopeKeyShreddedError naming model and field, B intact', async () => {
    await scopeKeys.shred('A')
    encryptor.forgetScope('A')
    const repo = ds.getRepository(TenantNote)
    const err = await rejection(repo.findOneBy({ id: noteA }))
    expect(err).toBeInstanceOf(ScopeKeyShreddedError)
    expect(err).toMatchObject({ model: 'TenantNote', field: expect.stringMatching(/^(email|body)$/), scope: 'A' })
    expect(await repo.findOneBy({ id: noteB })).toMatchObject({ tenantId: 'B', email: 'Alice@x.io', body: 'B body' })
  })
})
