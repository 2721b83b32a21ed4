import { CreateKeyCommand, DisableKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { randomBytes } from 'node:crypto'
import { encryptionModel, withoutRowScopedModels } from './support/test-encryption-model'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { EnvelopeEncryptor, fieldContext, fieldEncryption, LocalKeyProvider, type KeyProvider } from '../src'
import { readHeader } from '../src/format/envelope-format'
import { encryptColumns, encryptionStatus, rotateColumns, type MigrationOptions } from '../src/migration/run-migration'
import type { BlindIndexOptions } from '../src/blind-index/blind-indexer'
import { kmsClientFor, KmsTestServer } from './support/kms-test-server'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { seedPlaintext, seedValues } from './support/migration-seed'

let db: MigrationTestDatabase
const server = new KmsTestServer()
let client: KMSClient

beforeAll(async () => {
  db = await createMigrationDatabase()
  client = kmsClientFor((await server.start()).endpoint)
})
afterAll(async () => {
  client.destroy()
  await server.stop()
  await db.close()
})
beforeEach(async () => {
  await emptyTables(db)
  await seedPlaintext(db)
})

const localKey = () => LocalKeyProvider.generateMasterKey()
const run = (
  keys: KeyProvider | KeyProvider[],
  extra: { blindIndex?: BlindIndexOptions; encryptor?: EnvelopeEncryptor } = {},
): MigrationOptions => {
  const { encryptor, ...rest } = extra
  const settings = { model: withoutRowScopedModels(encryptionModel), database: db.database, ...rest }
  return encryptor ? { ...settings, encryptor } : { ...settings, keys }
}

async function kmsKey(): Promise<string> {
  return (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
}

/** Sums of every column's counts in a status report. */
async function statusTotals(keys: KeyProvider | KeyProvider[], blindIndex?: BlindIndexOptions) {
  const report = await encryptionStatus(run(keys, { blindIndex }))
  const sum = (k: 'current' | 'older' | 'plaintext' | 'unreadable') => report.columns.reduce((n, c) => n + c[k], 0)
  const indexes = report.columns.flatMap((c) => c.blindIndexes)
  return {
    current: sum('current'),
    older: sum('older'),
    plaintext: sum('plaintext'),
    unreadable: sum('unreadable'),
    staleOrMissingIndexes: indexes.reduce((n, b) => n + b.stale + b.missing, 0),
    complete: report.complete,
  }
}

/** Every user as the application reads it, with only `keys` configured (strict: no plaintext). */
async function readUsers(keys: KeyProvider | KeyProvider[], blindIndex?: BlindIndexOptions) {
  const prisma = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys, blindIndex }))
  const users = await prisma.user.findMany({ orderBy: { id: 'asc' } })
  for (const u of users) {
    expect(u.email).toBe(seedValues.email(u.id))
    expect(u.phone).toBe(seedValues.phone(u.id))
    expect(u.tags).toEqual(seedValues.tags(u.id))
  }
  // Blind-index lookups find rows under the configured keys.
  expect((await prisma.user.findFirst({ where: { email: 'user.42@example.com' } }))?.id).toBe(42)
  expect((await prisma.contact.findMany({ where: { nickname: 'Nick 3-1' } })).map((c) => c.ownerId)).toEqual([3])
  return users.length
}

const ENCRYPTED_ROWS = 300 // every encrypted value of the seed (see migration-operations.test.ts)

test('local key to another local key: status before and after, every value re-encrypted, the old key no longer needed', async () => {
  const oldKey = localKey()
  await encryptColumns(run(new LocalKeyProvider({ masterKey: oldKey })))
  const newKey = localKey()
  const rotated = new LocalKeyProvider({ masterKey: newKey, previousKeys: [oldKey] })

  expect(await statusTotals(rotated)).toMatchObject({ current: 0, older: ENCRYPTED_ROWS, plaintext: 0, unreadable: 0, complete: false })
  const before = await db.sql<{ email: string }>('SELECT email FROM users ORDER BY id')

  const dry = await rotateColumns({ ...run(rotated), dryRun: true })
  expect(dry.written).toBe(ENCRYPTED_ROWS)
  expect(await db.sql('SELECT email FROM users ORDER BY id')).toEqual(before)

  const summary = await rotateColumns(run(rotated))
  expect(summary).toMatchObject({ ok: true, failed: 0, written: ENCRYPTED_ROWS })
  expect(summary.columns.every((c) => Object.keys(c.counts).every((k) => k === 'reencrypted'))).toBe(true)

  expect(await statusTotals(rotated)).toEqual({
    current: ENCRYPTED_ROWS,
    older: 0,
    plaintext: 0,
    unreadable: 0,
    staleOrMissingIndexes: 0,
    complete: true,
  })
  // New data keys: no value keeps its old header.
  const after = await db.sql<{ email: string }>('SELECT email FROM users ORDER BY id')
  after.forEach((r, i) => expect(r.email.slice(0, 60)).not.toBe(before[i]!.email.slice(0, 60)))
  // Readable with the new key alone; a second rotate has nothing to do.
  expect(await readUsers(new LocalKeyProvider({ masterKey: newKey }))).toBe(60)
  expect((await rotateColumns(run(rotated))).written).toBe(0)
})

test('local key to KMS: values move to the KMS provider (decrypt, encrypt under a KMS data key); status before and after', async () => {
  const oldKey = localKey()
  const local = new LocalKeyProvider({ masterKey: oldKey })
  await encryptColumns(run(local))
  const keyId = await kmsKey()
  const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client })
  const kms = new AwsKmsKeyProvider({ keyId, client, wrappedBlindIndexRootKey })

  expect(await statusTotals([kms, local])).toMatchObject({ current: 0, older: ENCRYPTED_ROWS, complete: false })
  server.resetCounts()
  const summary = await rotateColumns(run([kms, local]))
  expect(summary).toMatchObject({ ok: true, written: ENCRYPTED_ROWS })
  expect(server.calls.GenerateDataKey).toBe(1) // one KMS data key for the whole run (cache)
  expect(await statusTotals([kms, local])).toEqual({
    current: ENCRYPTED_ROWS,
    older: 0,
    plaintext: 0,
    unreadable: 0,
    staleOrMissingIndexes: 0,
    complete: true,
  })
  expect(await readUsers(new AwsKmsKeyProvider({ keyId, client, wrappedBlindIndexRootKey }))).toBe(60)
})

test('one KMS key to another: only value headers change (ReEncrypt once per data key, no data key or plaintext on the client)', async () => {
  const keyA = await kmsKey()
  const keyB = await kmsKey()
  const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId: keyA, client })
  const onA = new AwsKmsKeyProvider({ keyId: keyA, client, wrappedBlindIndexRootKey })
  // Small data-key budget: values end up under several data keys.
  await encryptColumns(run(onA, { encryptor: new EnvelopeEncryptor({ keys: onA, cache: { maxUses: 40 } }) }))
  const snapshot = await db.sql<{ id: number; email: string; phone: string | null }>('SELECT id, email, phone FROM users ORDER BY id')
  const dataKeys = new Set<string>()
  const columns: Array<[string, string, string]> = [
    ['users', 'email', 'email'],
    ['users', 'phone', 'phone'],
    ['users', 'tags', 'tags'],
    ['users', 'avatar', 'avatar'],
    ['profiles', 'biography', 'bio'],
    ['posts', 'body', 'body'],
    ['"Category"', 'secret_note', 'secretNote'],
    ['comments', 'text', 'text'],
    ['contacts', 'nickname', 'nickname'],
  ]
  for (const [table, column, field] of columns) {
    for (const r of await db.sql<{ v: unknown }>(`SELECT ${column} AS v FROM ${table} WHERE ${column} IS NOT NULL`)) {
      const kind = column === 'avatar' ? 'bytes' : 'text'
      for (const v of Array.isArray(r.v) ? r.v : [r.v])
        dataKeys.add(readHeader(v as string, fieldContext('X', field, table, column, kind)).headerId)
    }
  }
  expect(dataKeys.size).toBeGreaterThan(3)

  const onB = new AwsKmsKeyProvider({ keyId: keyB, acceptedKeyIds: [keyA], client, wrappedBlindIndexRootKey })
  expect(await statusTotals(onB)).toMatchObject({ current: 0, older: ENCRYPTED_ROWS, complete: false })
  // The public classify decides as status does (it asks KMS): a value under key A is older once B is the key.
  const emailCtx = fieldContext('User', 'email', 'users', 'email', 'text')
  const onBEncryptor = new EnvelopeEncryptor({ keys: onB })
  expect(await onBEncryptor.classify(snapshot[0]!.email, emailCtx)).toBe('older')
  expect(await new EnvelopeEncryptor({ keys: onA }).classify(snapshot[0]!.email, emailCtx)).toBe('current')

  server.resetCounts()
  const summary = await rotateColumns(run(onB))
  expect(summary).toMatchObject({ ok: true, failed: 0, written: ENCRYPTED_ROWS })
  expect(summary.columns.every((c) => Object.keys(c.counts).every((k) => k === 'rewrapped'))).toBe(true)
  expect(server.calls.GenerateDataKey).toBe(0)
  expect(server.calls.Decrypt).toBeLessThanOrEqual(1) // at most the blind-index root key, never a data key
  // One re-wrap per data key, not per value: ReEncrypt pinned to a source key tries B (wrong key), then A;
  // and the same for the blind-index root key (below).
  expect(server.calls.ReEncrypt).toBe(2 * dataKeys.size + 2)

  // The body (iv, ciphertext, tag) of every value is byte for byte what it was; only the header changed.
  const now = await db.sql<{ id: number; email: string; phone: string | null }>('SELECT id, email, phone FROM users ORDER BY id')
  now.forEach((r, i) => {
    const was = snapshot[i]!
    expect(r.email).not.toBe(was.email)
    expect(bodyOf(r.email)).toBe(bodyOf(was.email))
    if (was.phone !== null) expect(bodyOf(r.phone!)).toBe(bodyOf(was.phone))
  })

  // Every value is current, but the configured root key is still wrapped by A: status says so.
  expect(await statusTotals(onB)).toEqual({
    current: ENCRYPTED_ROWS,
    older: 0,
    plaintext: 0,
    unreadable: 0,
    staleOrMissingIndexes: 0,
    complete: false,
  })
  expect((await encryptionStatus(run(onB))).blindIndexRootKey).toEqual({ providerId: 'aws-kms', current: false })
  // rotate re-wrapped it under B (the same root key: the indexes stay valid) and handed back the value to deploy.
  const rewrapped = summary.blindIndexRootKey!
  expect(rewrapped).toMatchObject({ providerId: 'aws-kms', current: false, rewrapped: expect.any(String) })
  expect(rewrapped.rewrapped).not.toBe(wrappedBlindIndexRootKey)
  const deployed = new AwsKmsKeyProvider({ keyId: keyB, acceptedKeyIds: [keyA], client, wrappedBlindIndexRootKey: rewrapped.rewrapped })
  expect(await statusTotals(deployed)).toMatchObject({ current: ENCRYPTED_ROWS, staleOrMissingIndexes: 0, complete: true })
  expect((await encryptionStatus(run(deployed))).blindIndexRootKey).toEqual({ providerId: 'aws-kms', current: true })

  // Key A is no longer needed for any value nor for the root key: disabled, everything still works.
  await client.send(new DisableKeyCommand({ KeyId: keyA }))
  const onlyB = new AwsKmsKeyProvider({ keyId: keyB, client, wrappedBlindIndexRootKey: rewrapped.rewrapped })
  const prisma = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys: onlyB }))
  const users = await prisma.user.findMany({ orderBy: { id: 'asc' } })
  for (const u of users) expect(u.email).toBe(seedValues.email(u.id))
  expect((await prisma.user.findFirst({ where: { email: seedValues.email(7) } }))?.id).toBe(7)
  const again = await rotateColumns(run(onlyB))
  expect(again.written).toBe(0)
  expect(again.blindIndexRootKey).toEqual({ providerId: 'aws-kms', current: true })
  // A deployment that kept the old wrapped root key: status says the root key cannot be moved any more, and why.
  const stale = await encryptionStatus(
    run(new AwsKmsKeyProvider({ keyId: keyB, acceptedKeyIds: [keyA], client, wrappedBlindIndexRootKey })),
  )
  expect(stale.blindIndexRootKey).toEqual({ providerId: 'aws-kms', current: false })
  expect(stale.complete).toBe(false)
  // (rotate cannot even start there: it needs the root key to recompute indexes.)
  const staleKeys = new AwsKmsKeyProvider({ keyId: keyB, acceptedKeyIds: [keyA], client, wrappedBlindIndexRootKey })
  await expect(rotateColumns(run(staleKeys))).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
})

test('a new blind-index root key: configure index version 2; rotate recomputes every index, lookups find rows under version 2', async () => {
  const keys = new LocalKeyProvider({ masterKey: localKey() })
  await encryptColumns(run(keys))
  const blindIndex: BlindIndexOptions = { version: 2, rootKey: randomBytes(32), previous: { version: 1, rootKey: keys } }
  expect(await statusTotals(keys, blindIndex)).toMatchObject({ current: ENCRYPTED_ROWS, staleOrMissingIndexes: 60 + 20, complete: false })
  const summary = await rotateColumns(run(keys, { blindIndex }))
  expect(summary.ok).toBe(true)
  const counts = Object.fromEntries(summary.columns.filter((c) => c.counts.reindexed).map((c) => [`${c.model}.${c.field}`, c.counts]))
  expect(counts).toEqual({ 'User.email': { reindexed: 60 }, 'Contact.nickname': { reindexed: 20 } })
  const indexes = await db.sql<{ email_index: string }>('SELECT email_index FROM users')
  expect(indexes.every((r) => r.email_index.startsWith('v2:'))).toBe(true)
  expect(await statusTotals(keys, blindIndex)).toMatchObject({ staleOrMissingIndexes: 0, complete: true })
  expect(await readUsers(keys, { version: 2, rootKey: blindIndex.rootKey })).toBe(60)
})

/** The body part (after the header) of a stored text value. */
function bodyOf(value: string): string {
  const headerLength = Buffer.from(value.slice(5, 9), 'base64url').readUInt16BE(1)
  return value.slice(5 + (headerLength / 3) * 4)
}

test('--blind-indexes recomputes only the indexes; --verify-indexes also finds a current-version index that does not match', async () => {
  const oldKey = localKey()
  await encryptColumns(run(new LocalKeyProvider({ masterKey: oldKey })))
  const keys = new LocalKeyProvider({ masterKey: localKey(), previousKeys: [oldKey] })
  const blindIndex: BlindIndexOptions = { version: 2, rootKey: randomBytes(32), previous: { version: 1, rootKey: oldKey } }

  const indexesOnly = await rotateColumns({ ...run(keys, { blindIndex }), indexesOnly: true })
  expect(indexesOnly.written).toBe(80)
  expect(
    indexesOnly.columns.filter((c) => c.rows > 0).every((c) => Object.keys(c.counts).every((k) => k === 'reindexed' || k === 'current')),
  ).toBe(true)
  expect(await statusTotals(keys, blindIndex)).toMatchObject({ older: ENCRYPTED_ROWS, staleOrMissingIndexes: 0 })

  // An index of the current version that does not match its value (e.g. a normalisation changed
  // without a new version): only a full check finds it.
  await db.sql(`UPDATE users SET email_index = 'v2:' || repeat('A', 43) WHERE id = 1`)
  expect((await rotateColumns({ ...run(keys, { blindIndex }), indexesOnly: true, fields: ['User.email'] })).written).toBe(0)
  const verified = await rotateColumns({ ...run(keys, { blindIndex }), indexesOnly: true, verifyIndexes: true, fields: ['User.email'] })
  expect(verified.columns[0]!.counts).toEqual({ reindexed: 1, current: 59 })
  expect(await readUsers([keys], { version: 2, rootKey: blindIndex.rootKey })).toBe(60)
})
