/**
 * A LocalKeyProvider and an AwsKmsKeyProvider side by side (migrating from one to the other):
 * whichever is primary writes, both read, and values name the provider that wrapped their key.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { UnknownKeyProviderError } from '../src/errors'
import { decodeHeader, headerBytesOf, splitText } from '../src/format/envelope-format'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { LocalKeyProvider } from '../src/keys/local-key-provider'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'

const ctx = fieldContext('User', 'email', 'users', 'email')
const server = new KmsTestServer()
let client: KMSClient
let local: LocalKeyProvider
let kms: AwsKmsKeyProvider

beforeAll(async () => {
  const { endpoint } = await server.start()
  client = kmsClientFor(endpoint)
  const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  local = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  kms = new AwsKmsKeyProvider({ keyId, client })
})

afterAll(async () => {
  client.destroy()
  await server.stop()
})

function providerOf(stored: string): string {
  return decodeHeader(headerBytesOf(splitText(stored, {}), {}), {}).providerId
}

type ProviderId = 'local' | 'aws-kms'
const switches: Array<[ProviderId, ProviderId]> = [
  ['local', 'aws-kms'],
  ['aws-kms', 'local'],
]

it.each(switches)('values written with %s primary are read when %s is primary', async (first, second) => {
  const byId = { local, 'aws-kms': kms }
  const before = new EnvelopeEncryptor({ keys: [byId[first], byId[second]] })
  const after = new EnvelopeEncryptor({ keys: [byId[second], byId[first]] })

  const old = (await before.encrypt('written before the switch', ctx)) as string
  const fresh = (await after.encrypt('written after the switch', ctx)) as string
  expect(providerOf(old)).toBe(first)
  expect(providerOf(fresh)).toBe(second)

  for (const e of [before, after]) {
    expect(await e.decrypt(old, ctx)).toBe('written before the switch')
    expect(await e.decrypt(fresh, ctx)).toBe('written after the switch')
  }
  expect(await after.classify(old, ctx)).toBe('older')
  expect(await after.classify(fresh, ctx)).toBe('current')
})

it('the KMS provider is called only for values whose key it wrapped', async () => {
  const both = new EnvelopeEncryptor({ keys: [local, kms], cache: false })
  const localValue = await both.encrypt('local', ctx)
  server.resetCounts()
  expect(await both.decrypt(localValue, ctx)).toBe('local')
  expect(server.cryptoCalls).toBe(0)
  const kmsOnly = new EnvelopeEncryptor({ keys: kms, cache: false })
  const kmsValue = await kmsOnly.encrypt('kms', ctx)
  expect(await both.decrypt(kmsValue, ctx)).toBe('kms')
  expect(server.calls.Decrypt).toBe(1)
  // without the local provider configured, its values cannot be read
  await expect(kmsOnly.decrypt(localValue, ctx)).rejects.toBeInstanceOf(UnknownKeyProviderError)
})
