/**
 * The Prisma extension on AWS KMS (the real SDK against the KMS test server): how many KMS calls
 * whole Prisma operations cost, with and without the data-key cache, cold and concurrent; and
 * moving an application from the local master key to KMS without touching its rows.
 *
 * The User model has a blind index on email, whose root key is by default the primary
 * provider's `blindIndexRootKey()` (a KMS Decrypt of the wrapped root key). The call-count tests
 * give the root key as bytes, so that the counts are the data-key calls only; one test shows the
 * KMS-wrapped root key adds one Decrypt per process, however many writes follow.
 */
import { randomBytes } from 'node:crypto'
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { encryptionModel } from './support/test-encryption-model'
import { fieldEncryption, LocalKeyProvider, type FieldEncryptionOptions } from '../src'
import { decodeHeader, headerBytesOf, splitBytes, splitText } from '../src/format/envelope-format'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'
import { TAGS_COLUMN, withTags } from './support/test-database-kind'

const N = 10_000
const server = new KmsTestServer()
let kmsClient: KMSClient
let keyId: string
let db: TestDatabase
/** The blind-index root key, as bytes (no KMS call), shared by every client of a test. */
const rootKey = randomBytes(32)

beforeAll(async () => {
  const { endpoint } = await server.start()
  kmsClient = kmsClientFor(endpoint)
  keyId = (await kmsClient.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  db = await createTestDatabase()
})

beforeEach(async () => {
  await truncateTables(db)
  server.clearFaults()
  server.latencyMs = 0
  server.resetCounts()
})

afterAll(async () => {
  await db.close()
  kmsClient.destroy()
  await server.stop()
})

function kms(): AwsKmsKeyProvider {
  return new AwsKmsKeyProvider({ keyId, client: kmsClient })
}

/** A Prisma client with its own encryptor (so its own, cold, data-key cache), as another process would have. */
function encryptedPrisma(options: Partial<FieldEncryptionOptions> = {}) {
  return db.prisma.$extends(
    fieldEncryption({ model: encryptionModel, keys: kms(), blindIndex: { rootKey }, ...options } as FieldEncryptionOptions),
  )
}

/** Runs `task(i)` for i < n, `width` at a time. */
async function inWaves<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n)
  for (let start = 0; start < n; start += width) {
    await Promise.all(Array.from({ length: Math.min(width, n - start) }, (_, k) => task(start + k).then((v) => (out[start + k] = v))))
  }
  return out
}

const emailOf = (i: number) => `user${i}@example.com`

describe('KMS calls of whole Prisma operations', () => {
  it(`${N} creates and ${N} cold reads cost 2 KMS calls with the default cache`, async () => {
    const writer = encryptedPrisma()
    let started = performance.now()
    const ids = await inWaves(
      N,
      25,
      async (i) => (await writer.user.create({ data: { email: emailOf(i), phone: `+1-555-${i}` }, select: { id: true } })).id,
    )
    const writeMs = performance.now() - started
    expect(server.calls.GenerateDataKey).toBe(1)
    expect(server.calls.Decrypt).toBe(0) // the writer knows the key it made
    expect(Number((await db.sql<{ n: string }>('SELECT count(*) AS n FROM users'))[0]!.n)).toBe(N)

    const reader = encryptedPrisma() // a fresh encryptor: cold cache, every value needs its data key unwrapped
    started = performance.now()
    const read = await inWaves(N, 25, (i) => reader.user.findUnique({ where: { id: ids[i]! } }))
    const readMs = performance.now() - started
    read.forEach((user, i) => {
      expect(user?.email).toBe(emailOf(i))
      expect(user?.phone).toBe(`+1-555-${i}`)
    })
    expect(server.calls.GenerateDataKey).toBe(1)
    expect(server.calls.Decrypt).toBe(1)
    expect(server.cryptoCalls).toBeLessThanOrEqual(2)
    process.stdout.write(`[kms-prisma ${db.kind}] ${N} creates ${Math.round(writeMs)} ms, ${N} reads ${Math.round(readMs)} ms\n`)
  }, 180_000)

  // 1,000 + 1,000 rather than 10,000 + 10,000: with cache: false every operation waits for a KMS
  // round trip on top of the query, and the per-operation count is what is asserted.
  it('without the cache, every create costs one GenerateDataKey and every read one Decrypt (1,000 + 1,000)', async () => {
    const n = 1_000
    const writer = encryptedPrisma({ cache: false })
    const ids = await inWaves(
      n,
      25,
      async (i) => (await writer.user.create({ data: { email: emailOf(i), phone: `+1-555-${i}` }, select: { id: true } })).id,
    )
    expect(server.calls.GenerateDataKey).toBe(n) // email and phone of one create share its data key
    expect(server.calls.Decrypt).toBe(0)

    const reader = encryptedPrisma({ cache: false })
    const read = await inWaves(n, 25, (i) => reader.user.findUnique({ where: { id: ids[i]! } }))
    read.forEach((user, i) => expect(user?.email).toBe(emailOf(i)))
    expect(server.calls.Decrypt).toBe(n)
    expect(server.cryptoCalls).toBe(2 * n)
  }, 120_000)

  it('100 concurrent creates, then 100 concurrent reads, on a cold cache cost one GenerateDataKey and one Decrypt', async () => {
    server.latencyMs = 20 // every caller arrives while the first KMS call is still out
    const writer = encryptedPrisma()
    const created = await Promise.all(Array.from({ length: 100 }, (_, i) => writer.user.create({ data: { email: emailOf(i) } })))
    expect(server.calls.GenerateDataKey).toBe(1)
    expect(created.map((u) => u.email)).toEqual(Array.from({ length: 100 }, (_, i) => emailOf(i)))

    const reader = encryptedPrisma()
    const read = await Promise.all(created.map((u) => reader.user.findUnique({ where: { id: u.id }, select: { email: true } })))
    expect(read.map((u) => u?.email)).toEqual(created.map((u) => u.email))
    expect(server.calls.Decrypt).toBe(1)
    expect(server.cryptoCalls).toBe(2)
  })

  it('a KMS-wrapped blind-index root key costs one more Decrypt per process, not one per write', async () => {
    const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client: kmsClient })
    server.resetCounts()
    const writer = db.prisma.$extends(
      fieldEncryption({ model: encryptionModel, keys: new AwsKmsKeyProvider({ keyId, client: kmsClient, wrappedBlindIndexRootKey }) }),
    )
    await inWaves(1_000, 25, (i) => writer.user.create({ data: { email: emailOf(i) } }))
    expect(server.calls.GenerateDataKey).toBe(1)
    expect(server.calls.Decrypt).toBe(1) // the root key
    // a lookup by the blind index of email works with that root key, at no further KMS cost
    expect((await writer.user.findFirst({ where: { email: emailOf(999) } }))?.email).toBe(emailOf(999))
    expect(server.cryptoCalls).toBe(2)
  }, 60_000)
})

describe('moving from the local master key to KMS', () => {
  /** The provider id in the header of a stored value (text or bytes form). */
  function providerOf(stored: string | Uint8Array): string {
    const split = typeof stored === 'string' ? splitText(stored, {}) : splitBytes(stored, {})
    return decodeHeader(headerBytesOf(split, {}), {}).providerId
  }

  interface StoredUser {
    id: number
    email: string
    phone: string | null
    tags?: string[]
    avatar: Uint8Array | null
  }
  async function stored(id: number): Promise<StoredUser> {
    return (await db.sql<StoredUser>(`SELECT id, email, phone${TAGS_COLUMN}, avatar FROM users WHERE id = $1`, [id]))[0]!
  }

  it('reads what the local key wrote after switching to keys: [kms, local], and writes new values under KMS', async () => {
    const local = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
    // The blind-index root key must outlive the switch, or lookups by email miss the old rows.
    const before = encryptedPrisma({ keys: local, blindIndex: { rootKey: local } })
    const old = await before.user.create({
      data: {
        email: 'old@example.com',
        phone: '+1-555-0100',
        ...withTags(['early']),
        avatar: new Uint8Array([1, 2, 3]),
        posts: { create: { title: 't', body: 'old post' } },
      },
    })
    const oldRow = await stored(old.id)
    for (const value of [oldRow.email, oldRow.phone!, ...(oldRow.tags ?? []), oldRow.avatar!]) expect(providerOf(value)).toBe('local')
    expect(server.cryptoCalls).toBe(0)

    const after = encryptedPrisma({ keys: [kms(), local], blindIndex: { rootKey: local } })
    // old values: unwrapped by the local provider, no KMS call
    expect(await after.user.findUnique({ where: { id: old.id }, include: { posts: true } })).toMatchObject({
      email: 'old@example.com',
      phone: '+1-555-0100',
      ...withTags(['early']),
      avatar: new Uint8Array([1, 2, 3]),
      posts: [{ body: 'old post' }],
    })
    expect(server.cryptoCalls).toBe(0)

    // new values: a KMS data key
    const fresh = await after.user.create({
      data: { email: 'new@example.com', phone: '+1-555-0199', ...withTags(['late']), avatar: new Uint8Array([9]) },
    })
    expect(server.calls.GenerateDataKey).toBe(1)
    const freshRow = await stored(fresh.id)
    for (const value of [freshRow.email, freshRow.phone!, ...(freshRow.tags ?? []), freshRow.avatar!])
      expect(providerOf(value)).toBe('aws-kms')
    // an update of an old row re-encrypts what it writes under KMS, and leaves the rest as it was
    await after.user.update({ where: { id: old.id }, data: { phone: '+1-555-0101' } })
    const updated = await stored(old.id)
    expect(providerOf(updated.phone!)).toBe('aws-kms')
    expect(updated.email).toBe(oldRow.email)

    // another process with the new configuration reads both, also by the blind index of email
    server.resetCounts()
    const elsewhere = encryptedPrisma({ keys: [kms(), local], blindIndex: { rootKey: local } })
    expect((await elsewhere.user.findFirst({ where: { email: 'old@example.com' } }))?.phone).toBe('+1-555-0101')
    expect((await elsewhere.user.findFirst({ where: { email: 'new@example.com' } }))?.phone).toBe('+1-555-0199')
    expect(server.calls.Decrypt).toBe(1) // the one KMS data key; the local one never reaches KMS

    // the KMS provider alone cannot read the old values: the local provider must stay configured
    const kmsOnly = encryptedPrisma({ keys: kms(), blindIndex: { rootKey: local } })
    await expect(kmsOnly.user.findUnique({ where: { id: old.id } })).rejects.toMatchObject({
      code: 'KFE_UNKNOWN_KEY_PROVIDER',
      model: 'User',
      field: 'email',
    })
  })
})
