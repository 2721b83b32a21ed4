import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { createDecipheriv } from 'node:crypto'
import { deriveKeys } from '../src/cipher/data-key-material'
import { DecryptionFailedError, EnvelopeEncryptor, fieldContext, LocalKeyProvider, UnknownKeyProviderError } from '../src'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { readHeader } from '../src/format/envelope-format'
import { rewrappedHeader, withHeader } from '../src/format/header-rewrite'
import { putTogether, takeApart } from './support/envelope-surgery'
import { kmsClientFor, KmsTestServer } from './support/kms-test-server'

/**
 * The format change that makes KMS-only rotation possible: the AAD binds the version and the
 * key commitment (which binds the data key) plus table and column, not the provider id or the
 * wrapped key. A value whose header is rewritten with another wrapping of the same data key
 * still opens; any other change to the header still fails.
 */
const email = fieldContext('User', 'email', 'users', 'email')
const phone = fieldContext('User', 'phone', 'users', 'phone')
const avatar = fieldContext('User', 'avatar', 'users', 'avatar', 'bytes')

const server = new KmsTestServer()
let client: KMSClient
beforeAll(async () => {
  client = kmsClientFor((await server.start()).endpoint)
})
afterAll(async () => {
  client.destroy()
  await server.stop()
})

test('the AAD is exactly: version 0x01 | key commitment (32) | table | 0x00 | column (checked with node:crypto alone)', async () => {
  const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  const stored = (await new EnvelopeEncryptor({ keys }).encrypt('ada@example.com', email)) as string
  const { header } = readHeader(stored, email)
  const dataKey = await keys.unwrapDataKey(header.wrappedKey)
  const { encryptionKey, commitment } = deriveKeys(dataKey)
  expect(commitment.equals(header.commitment)).toBe(true)
  const body = takeApart(stored).body
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey, body.subarray(0, 12))
  decipher.setAAD(Buffer.concat([Buffer.from([0x01]), commitment, Buffer.from('users\u0000email', 'utf8')]))
  decipher.setAuthTag(body.subarray(body.length - 16))
  expect(Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]).toString('utf8')).toBe('ada@example.com')
})

test('a data key re-wrapped by KMS (ReEncrypt) under another key: the rewritten header opens the untouched body, text and bytes', async () => {
  const a = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  const b = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  const onA = new AwsKmsKeyProvider({ keyId: a, client })
  const text = (await new EnvelopeEncryptor({ keys: onA }).encrypt('ada@example.com', email)) as string
  const bytes = (await new EnvelopeEncryptor({ keys: onA }).encrypt(Buffer.from([1, 2, 3]), avatar)) as Buffer

  const onB = new AwsKmsKeyProvider({ keyId: b, acceptedKeyIds: [a], client })
  server.resetCounts()
  const { header } = readHeader(text, email)
  const { wrapped, wasCurrent } = await onB.rewrapDataKey(header.wrappedKey)
  expect(wasCurrent).toBe(false)
  // ReEncrypt pinned to a source key: B is tried first (wrong key), then A. Never a Decrypt.
  expect(server.calls).toMatchObject({ ReEncrypt: 2, Decrypt: 0, GenerateDataKey: 0 })
  const newText = withHeader(text, rewrappedHeader(header, wrapped), email) as string
  expect(takeApart(newText).body.equals(takeApart(text).body)).toBe(true)
  expect(takeApart(newText).header.equals(takeApart(text).header)).toBe(false)

  const bytesHeader = readHeader(bytes, avatar).header
  const newBytes = withHeader(
    bytes,
    rewrappedHeader(bytesHeader, (await onB.rewrapDataKey(bytesHeader.wrappedKey)).wrapped),
    avatar,
  ) as Buffer

  // Readable with key B alone: key A is out of the picture.
  const onlyB = new EnvelopeEncryptor({ keys: new AwsKmsKeyProvider({ keyId: b, client }) })
  expect(await onlyB.decrypt(newText, email)).toBe('ada@example.com')
  expect(Buffer.from((await onlyB.decrypt(newBytes, avatar)) as Uint8Array)).toEqual(Buffer.from([1, 2, 3]))
  // ReEncrypt again to the same key: reported current, nothing to write.
  expect((await onB.rewrapDataKey(wrapped)).wasCurrent).toBe(true)
})

test('any other header change still fails: another data key, a foreign commitment, an unknown provider, another column', async () => {
  const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  const one = (await new EnvelopeEncryptor({ keys, cache: false }).encrypt('first', email)) as string
  const two = (await new EnvelopeEncryptor({ keys, cache: false }).encrypt('second', email)) as string
  const fresh = () => new EnvelopeEncryptor({ keys, cache: false })
  const h1 = readHeader(one, email).header
  const h2 = readHeader(two, email).header

  // The wrapped key of another data key, with this value's commitment: the commitment check fails.
  const swappedKey = withHeader(one, rewrappedHeader(h1, h2.wrappedKey), email) as string
  await expect(fresh().decrypt(swappedKey, email)).rejects.toThrow(DecryptionFailedError)
  // Another value's whole header (its data key and its commitment): the body does not open under it.
  const swappedHeader = withHeader(one, takeApart(two).header, email) as string
  await expect(fresh().decrypt(swappedHeader, email)).rejects.toThrow(DecryptionFailedError)
  // The commitment of another data key next to this one's wrapped key.
  const foreignCommitment = putTogether({ ...takeApart(one), header: rewrappedHeaderWithCommitment(h1, h2.commitment) })
  await expect(fresh().decrypt(foreignCommitment, email)).rejects.toThrow(DecryptionFailedError)
  // A provider id nobody configured.
  const otherProvider = withHeader(one, rewrappedHeader(h1, h1.wrappedKey, 'elsewhere'), email) as string
  await expect(fresh().decrypt(otherProvider, email)).rejects.toThrow(UnknownKeyProviderError)
  // The same value moved to another column.
  await expect(fresh().decrypt(one, phone)).rejects.toThrow(DecryptionFailedError)
  // And the untouched values still open.
  expect(
    await fresh().decryptMany([
      { value: one, ctx: email },
      { value: two, ctx: email },
    ]),
  ).toEqual(['first', 'second'])
})

function rewrappedHeaderWithCommitment(header: ReturnType<typeof readHeader>['header'], commitment: Buffer): Buffer {
  return rewrappedHeader({ ...header, commitment }, header.wrappedKey)
}
