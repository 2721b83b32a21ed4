/**
 * The README's "stored value" section is enough for another implementation: this file reads a
 * fixed value and recomputes a blind index with node:crypto only, following the README's recipe
 * step by step (it imports nothing of the library's cipher, format or key code), then checks the
 * library agrees. With AWS KMS, it unwraps the data key and the blind-index root key with a bare
 * KMS Decrypt and the encryption contexts the README gives (the KMS test server enforces them).
 */
import { CreateKeyCommand, DecryptCommand, type KMSClient } from '@aws-sdk/client-kms'
import { createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { encryptionModel } from './support/test-encryption-model'
import { AwsKmsKeyProvider, BlindIndexer, EnvelopeEncryptor, LocalKeyProvider, fieldContext } from '../src'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'

// ---- the recipe, from the README alone -------------------------------------------------------

const EMPTY = Buffer.alloc(0)
const hkdf = (key: Buffer, info: string | Buffer, length: number) => Buffer.from(hkdfSync('sha256', key, EMPTY, info, length))

interface Header {
  providerId: string
  wrappedKey: Buffer
  commitment: Buffer
}

/** "$kfe$" + base64url(header) + base64url(body); the header's length is in its bytes 1..2. */
function parseText(stored: string): { header: Header; body: Buffer } {
  if (!stored.startsWith('$kfe$')) throw new Error('not a stored value')
  const rest = stored.slice(5)
  const first = Buffer.from(rest.slice(0, 4), 'base64url') // 3 bytes: version u8, header length u16be
  if (first[0] !== 1) throw new Error('unknown version')
  const headerLength = first.readUInt16BE(1)
  const headerChars = (headerLength / 3) * 4
  const header = Buffer.from(rest.slice(0, headerChars), 'base64url')
  let o = 3
  const idLength = header[o]!
  o += 1
  const providerId = header.toString('ascii', o, o + idLength)
  o += idLength
  const wrappedLength = header.readUInt16BE(o)
  o += 2
  const wrappedKey = header.subarray(o, o + wrappedLength)
  o += wrappedLength
  const commitment = header.subarray(o, o + 32)
  return { header: { providerId, wrappedKey, commitment }, body: Buffer.from(rest.slice(headerChars), 'base64url') }
}

/** The local provider's wrapped key: fingerprint(8) | iv(12) | encrypted key(32) | tag(16). */
function unwrapLocal(masterKey: Buffer, wrapped: Buffer): Buffer {
  const fingerprint = createHmac('sha256', masterKey).update('kms-field-encryption/local-key-id/v1').digest().subarray(0, 8)
  if (!fingerprint.equals(wrapped.subarray(0, 8))) throw new Error('another master key')
  const d = createDecipheriv('aes-256-gcm', masterKey, wrapped.subarray(8, 20))
  d.setAAD(Buffer.from('kms-field-encryption/local-wrap/v1', 'utf8'))
  d.setAuthTag(wrapped.subarray(52, 68))
  return Buffer.concat([d.update(wrapped.subarray(20, 52)), d.final()])
}

/** HKDF-SHA256 (empty salt) of the data key; commitment check; AES-256-GCM with the AAD. */
function openValue(dataKey: Buffer, header: Header, body: Buffer, table: string, column: string): string {
  const encryptionKey = hkdf(dataKey, 'kms-field-encryption/v1/encryption-key', 32)
  const commitment = hkdf(dataKey, 'kms-field-encryption/v1/key-commitment', 32)
  if (!timingSafeEqual(commitment, header.commitment)) throw new Error('commitment mismatch')
  const aad = Buffer.concat([Buffer.of(1), commitment, Buffer.from(table, 'utf8'), Buffer.of(0), Buffer.from(column, 'utf8')])
  const d = createDecipheriv('aes-256-gcm', encryptionKey, body.subarray(0, 12))
  d.setAAD(aad)
  d.setAuthTag(body.subarray(body.length - 16))
  return Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]).toString('utf8')
}

/** "v<version>:" + base64url(HMAC-SHA256(column key, normalised UTF-8)), column key by HKDF of the root key. */
function blindIndex(rootKey: Buffer, version: number, table: string, column: string, normalised: string): string {
  const columnKey = hkdf(rootKey, `kms-field-encryption/blind-index\u0000${version}\u0000${table}\u0000${column}`, 32)
  return `v${version}:${createHmac('sha256', columnKey).update(normalised, 'utf8').digest('base64url')}`
}

// ---- fixed vectors (local provider) ------------------------------------------------------------

/** A public test master key: bytes 0, 1, ..., 31. */
const MASTER_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const PLAINTEXT = 'Zoë ✓ ada@example.com'
const STORED =
  '$kfe$AQBvBWxvY2FsAETSb4ZPqlPN1EpbMs7cGc6c1ppLkYoqWVUeirrZC97XutEb4UIyjFW4s1-U2azZN3sZOFWCQSuG6NoUr3fefGzvdSQLJhNwDipyYfInWSBgIWohDEepdKhkq1SFjj8DoCRYJlJTukk1poB20RbFfdQ19qFgTYt-Nkax2EDBRUfIGC5mnrVJmS3aHbsRaqoKSUb04b7tQlw-JA'
/** User.emailIndex (table users, column email_index, normalize [lowercase, trim]) of ' Ada@Example.COM '. */
const EMAIL_INDEX = 'v1:vphCH8JjEJBJzAD5joaIbsk-_inCNjLsgME44VmAOOg'

describe('the README recipe, local provider, fixed vectors', () => {
  it('decrypts the stored value', () => {
    const { header, body } = parseText(STORED)
    expect(header.providerId).toBe('local')
    expect(openValue(unwrapLocal(MASTER_KEY, header.wrappedKey), header, body, 'users', 'email')).toBe(PLAINTEXT)
    // bound to its table and column
    expect(() => openValue(unwrapLocal(MASTER_KEY, header.wrappedKey), header, body, 'users', 'phone')).toThrow()
  })

  it('recomputes the blind index: root key HKDF of the master key, column key HKDF of the root key', () => {
    const rootKey = hkdf(MASTER_KEY, 'kms-field-encryption/blind-index-root/v1', 32)
    expect(blindIndex(rootKey, 1, 'users', 'email_index', ' Ada@Example.COM '.toLowerCase().trim())).toBe(EMAIL_INDEX)
  })

  it('the library agrees with the vectors', async () => {
    const keys = new LocalKeyProvider({ masterKey: MASTER_KEY })
    expect(await new EnvelopeEncryptor({ keys }).decrypt(STORED, fieldContext('User', 'email', 'users', 'email'))).toBe(PLAINTEXT)
    const indexer = BlindIndexer.forModel(encryptionModel, { rootKey: keys })
    await indexer.load()
    expect(indexer.compute(indexer.indexOfSource('User', 'email')!, ' Ada@Example.COM ')).toBe(EMAIL_INDEX)
  })
})

describe('the README recipe, AWS KMS: the encryption contexts', () => {
  const server = new KmsTestServer()
  let client: KMSClient
  let keyId: string
  beforeAll(async () => {
    client = kmsClientFor((await server.start()).endpoint)
    keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
  })
  afterAll(async () => {
    client.destroy()
    await server.stop()
  })

  const decrypt = async (blob: Buffer, context: Record<string, string>) =>
    Buffer.from((await client.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: keyId, EncryptionContext: context }))).Plaintext!)

  it('a data key: Decrypt with { purpose: "kms-field-encryption" }; the root key: with kfe-key-use added', async () => {
    const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client })
    const keys = new AwsKmsKeyProvider({ keyId, client, wrappedBlindIndexRootKey })
    const stored = (await new EnvelopeEncryptor({ keys }).encrypt(PLAINTEXT, fieldContext('User', 'email', 'users', 'email'))) as string
    const indexer = BlindIndexer.forModel(encryptionModel, { rootKey: keys })
    await indexer.load()
    const libraryIndex = indexer.compute(indexer.indexOfSource('User', 'email')!, ' Ada@Example.COM ')

    const { header, body } = parseText(stored)
    expect(header.providerId).toBe('aws-kms')
    const dataKey = await decrypt(header.wrappedKey, { purpose: 'kms-field-encryption' })
    expect(openValue(dataKey, header, body, 'users', 'email')).toBe(PLAINTEXT)
    const rootKey = await decrypt(Buffer.from(wrappedBlindIndexRootKey, 'base64'), {
      purpose: 'kms-field-encryption',
      'kfe-key-use': 'blind-index-root',
    })
    expect(rootKey).toHaveLength(32)
    expect(blindIndex(rootKey, 1, 'users', 'email_index', 'ada@example.com')).toBe(libraryIndex)
    // another context is refused by KMS: the contexts above are the whole maps
    await expect(decrypt(header.wrappedKey, {})).rejects.toThrow()
    await expect(decrypt(Buffer.from(wrappedBlindIndexRootKey, 'base64'), { purpose: 'kms-field-encryption' })).rejects.toThrow()
  })
})
