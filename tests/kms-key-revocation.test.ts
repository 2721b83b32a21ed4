/**
 * A disabled (revoked) KMS key keeps working where its keys are cached: the active data key
 * until `maxAgeMs`, unwrapped data keys until `decryptionKeyTtlMs`, the blind-index root key for
 * the process's life. `encryptor.clearCache()` and `blindIndexer.clear()` end that at once: the
 * next write, read and lookup ask KMS, which refuses.
 */
import { CreateKeyCommand, DisableKeyCommand, EnableKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { encryptionModel } from './support/test-encryption-model'
import { AwsKmsKeyProvider, BlindIndexer, EnvelopeEncryptor, fieldContext, fieldEncryption } from '../src'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { createTestDatabase, type TestDatabase } from './support/test-database'

const server = new KmsTestServer()
let client: KMSClient
let db: TestDatabase
const ctx = fieldContext('User', 'email', 'users', 'email')

beforeAll(async () => {
  client = kmsClientFor((await server.start()).endpoint)
  db = await createTestDatabase()
})
afterAll(async () => {
  await db.close()
  client.destroy()
  await server.stop()
})

async function newKey(): Promise<string> {
  return (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
}
const disable = (keyId: string) => client.send(new DisableKeyCommand({ KeyId: keyId }))

it('after DisableKey, cached data keys still encrypt and decrypt; after clearCache() both are refused', async () => {
  const keyId = await newKey()
  const encryptor = new EnvelopeEncryptor({ keys: new AwsKmsKeyProvider({ keyId, client }) })
  const stored = await encryptor.encrypt('ada@example.com', ctx)
  const other = await new EnvelopeEncryptor({ keys: new AwsKmsKeyProvider({ keyId, client }) }).encrypt('bob@example.com', ctx)
  expect(await encryptor.decrypt(other, ctx)).toBe('bob@example.com')
  await disable(keyId)
  server.resetCounts()
  // the window the threat model describes: no KMS call, so KMS cannot refuse
  expect(await encryptor.decrypt(await encryptor.encrypt('carol@example.com', ctx), ctx)).toBe('carol@example.com')
  expect(await encryptor.decrypt(other, ctx)).toBe('bob@example.com')
  expect(server.cryptoCalls).toBe(0)

  encryptor.clearCache()
  await expect(encryptor.encrypt('dan@example.com', ctx)).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
  await expect(encryptor.decrypt(stored, ctx)).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
  await expect(encryptor.decrypt(other, ctx)).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
})

it('the blind-index root key: kept after DisableKey; blindIndexer.clear() drops the copy the provider keeps too', async () => {
  const keyId = await newKey()
  const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client })
  const provider = new AwsKmsKeyProvider({ keyId, client, wrappedBlindIndexRootKey })
  const indexer = BlindIndexer.forModel(encryptionModel, { rootKey: provider })
  await indexer.load()
  const field = indexer.indexOfSource('User', 'email')!
  const before = indexer.compute(field, 'ada@example.com')
  await disable(keyId)
  expect(indexer.compute(field, 'ada@example.com')).toBe(before)
  await expect(indexer.load()).resolves.toBeUndefined()

  indexer.clear()
  await expect(indexer.load()).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
  expect(() => indexer.compute(field, 'ada@example.com')).toThrow(/not loaded/)
  await client.send(new EnableKeyCommand({ KeyId: keyId }))
  await indexer.load()
  expect(indexer.compute(field, 'ada@example.com')).toBe(before)
})

it('through Prisma: with the encryptor and blind indexer you built, both clears stop reads, writes and lookups at once', async () => {
  const keyId = await newKey()
  const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client })
  const keys = new AwsKmsKeyProvider({ keyId, client, wrappedBlindIndexRootKey })
  const encryptor = new EnvelopeEncryptor({ keys })
  const blindIndexer = BlindIndexer.forModel(encryptionModel, { rootKey: keys })
  const prisma = db.prisma.$extends(fieldEncryption({ model: encryptionModel, encryptor, blindIndexer }))
  const email = `revoked-${keyId}@example.com`
  const user = await prisma.user.create({ data: { email } })
  await disable(keyId)
  expect((await prisma.user.findFirst({ where: { email } }))?.id).toBe(user.id) // cached: still works

  encryptor.clearCache()
  blindIndexer.clear()
  await expect(prisma.user.findFirst({ where: { email } })).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
  await expect(prisma.user.findUnique({ where: { id: user.id } })).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
  await expect(prisma.user.create({ data: { email: `after-${email}` } })).rejects.toMatchObject({ code: 'KFE_KEY_DISABLED' })
})
