/**
 * A data key that cannot be unwrapped costs one KMS call per distinct key, not one per value:
 * in a batch (`decryptMany`, `decryptManySettled`), across batches and queries for a short while
 * (the negative cache, `cache.failedKeyTtlMs`), and in `status` over thousands of rows. Counted on
 * the KMS test server. The "missing key": values wrapped under a KMS key the reader does not have.
 */
import { randomBytes } from 'node:crypto'
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { encryptionModel, withoutRowScopedModels } from './support/test-encryption-model'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor, type EncryptorOptions } from '../src/engine/envelope-encryptor'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { encryptColumns, encryptionStatus } from '../src/migration/run-migration'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { seedPlaintext } from './support/migration-seed'

const server = new KmsTestServer()
let endpoint: string
let client: KMSClient
let keyA: string
let keyB: string
const ctx = fieldContext('User', 'email', 'users', 'email')

beforeAll(async () => {
  ;({ endpoint } = await server.start())
  client = kmsClientFor(endpoint)
  keyA = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  keyB = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
})
afterAll(async () => {
  client.destroy()
  await server.stop()
})
beforeEach(() => server.resetCounts())

const kms = (keyId: string) => new AwsKmsKeyProvider({ keyId, client })
const encryptor = (keyId: string, options: Partial<EncryptorOptions> = {}) => new EnvelopeEncryptor({ keys: kms(keyId), ...options })

/** `n` values under one data key of `keyId`. */
async function valuesUnder(keyId: string, n: number): Promise<string[]> {
  const out = await encryptor(keyId).encryptMany(Array.from({ length: n }, (_, i) => ({ value: `user${i}@example.com`, ctx })))
  return out as string[]
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  )

describe('the encryptor', () => {
  it('decryptManySettled: 4,000 values, half under a key the reader lacks, cost two Decrypts; the good half reads', async () => {
    const good = await valuesUnder(keyB, 2_000)
    const bad = await valuesUnder(keyA, 2_000)
    const mixed = good.flatMap((g, i) => [g, bad[i]!])
    server.resetCounts()
    const results = await encryptor(keyB).decryptManySettled(mixed.map((value) => ({ value, ctx })))
    expect(results.filter((r) => r.ok)).toHaveLength(2_000)
    expect(results.filter((r) => !r.ok).map((r) => (r as { error: { code: string } }).error.code)).toEqual(
      new Array(2_000).fill('KFE_KEY_WRONG_KEY'),
    )
    expect(results[0]).toEqual({ ok: true, value: 'user0@example.com' })
    expect(server.calls.Decrypt).toBe(2) // one per distinct data key
  })

  it('the negative cache: a failed unwrap is not retried by the next queries until failedKeyTtlMs has passed', async () => {
    const bad = await valuesUnder(keyA, 10)
    const reader = encryptor(keyB, { cache: { failedKeyTtlMs: 300 } })
    server.resetCounts()
    expect((await rejection(reader.decryptMany(bad.map((value) => ({ value, ctx })))))?.code).toBe('KFE_KEY_WRONG_KEY')
    expect(server.calls.Decrypt).toBe(1)
    // 50 more queries at once and one by one, inside the window: no KMS call
    const errors = await Promise.all(Array.from({ length: 50 }, () => rejection(reader.decrypt(bad[0], ctx))))
    expect(errors.every((e) => e?.code === 'KFE_KEY_WRONG_KEY')).toBe(true)
    for (const value of bad) expect((await rejection(reader.decrypt(value, ctx)))?.code).toBe('KFE_KEY_WRONG_KEY')
    expect(server.calls.Decrypt).toBe(1)
    expect(reader.stats().cache.failedKeyHits).toBe(60)
    await new Promise((r) => setTimeout(r, 350))
    await rejection(reader.decrypt(bad[0], ctx))
    expect(server.calls.Decrypt).toBe(2) // tried again once the window has passed
    // clearCache forgets failures too
    reader.clearCache()
    await rejection(reader.decrypt(bad[0], ctx))
    expect(server.calls.Decrypt).toBe(3)
  })

  it('an outage: 100 reads in the window after a failed unwrap make no further call; the default window is a few seconds', async () => {
    const values = await valuesUnder(keyB, 1)
    const once = kmsClientFor(endpoint, { maxAttempts: 1 })
    const reader = new EnvelopeEncryptor({ keys: new AwsKmsKeyProvider({ keyId: keyB, client: once }) })
    server.resetCounts()
    server.failNext(1, 'KMSInternalException')
    expect((await rejection(reader.decrypt(values[0], ctx)))?.code).toBe('KFE_KEY_UNAVAILABLE')
    for (let i = 0; i < 100; i++) expect((await rejection(reader.decrypt(values[0], ctx)))?.code).toBe('KFE_KEY_UNAVAILABLE')
    expect(server.calls.Decrypt).toBe(1)
    once.destroy()
  })

  it('a failure kept by the negative cache names the field of each value that needs the key', async () => {
    const writer = encryptor(keyA)
    const phoneCtx = fieldContext('User', 'phone', 'users', 'phone')
    const [mail, phone] = await writer.encryptMany([
      { value: 'a@example.com', ctx },
      { value: '+1 555', ctx: phoneCtx },
    ])
    const reader = encryptor(keyB)
    server.resetCounts()
    const first = (await rejection(reader.decrypt(mail, ctx))) as Error & { field?: string }
    const second = (await rejection(reader.decrypt(phone, phoneCtx))) as Error & { field?: string; code?: string }
    expect(server.calls.Decrypt).toBe(1)
    expect(first).toMatchObject({ code: 'KFE_KEY_WRONG_KEY', field: 'email' })
    expect(second).toMatchObject({ code: 'KFE_KEY_WRONG_KEY', model: 'User', field: 'phone' })
    expect(second.message).toMatch(/^User\.phone: /)
    expect(second.message).not.toContain('User.email')
    expect(second).toBeInstanceOf(first.constructor)
  })

  it('cache: false keeps no failure, but a batch still unwraps each distinct key once', async () => {
    const bad = await valuesUnder(keyA, 500)
    const reader = encryptor(keyB, { cache: false })
    server.resetCounts()
    await rejection(reader.decryptMany(bad.map((value) => ({ value, ctx }))))
    expect(server.calls.Decrypt).toBe(1)
    await rejection(reader.decryptMany(bad.map((value) => ({ value, ctx }))))
    expect(server.calls.Decrypt).toBe(2)
  })
})

describe('status over thousands of rows', () => {
  let db: MigrationTestDatabase
  beforeAll(async () => {
    db = await createMigrationDatabase()
  })
  afterAll(async () => {
    await db.close()
  })

  it('values under a KMS key status is not given: one ReEncrypt and one Decrypt per data key, every row reported unreadable', async () => {
    await emptyTables(db)
    await seedPlaintext(db, { users: 2_000, posts: 10, commentsPerPost: 1, categories: 2, contactsPerUser: 1 })
    const blindIndex = { rootKey: randomBytes(32) }
    await encryptColumns({ model: withoutRowScopedModels(encryptionModel), keys: kms(keyA), database: db.database, blindIndex })
    const generated = server.calls.GenerateDataKey
    expect(generated).toBe(1)
    server.resetCounts()
    const report = await encryptionStatus({
      model: withoutRowScopedModels(encryptionModel),
      keys: kms(keyB),
      database: db.database,
      blindIndex,
    })
    const users = report.columns.find((c) => c.model === 'User' && c.field === 'email')!
    expect(users.unreadable).toBe(2_000)
    expect(server.calls.ReEncrypt).toBeLessThanOrEqual(generated)
    expect(server.calls.Decrypt).toBeLessThanOrEqual(generated)
  }, 120_000)
})
