/**
 * The Prisma extension when KMS fails (the real SDK against the KMS test server, faults injected
 * by the server): writes fail closed with a typed error and leave nothing behind, reads with
 * cached keys ride out an outage, a hung KMS is cut by the deadline, and each key problem
 * (disabled, pending deletion, wrong key, mangled wrapped key) reaches the caller of a Prisma
 * read as its own error code, naming the model and field.
 */
import { randomBytes } from 'node:crypto'
import { CreateKeyCommand, DisableKeyCommand, ScheduleKeyDeletionCommand, type KMSClient } from '@aws-sdk/client-kms'
import { encryptionModel } from './support/test-encryption-model'
import { fieldEncryption, KeyProviderError, type FieldEncryptionOptions } from '../src'
import { decodeHeader } from '../src/format/envelope-format'
import { AwsKmsKeyProvider, type AwsKmsKeyProviderOptions } from '../src/keys/aws-kms-key-provider'
import { cellsContaining, dumpTables } from './support/dump-tables'
import { flipByte, regionOf, takeApart } from './support/envelope-surgery'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

const server = new KmsTestServer()
let endpoint: string
let admin: KMSClient
let keyId: string
let db: TestDatabase
const clients: KMSClient[] = []
/** The blind-index root key as bytes, so that only data keys need KMS (unless a test says otherwise). */
const rootKey = randomBytes(32)

beforeAll(async () => {
  ;({ endpoint } = await server.start())
  admin = kmsClientFor(endpoint)
  keyId = await newKmsKey()
  db = await createTestDatabase()
})

beforeEach(async () => {
  await truncateTables(db)
})

afterEach(() => {
  server.hang = false
  server.latencyMs = 0
  server.clearFaults()
  server.resetCounts()
  for (const c of clients.splice(0)) c.destroy()
})

afterAll(async () => {
  await db.close()
  admin.destroy()
  await server.stop()
})

async function newKmsKey(): Promise<string> {
  return (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
}

/** A KMS provider on its own SDK client (maxAttempts: the SDK's attempts per call; default 3). */
function kms(options: Partial<AwsKmsKeyProviderOptions> & { maxAttempts?: number } = {}): AwsKmsKeyProvider {
  const { maxAttempts, ...rest } = options
  const client = kmsClientFor(endpoint, { maxAttempts })
  clients.push(client)
  return new AwsKmsKeyProvider({ keyId, client, ...rest })
}

/** A Prisma client with its own encryptor (its own, cold, data-key cache), as another process would have. */
function encryptedPrisma(options: Partial<FieldEncryptionOptions> = {}) {
  return db.prisma.$extends(
    fieldEncryption({ model: encryptionModel, keys: kms(), blindIndex: { rootKey }, ...options } as FieldEncryptionOptions),
  )
}

/** The error a promise rejects with (failing the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

async function keyProviderError(promise: Promise<unknown>): Promise<KeyProviderError> {
  const err = await rejection(promise)
  if (!(err instanceof KeyProviderError)) throw new Error(`expected a KeyProviderError, got ${String(err)}`)
  return err
}

async function count(table: string): Promise<number> {
  return Number((await db.sql<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`))[0]!.n)
}

/** No plaintext in any cell of any table, read with raw SQL. */
async function expectNowhereInDatabase(...plaintexts: string[]): Promise<void> {
  const cells = await dumpTables(db)
  for (const p of plaintexts) expect(cellsContaining(cells, p)).toEqual([])
}

describe('writes while KMS fails: a typed error and nothing written', () => {
  it.each(['ThrottlingException', 'KMSInternalException'] as const)(
    'a create fails with KFE_KEY_UNAVAILABLE once the SDK retries are used up (%s)',
    async (fault) => {
      const prisma = encryptedPrisma({ keys: kms({ maxAttempts: 2 }) })
      const email = `throttled-${fault}@example.com`
      server.failNext(2, fault)
      const err = await keyProviderError(prisma.user.create({ data: { email, phone: '+1-555-0142' } }))
      expect(err).toMatchObject({ reason: 'unavailable', code: 'KFE_KEY_UNAVAILABLE', providerId: 'aws-kms' })
      expect(err.message).toContain(fault)
      expect(err.message).toContain('after 2 attempts')
      expect(err.message).not.toContain(email)
      expect(server.calls.GenerateDataKey).toBe(2) // the SDK did retry
      expect(await count('users')).toBe(0)
      await expectNowhereInDatabase(email, '+1-555-0142')

      // the fault was transient: the same client writes on the next call
      expect((await prisma.user.create({ data: { email } })).email).toBe(email)
      expect(await count('users')).toBe(1)
    },
  )

  it('a nested create (user + posts) writes no row at all', async () => {
    const prisma = encryptedPrisma({ keys: kms({ maxAttempts: 1 }) })
    server.failNext(Number.POSITIVE_INFINITY, 'KMSInternalException')
    const err = await keyProviderError(
      prisma.user.create({
        data: {
          email: 'nested@example.com',
          posts: {
            create: [
              { title: 'first', body: 'nested secret body one' },
              { title: 'second', body: 'nested secret body two' },
            ],
          },
        },
      }),
    )
    expect(err.code).toBe('KFE_KEY_UNAVAILABLE')
    for (const table of ['users', 'posts']) expect(await count(table)).toBe(0)
    await expectNowhereInDatabase('nested@example.com', 'nested secret body one', 'nested secret body two')
  })

  it('an interactive transaction fails and rolls back the writes before the failed one', async () => {
    const prisma = encryptedPrisma({ keys: kms({ maxAttempts: 1 }) })
    server.failNext(Number.POSITIVE_INFINITY, 'ThrottlingException')
    const err = await rejection(
      prisma.$transaction(async (tx) => {
        await tx.auditLog.create({ data: { message: 'before the encrypted write' } })
        await tx.user.create({ data: { email: 'in-tx@example.com' } })
      }),
    )
    expect(err).toBeInstanceOf(KeyProviderError)
    expect(await count('audit_log')).toBe(0)
    expect(await count('users')).toBe(0)
  })
})

describe('reads through an outage', () => {
  it('keep working with cached data keys; a value needing an uncached key fails naming the model and field', async () => {
    const app = encryptedPrisma({ keys: kms({ maxAttempts: 1 }) })
    const own = await app.user.create({ data: { email: 'own@example.com' }, select: { id: true } }) // nothing decrypted: its key is known as made here
    const read = await encryptedPrisma().user.create({ data: { email: 'read-once@example.com' } }) // another data key
    expect((await app.user.findUnique({ where: { id: read.id } }))?.email).toBe('read-once@example.com') // now cached
    const unseen = await encryptedPrisma().user.create({ data: { email: 'unseen@example.com', phone: '+1-555-0177' } })

    server.resetCounts()
    server.failNext(Number.POSITIVE_INFINITY, 'KMSInternalException') // every KMS call fails from now on
    for (let i = 0; i < 20; i++) {
      expect((await app.user.findUnique({ where: { id: own.id } }))?.email).toBe('own@example.com')
      expect((await app.user.findUnique({ where: { id: read.id } }))?.email).toBe('read-once@example.com')
      // writes too: the active data key is cached
      expect((await app.user.create({ data: { email: `during-outage-${i}@example.com` } })).email).toBe(`during-outage-${i}@example.com`)
    }
    expect(server.cryptoCalls).toBe(0)

    const err = await keyProviderError(app.user.findUnique({ where: { id: unseen.id } }))
    expect(err).toMatchObject({ code: 'KFE_KEY_UNAVAILABLE', reason: 'unavailable', model: 'User', field: 'email' })
    expect(err.message).toContain('User.email')
    expect(err.message).not.toContain('unseen@example.com')
    expect(server.calls.Decrypt).toBe(1)
    // selected alone, the other field of that row is the one named
    const phoneErr = await keyProviderError(app.user.findUnique({ where: { id: unseen.id }, select: { phone: true } }))
    expect(phoneErr).toMatchObject({ code: 'KFE_KEY_UNAVAILABLE', model: 'User', field: 'phone' })
    expect(phoneErr.message).toContain('User.phone')
  })
})

describe('a hung KMS', () => {
  const deadline = 300

  it('never hangs a create: it rejects after providerTimeoutMs and writes nothing', async () => {
    const prisma = encryptedPrisma({ keys: kms({ maxAttempts: 1 }), providerTimeoutMs: deadline })
    server.hang = true
    const started = performance.now()
    const err = await keyProviderError(prisma.user.create({ data: { email: 'hung@example.com' } }))
    const elapsed = performance.now() - started
    expect(err).toMatchObject({ code: 'KFE_KEY_UNAVAILABLE' })
    expect(err.message).toContain(`no answer within ${deadline} ms`)
    expect(elapsed).toBeGreaterThanOrEqual(deadline - 10)
    expect(elapsed).toBeLessThan(3_000)
    expect(server.calls.GenerateDataKey).toBe(1)
    expect(await count('users')).toBe(0)
    await expectNowhereInDatabase('hung@example.com')
  })

  it('never hangs a read needing an uncached key: it rejects after providerTimeoutMs naming the field', async () => {
    const user = await encryptedPrisma().user.create({ data: { email: 'written-before@example.com' } })
    const prisma = encryptedPrisma({ keys: kms({ maxAttempts: 1 }), providerTimeoutMs: deadline })
    server.hang = true
    const started = performance.now()
    const err = await keyProviderError(prisma.user.findUnique({ where: { id: user.id } }))
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(err).toMatchObject({ code: 'KFE_KEY_UNAVAILABLE', model: 'User', field: 'email' })
    expect(err.message).toContain(`no answer within ${deadline} ms`)
  })

  it('never hangs a lookup by a blind index whose KMS-wrapped root key is not unwrapped yet', async () => {
    const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client: admin })
    const prisma = db.prisma.$extends(
      fieldEncryption({ model: encryptionModel, keys: kms({ maxAttempts: 1, wrappedBlindIndexRootKey }), providerTimeoutMs: deadline }),
    )
    server.hang = true
    const started = performance.now()
    const err = await keyProviderError(prisma.user.findFirst({ where: { email: 'anyone@example.com' } }))
    expect(performance.now() - started).toBeLessThan(3_000)
    expect(err.code).toBe('KFE_KEY_UNAVAILABLE')
    expect(err.message).toContain(`no answer within ${deadline} ms`)
    expect(server.calls.Decrypt).toBe(1)
  }, 10_000) // without the deadline on the root-key unwrap it waits for ever: fail fast
})

describe('key problems reach a Prisma read as their own error code', () => {
  /** A user written under `writerKeyId`, and the stored email. */
  async function writeUser(writerKeyId: string): Promise<{ id: number; email: string }> {
    const email = `victim-${writerKeyId.slice(0, 8)}@example.com`
    const user = await encryptedPrisma({ keys: kms({ keyId: writerKeyId }) }).user.create({ data: { email } })
    return { id: user.id, email }
  }

  const cases: Array<[string, string, (writerKeyId: string, userId: number) => Promise<{ readerKeyId?: string }>]> = [
    [
      'a disabled key',
      'KFE_KEY_DISABLED',
      async (k) => {
        await admin.send(new DisableKeyCommand({ KeyId: k }))
        return {}
      },
    ],
    [
      'a key pending deletion',
      'KFE_KEY_PENDING_DELETION',
      async (k) => {
        await admin.send(new ScheduleKeyDeletionCommand({ KeyId: k, PendingWindowInDays: 7 }))
        return {}
      },
    ],
    [
      'a value wrapped by a key that is neither keyId nor in acceptedKeyIds',
      'KFE_KEY_WRONG_KEY',
      async () => ({ readerKeyId: await newKmsKey() }),
    ],
    [
      'a mangled (but well-formed) wrapped key in the stored value',
      'KFE_KEY_INVALID_CIPHERTEXT',
      async (_k, id) => {
        const [row] = await db.sql<{ email: string }>('SELECT email FROM users WHERE id = $1', [id])
        const parts = takeApart(row!.email)
        const wrapped = regionOf(parts, 'wrappedKey')
        const mangled = flipByte(row!.email, 'wrappedKey', wrapped.end - wrapped.start - 1) as string // the last byte: inside KMS's sealed part
        // still a well-formed header naming the same provider: only KMS can tell it was altered
        expect(decodeHeader(takeApart(mangled).header, {}).providerId).toBe('aws-kms')
        await db.sql('UPDATE users SET email = $1 WHERE id = $2', [mangled, id])
        return {}
      },
    ],
  ]

  it.each(cases)('%s: %s, naming User.email', async (_label, code, breakIt) => {
    const writerKeyId = await newKmsKey()
    const { id, email } = await writeUser(writerKeyId)
    const { readerKeyId = writerKeyId } = await breakIt(writerKeyId, id)
    server.resetCounts()
    const err = await keyProviderError(encryptedPrisma({ keys: kms({ keyId: readerKeyId }) }).user.findUnique({ where: { id } }))
    expect(err.code).toBe(code)
    expect(err).toMatchObject({ model: 'User', field: 'email', providerId: 'aws-kms' })
    expect(err.message).toContain('User.email')
    expect(err.message).not.toContain(email)
    expect(server.calls.Decrypt).toBe(1) // a definite answer: not retried
    expect(await count('users')).toBe(1) // a read never touches the row
  })

  it('the wrong-key value is readable once its key is added to acceptedKeyIds', async () => {
    const writerKeyId = await newKmsKey()
    const { id, email } = await writeUser(writerKeyId)
    const reader = encryptedPrisma({ keys: kms({ keyId: await newKmsKey(), acceptedKeyIds: [writerKeyId] }) })
    expect((await reader.user.findUnique({ where: { id } }))?.email).toBe(email)
  })
})
