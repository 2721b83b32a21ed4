/**
 * `onEvent` sees every key-provider call, the blind-index root key's included: the KMS Decrypt
 * of the wrapped root key (`unwrapRootKey`, from the extension and from a BlindIndexer built by
 * hand) and the GenerateDataKey of `generateWrappedRootKey` (`generateRootKey`). Counted against
 * the KMS test server: as many events as KMS crypto calls, and never any key material.
 */
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { encryptionModel } from './support/test-encryption-model'
import { BlindIndexer, fieldEncryption, type EncryptionEvent } from '../src'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

const server = new KmsTestServer()
let endpoint: string
let kmsClient: KMSClient
let keyId: string
let db: TestDatabase
const clients: KMSClient[] = []

beforeAll(async () => {
  ;({ endpoint } = await server.start())
  kmsClient = kmsClientFor(endpoint)
  keyId = (await kmsClient.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  db = await createTestDatabase()
})

beforeEach(async () => {
  await truncateTables(db)
  server.clearFaults()
  server.resetCounts()
})

afterEach(() => {
  for (const c of clients.splice(0)) c.destroy()
})

afterAll(async () => {
  await db.close()
  kmsClient.destroy()
  await server.stop()
})

function client(maxAttempts?: number): KMSClient {
  const c = kmsClientFor(endpoint, maxAttempts === undefined ? {} : { maxAttempts })
  clients.push(c)
  return c
}

const EVENT_KEYS = new Set(['type', 'providerId', 'ok', 'durationMs', 'errorCode'])

/** Events carry only their documented fields: no key material can hide in them. */
function expectShape(events: readonly EncryptionEvent[]): void {
  for (const e of events) {
    for (const k of Object.keys(e)) expect(EVENT_KEYS.has(k)).toBe(true)
    expect(typeof e.durationMs).toBe('number')
    expect(e.providerId).toBe('aws-kms')
  }
}

describe('onEvent and the blind-index root key', () => {
  it('the extension reports the root key Decrypt as unwrapRootKey: one event per KMS call', async () => {
    const generated: EncryptionEvent[] = []
    const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client: kmsClient }, (e) => generated.push(e))
    expect(generated.map((e) => [e.type, e.ok])).toEqual([['generateRootKey', true]])
    expect(server.calls.GenerateDataKey).toBe(1)
    expectShape(generated)
    server.resetCounts()

    const events: EncryptionEvent[] = []
    const prisma = db.prisma.$extends(
      fieldEncryption({
        model: encryptionModel,
        keys: new AwsKmsKeyProvider({ keyId, client: kmsClient, wrappedBlindIndexRootKey }),
        onEvent: (e) => events.push(e),
      }),
    )
    for (let i = 0; i < 5; i++) await prisma.user.create({ data: { email: `u${i}@example.com` } })
    expect((await prisma.user.findFirst({ where: { email: 'u3@example.com' } }))?.email).toBe('u3@example.com')

    expect(events.map((e) => e.type).sort()).toEqual(['generateDataKey', 'unwrapRootKey'])
    expect(events.every((e) => e.ok)).toBe(true)
    expect(events).toHaveLength(server.cryptoCalls)
    expectShape(events)
  })

  it('a failed root-key unwrap is reported with its error code, then the retry that works', async () => {
    const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client: kmsClient })
    const provider = new AwsKmsKeyProvider({ keyId, client: client(1), wrappedBlindIndexRootKey })
    const events: EncryptionEvent[] = []
    const indexer = BlindIndexer.forModel(encryptionModel, { rootKey: provider, onEvent: (e) => events.push(e) })
    server.resetCounts()
    server.failNext(1, 'KMSInternalException')
    await expect(indexer.load()).rejects.toMatchObject({ code: 'KFE_KEY_UNAVAILABLE' })
    await indexer.load()
    expect(events.map((e) => [e.type, e.ok, e.errorCode])).toEqual([
      ['unwrapRootKey', false, 'KFE_KEY_UNAVAILABLE'],
      ['unwrapRootKey', true, undefined],
    ])
    expect(server.calls.Decrypt).toBe(events.length)
    expectShape(events)
  })

  it('a listener that throws does not break the call', async () => {
    const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client: kmsClient })
    const provider = new AwsKmsKeyProvider({ keyId, client: kmsClient, wrappedBlindIndexRootKey })
    const indexer = BlindIndexer.forModel(encryptionModel, {
      rootKey: provider,
      onEvent: () => {
        throw new Error('metrics exporter down')
      },
    })
    await expect(indexer.load()).resolves.toBeUndefined()
  })
})
