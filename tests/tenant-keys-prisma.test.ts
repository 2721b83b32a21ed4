/**
 * Per-tenant keys through Prisma: two clients scoped to tenants A and B on one table, one
 * encryptor with `localScopeKeys` over the key table `kfe_scope_keys` (prismaScopeKeyStore).
 */
import { encryptionModel } from './support/test-encryption-model'
import {
  DecryptionFailedError,
  EnvelopeEncryptor,
  ScopeKeyShreddedError,
  ConfigurationError,
  fieldContext,
  fieldEncryption,
  localScopeKeys,
  prismaScopeKeyStore,
  type LocalScopeKeys,
  type ScopeKeyStoreDialect,
} from '../src'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { scopeKeyDialectOf } from './support/test-database-kind'

let db: TestDatabase
let encryptor: EnvelopeEncryptor
let scopeKeys: LocalScopeKeys
let dialect: ScopeKeyStoreDialect
let schema: string | undefined // a private schema on a PostgreSQL server
const master = testLocalKeys()
const tenant = (scope: string) => db.prisma.$extends(fieldEncryption({ model: encryptionModel, encryptor, scope }))
let a: ReturnType<typeof tenant>
let b: ReturnType<typeof tenant>

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

beforeAll(async () => {
  db = await createTestDatabase()
  dialect = scopeKeyDialectOf(db.kind)
  schema = db.kind === 'postgres' ? db.schema : undefined
  scopeKeys = localScopeKeys({ master, store: prismaScopeKeyStore(db.prisma, { dialect, schema }) })
  encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
  a = tenant('A')
  b = tenant('B')
})

afterAll(async () => {
  await db.close()
})

describe('two tenants on one table', () => {
  let aliceA: number
  let aliceB: number

  it('the same email in both tenants: two rows, unrelated blind indexes, lookups find each tenant’s own row', async () => {
    aliceA = (await a.user.create({ data: { email: 'alice@x.io', posts: { create: [{ title: 't', body: 'A body' }] } } })).id
    aliceB = (await b.user.create({ data: { email: 'Alice@x.io', posts: { create: [{ title: 't', body: 'B body' }] } } })).id
    const rows = await db.sql<{ id: number; email: string; email_index: string }>(
      'SELECT id, email, email_index FROM users WHERE id IN ($1, $2) ORDER BY id',
      [aliceA, aliceB],
    )
    expect(rows[0]!.email_index).not.toBe(rows[1]!.email_index)
    expect(rows.every((r) => !r.email.includes('alice'))).toBe(true)
    expect((await a.user.findMany({ where: { email: 'ALICE@x.io' } })).map((u) => u.id)).toEqual([aliceA])
    expect((await b.user.findMany({ where: { email: 'alice@x.io' } })).map((u) => u.id)).toEqual([aliceB])
    expect(await a.user.findUnique({ where: { id: aliceA }, include: { posts: true } })).toMatchObject({
      email: 'alice@x.io',
      posts: [{ body: 'A body' }],
    })
    // The key table has one live row per tenant.
    const keys = await db.sql<{ scope: string; wrapped_key: string | null }>('SELECT scope, wrapped_key FROM kfe_scope_keys ORDER BY scope')
    expect(keys.map((k) => k.scope)).toEqual(['A', 'B'])
    expect(keys.every((k) => typeof k.wrapped_key === 'string' && k.wrapped_key.length > 0)).toBe(true)
  })

  it('a row written by A and read by B fails with a typed error, never plaintext', async () => {
    const err = await rejection(b.user.findUnique({ where: { id: aliceA } }))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect(err).toMatchObject({ model: 'User', field: 'email' })
    // A's ciphertext copied into B's row fails too.
    const [row] = await db.sql<{ email: string }>('SELECT email FROM users WHERE id = $1', [aliceA])
    await db.sql('UPDATE users SET email = $1 WHERE id = $2', [row!.email, aliceB])
    expect(await rejection(b.user.findUnique({ where: { id: aliceB } }))).toBeInstanceOf(DecryptionFailedError)
    await b.user.update({ where: { id: aliceB }, data: { email: 'alice@x.io' } })
    expect((await b.user.findUnique({ where: { id: aliceB } }))!.email).toBe('alice@x.io')
  })

  it('shred A: A’s reads throw ScopeKeyShreddedError naming model and field, writes for A are refused, B reads fine', async () => {
    await scopeKeys.shred('A')
    encryptor.forgetScope('A')
    const err = await rejection(a.user.findUnique({ where: { id: aliceA } }))
    expect(err).toBeInstanceOf(ScopeKeyShreddedError)
    expect(err).toMatchObject({ code: 'KFE_SCOPE_KEY_SHREDDED', model: 'User', field: 'email', scope: 'A' })
    const before = await db.prisma.user.count()
    expect(await rejection(a.user.create({ data: { email: 'again@x.io' } }))).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await db.prisma.user.count()).toBe(before)
    expect(await b.user.findUnique({ where: { id: aliceB }, include: { posts: true } })).toMatchObject({
      email: 'alice@x.io',
      posts: [{ body: 'B body' }],
    })
    const [tomb] = await db.sql<{ wrapped_key: string | null; shredded_at: unknown }>(
      'SELECT wrapped_key, shredded_at FROM kfe_scope_keys WHERE scope = $1',
      ['A'],
    )
    expect(tomb!.wrapped_key).toBeNull()
    expect(tomb!.shredded_at).not.toBeNull()
    // Another process (fresh encryptor, same key table): still shredded.
    const other = new EnvelopeEncryptor({
      keys: master,
      scopeKeys: localScopeKeys({
        master,
        store: prismaScopeKeyStore(db.prisma, { dialect, schema }),
      }),
    })
    const otherA = db.prisma.$extends(fieldEncryption({ model: encryptionModel, encryptor: other, scope: 'A' }))
    expect(await rejection(otherA.user.findUnique({ where: { id: aliceA } }))).toBeInstanceOf(ScopeKeyShreddedError)
  })

  it('a scoped client needs scopeKeys, and a well-formed scope', () => {
    expect(() => fieldEncryption({ model: encryptionModel, keys: testLocalKeys(), scope: 'A' })).toThrow(ConfigurationError)
    expect(() => fieldEncryption({ model: encryptionModel, encryptor, scope: '' })).toThrow(ConfigurationError)
  })
})

describe('the key table', () => {
  it('putIfAbsent inserts once; delete of a scope never seen leaves a tombstone', async () => {
    const store = prismaScopeKeyStore(db.prisma, { dialect, schema })
    expect(await store.putIfAbsent('K', { providerId: 'local', wrappedKey: Buffer.from([1, 2, 3]) })).toBe(true)
    expect(await store.putIfAbsent('K', { providerId: 'local', wrappedKey: Buffer.from([9]) })).toBe(false)
    expect(await store.get('K')).toMatchObject({ providerId: 'local', wrappedKey: Buffer.from([1, 2, 3]), shreddedAt: null })
    expect(await store.get('nobody')).toBeUndefined()
    await store.delete('ghost')
    await store.delete('ghost') // idempotent
    const ghost = await store.get('ghost')
    expect(ghost?.wrappedKey).toBeNull()
    expect(ghost?.shreddedAt).toBeInstanceOf(Date)
    expect(await store.putIfAbsent('ghost', { providerId: 'local', wrappedKey: Buffer.from([4]) })).toBe(false)
  })

  it('two processes creating one tenant at once agree on its key', async () => {
    const one = new EnvelopeEncryptor({
      keys: master,
      scopeKeys: localScopeKeys({ master, store: prismaScopeKeyStore(db.prisma, { dialect, schema }) }),
    })
    const two = new EnvelopeEncryptor({
      keys: master,
      scopeKeys: localScopeKeys({ master, store: prismaScopeKeyStore(db.prisma, { dialect, schema }) }),
    })
    const ctx = fieldContext('User', 'email', 'users', 'email')
    const [x, y] = await Promise.all([one.encrypt('x', ctx, 'C'), two.encrypt('y', ctx, 'C')])
    expect(await two.decrypt(x, ctx, 'C')).toBe('x')
    expect(await one.decrypt(y, ctx, 'C')).toBe('y')
    expect(await db.sql('SELECT scope FROM kfe_scope_keys WHERE scope = $1', ['C'])).toHaveLength(1)
  })
})
