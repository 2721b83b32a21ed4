/**
 * Format version 2 (short values) through the encryptor: `encryptManyWithKeyHeaders` writes them
 * with their key headers; `decryptMany` / `decrypt` / `decryptManySettled` open them from the
 * cache by key id, or from their key header (paired with the value before any unwrap); `classify`
 * knows both versions. With the local provider, and the AWS KMS provider on the KMS test server.
 */
import { CreateAliasCommand, CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fieldContext, type FieldContext } from '../src/cipher/field-context'
import { DataKeyEntry } from '../src/engine/data-key-entry'
import { EnvelopeEncryptor, type EncryptorOptions, type FieldValue, type StoredValue } from '../src/engine/envelope-encryptor'
import { DecryptionFailedError, FieldEncryptionError, KeyHeaderMissingError, MalformedCiphertextError } from '../src/errors'
import { decodeKeyHeader, encodeKeyHeader } from '../src/format/short-format'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { LocalKeyProvider } from '../src/keys/local-key-provider'
import { localScopeKeys } from '../src/keys/local-scope-keys'
import { MemoryScopeKeyStore } from '../src/keys/scope-key-store'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { testLocalKeys } from './support/keys'

const email = fieldContext('User', 'email', 'users', 'email', 'text', true)
const avatar = fieldContext('User', 'avatar', 'users', 'avatar', 'bytes', true)
const emailV1 = fieldContext('User', 'email', 'users', 'email')

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

/** The key header with one byte of its wrapped key changed (its key id, from the commitment, unchanged). */
function withTamperedWrappedKey(keyHeader: string): string {
  const h = decodeKeyHeader(keyHeader, {})
  const wrappedKey = Buffer.from(h.wrappedKey)
  wrappedKey[wrappedKey.length >> 1]! ^= 0x01
  return encodeKeyHeader({ providerId: h.providerId, wrappedKey, commitment: h.commitment })
}

function keyBytes(entry: DataKeyEntry): Buffer {
  return (entry as unknown as { encryptionKey: Buffer }).encryptionKey
}

/** Writes short values of both kinds with one encryptor; returns them with their key headers. */
async function written(master: LocalKeyProvider, options: Omit<EncryptorOptions, 'keys'> = {}) {
  const writer = new EnvelopeEncryptor({ keys: master, ...options })
  const { values, keyHeaders } = await writer.encryptManyWithKeyHeaders([
    { value: 'ada@example.com', ctx: email },
    { value: new Uint8Array([0, 1, 2, 255]), ctx: avatar },
  ])
  return { writer, text: values[0] as string, bytes: values[1] as Uint8Array, keyHeader: keyHeaders[0]!, keyHeaders }
}

describe('short values through the encryptor (local provider)', () => {
  it('round-trips text and bytes through a fresh encryptor: needs the header on a miss, then opens without it', async () => {
    const master = testLocalKeys()
    const { text, bytes, keyHeader, keyHeaders } = await written(master)
    expect(text.startsWith('$kf2$')).toBe(true)
    expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('\x89KF2')
    expect(keyHeader.startsWith('$kfh$')).toBe(true)
    expect(keyHeaders[1]).toBe(keyHeader) // one data key for the batch: one key header
    expect(text.slice(0, 17)).toBe(`$kf2$${Buffer.from(bytes.subarray(4, 13)).toString('base64url')}`)

    const reader = new EnvelopeEncryptor({ keys: master })
    expect(await rejection(reader.decrypt(text, email))).toBeInstanceOf(KeyHeaderMissingError)
    expect(await rejection(reader.decrypt(bytes, avatar, undefined, ''))).toBeInstanceOf(KeyHeaderMissingError)
    expect(reader.stats().dataKeysUnwrapped).toBe(0)

    expect(await reader.decrypt(text, email, undefined, keyHeader)).toBe('ada@example.com')
    expect(await reader.decrypt(bytes, avatar)).toEqual(new Uint8Array([0, 1, 2, 255])) // now cached by key id
    expect(await reader.decryptMany([{ value: text, ctx: email }])).toEqual(['ada@example.com'])
    expect(reader.stats().dataKeysUnwrapped).toBe(1)
  })

  it('the writing process reads its own short values back without key headers', async () => {
    const master = testLocalKeys()
    const { writer, text, bytes } = await written(master)
    expect(
      await writer.decryptMany([
        { value: text, ctx: email },
        { value: bytes, ctx: avatar },
      ]),
    ).toEqual(['ada@example.com', new Uint8Array([0, 1, 2, 255])])
    expect(writer.stats().dataKeysUnwrapped).toBe(0)
  })

  it('encryptMany refuses short-form fields and makes no data key', async () => {
    const encryptor = new EnvelopeEncryptor({ keys: testLocalKeys() })
    const items: FieldValue[] = [
      { value: 'plain v1', ctx: emailV1 },
      { value: 'short', ctx: email },
    ]
    await expect(encryptor.encryptMany(items)).rejects.toThrow(/encryptManyWithKeyHeaders/)
    await expect(encryptor.encrypt('short', email)).rejects.toThrow(/encryptManyWithKeyHeaders/)
    expect(encryptor.stats()).toMatchObject({ dataKeysGenerated: 0, valuesEncrypted: 0 })
    // v1 fields in encryptManyWithKeyHeaders: v1 values, no key header.
    const { values, keyHeaders } = await encryptor.encryptManyWithKeyHeaders(items)
    expect((values[0] as string).startsWith('$kfe$')).toBe(true)
    expect(keyHeaders[0]).toBeUndefined()
    expect((values[1] as string).startsWith('$kf2$')).toBe(true)
  })

  it("a value with another data key's header is refused before any unwrap, and does not poison the cache", async () => {
    const master = testLocalKeys()
    const a = await written(master)
    const b = await written(master)
    expect(b.keyHeader).not.toBe(a.keyHeader)
    const reader = new EnvelopeEncryptor({ keys: master }) // default failedKeyTtlMs: 5 s
    const err = await rejection(reader.decrypt(a.text, email, undefined, b.keyHeader))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect((err as Error).message).toMatch(/key id mismatch/)
    expect(reader.stats().dataKeysUnwrapped).toBe(0)
    await expect(reader.decryptMany([{ value: a.text, ctx: email, keyHeader: b.keyHeader }])).rejects.toThrow(DecryptionFailedError)
    // The right header at once (within the failed-key TTL): opens; so does b's value with b's header.
    expect(await reader.decrypt(a.text, email, undefined, a.keyHeader)).toBe('ada@example.com')
    expect(await reader.decrypt(b.text, email, undefined, b.keyHeader)).toBe('ada@example.com')
    expect(reader.stats().cache.failedKeyHits).toBe(0)
  })

  it('a header whose wrapped key was tampered (key id still matching) is refused; the right header works at once', async () => {
    const master = testLocalKeys()
    const { text, keyHeader } = await written(master)
    const tampered = withTamperedWrappedKey(keyHeader)
    const reader = new EnvelopeEncryptor({ keys: master })
    const err = await rejection(reader.decrypt(text, email, undefined, tampered))
    expect(err).toBeInstanceOf(FieldEncryptionError)
    expect(await rejection(reader.decrypt(text, email, undefined, tampered))).toBeInstanceOf(FieldEncryptionError)
    expect(reader.stats().cache.failedKeyHits).toBe(1) // the tampered header's failure is remembered...
    expect(await reader.decrypt(text, email, undefined, keyHeader)).toBe('ada@example.com') // ...not the data key's
  })

  it("one row's tampered or missing key header does not make the other rows of its data key unreadable", async () => {
    const master = testLocalKeys()
    const writer = new EnvelopeEncryptor({ keys: master })
    const { values, keyHeaders } = await writer.encryptManyWithKeyHeaders([
      { value: 'row 0', ctx: email },
      { value: 'row 1', ctx: email },
      { value: 'row 2', ctx: email },
    ])
    const tampered = withTamperedWrappedKey(keyHeaders[0]!)
    const rows = (first: unknown): FieldValue[] => [
      { value: values[0], ctx: email, keyHeader: first },
      { value: values[1], ctx: email, keyHeader: keyHeaders[1] },
      { value: values[2], ctx: email, keyHeader: keyHeaders[2] },
    ]
    for (const first of [tampered, undefined]) {
      const settled = await new EnvelopeEncryptor({ keys: master }).decryptManySettled(rows(first))
      expect(settled.slice(1)).toEqual([
        { ok: true, value: 'row 1' },
        { ok: true, value: 'row 2' },
      ])
      expect(await new EnvelopeEncryptor({ keys: master }).decryptMany(rows(first))).toEqual(['row 0', 'row 1', 'row 2'])
    }
    // Across batches, within the failed-key TTL: the tampered header's failure is its own.
    const reader = new EnvelopeEncryptor({ keys: master })
    expect(await rejection(reader.decryptMany([{ value: values[0], ctx: email, keyHeader: tampered }]))).toBeInstanceOf(
      FieldEncryptionError,
    )
    expect(await reader.decryptMany([{ value: values[1], ctx: email, keyHeader: keyHeaders[1] }])).toEqual(['row 1'])
  })

  it('every single-character change or truncation of a key header gets a typed error, never a plaintext', async () => {
    const master = testLocalKeys()
    const { text, keyHeader } = await written(master)
    const reader = new EnvelopeEncryptor({ keys: master, cache: { failedKeyTtlMs: 0 } })
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const variants = new Set<string>()
    for (let i = 0; i < keyHeader.length; i++) {
      const c = keyHeader[i]!
      const next = alphabet[(alphabet.indexOf(c) + 1) % alphabet.length] ?? 'A'
      variants.add(keyHeader.slice(0, i) + (next === c ? 'B' : next) + keyHeader.slice(i + 1))
      variants.add(keyHeader.slice(0, i) + keyHeader.slice(i + 1))
      variants.add(keyHeader.slice(0, i))
    }
    variants.add(keyHeader + 'A')
    variants.delete(keyHeader)
    for (const variant of variants) {
      reader.clearCache()
      const err = await rejection(reader.decrypt(text, email, undefined, variant))
      expect(err).toBeInstanceOf(FieldEncryptionError)
      if (variant.length > 30) expect((err as Error).message).not.toContain(variant.slice(5, 30))
    }
    reader.clearCache()
    expect(await reader.decrypt(text, email, undefined, keyHeader)).toBe('ada@example.com')
  })

  it('a key header stored in a value field is malformed, and a key header cannot serve as a value anywhere', async () => {
    const master = testLocalKeys()
    const { keyHeader } = await written(master)
    for (const readPlaintext of [false, true]) {
      const reader = new EnvelopeEncryptor({ keys: master, readPlaintext })
      const err = await rejection(reader.decrypt(keyHeader, email))
      expect(err).toBeInstanceOf(MalformedCiphertextError)
      expect((err as Error).message).toMatch(/a key header where a value belongs/)
      await expect(reader.decrypt(keyHeader, emailV1)).rejects.toThrow(MalformedCiphertextError)
      await expect(reader.decrypt(keyHeader, avatar)).rejects.toThrow(MalformedCiphertextError)
      const [settled] = await reader.decryptManySettled([{ value: keyHeader, ctx: email }])
      expect(settled).toMatchObject({ ok: false, error: expect.any(MalformedCiphertextError) })
    }
  })

  it('readPlaintext: true never returns a $kf2$-prefixed value (or short bytes) as plaintext', async () => {
    const master = testLocalKeys()
    const { text, bytes } = await written(master)
    const lenient = new EnvelopeEncryptor({ keys: master, readPlaintext: true })
    expect(await lenient.decrypt('just text', email)).toBe('just text')
    const garbage = [
      '$kf2$',
      '$kf2$abc',
      `${text.slice(0, 17)}!!!!`,
      text.slice(0, 30),
      `${text}=`,
      text.slice(0, -1),
      '$kf2$' + 'A'.repeat(60),
    ]
    for (const value of garbage) {
      const err = await rejection(lenient.decrypt(value, email, undefined, 'not a key header'))
      expect(err).toBeInstanceOf(FieldEncryptionError)
    }
    await expect(lenient.decrypt(bytes.subarray(0, 20), avatar)).rejects.toThrow(MalformedCiphertextError)
    await expect(lenient.decrypt(text, avatar)).rejects.toThrow(MalformedCiphertextError) // text in a bytes field
    await expect(lenient.decrypt(bytes, email)).rejects.toThrow(MalformedCiphertextError) // bytes in a text field
    // A well-formed v2 value whose key is not cached: refused (needs its header), not passed through.
    await expect(lenient.decrypt(text, email)).rejects.toThrow(KeyHeaderMissingError)
    const settled = await lenient.decryptManySettled(garbage.map((value) => ({ value, ctx: email })))
    for (const s of settled) expect(s.ok).toBe(false)
  })

  it('opens a mixed batch of v1 and v2 values of one data key with one unwrap', async () => {
    const master = testLocalKeys()
    const writer = new EnvelopeEncryptor({ keys: master })
    const { values, keyHeaders } = await writer.encryptManyWithKeyHeaders([
      { value: 'v1 a', ctx: emailV1 },
      { value: 'v2 a', ctx: email },
      { value: 'v1 b', ctx: emailV1 },
      { value: new Uint8Array([9]), ctx: avatar },
    ])
    const keyHeader = keyHeaders[1]!
    const reader = new EnvelopeEncryptor({ keys: master })
    const out = await reader.decryptMany([
      { value: values[1], ctx: email, keyHeader },
      { value: values[0], ctx: emailV1 },
      { value: values[3], ctx: avatar, keyHeader },
      { value: values[2], ctx: emailV1 },
    ])
    expect(out).toEqual(['v2 a', 'v1 a', new Uint8Array([9]), 'v1 b'])
    expect(reader.stats().dataKeysUnwrapped).toBe(1)
  })

  it('a key from a v1 value opens v2 values of that key without another unwrap (same data key, one cache entry)', async () => {
    const master = testLocalKeys()
    const writer = new EnvelopeEncryptor({ keys: master })
    const { values, keyHeaders } = await writer.encryptManyWithKeyHeaders([
      { value: 'v1', ctx: emailV1 },
      { value: 'v2', ctx: email },
    ])
    const reader = new EnvelopeEncryptor({ keys: master })
    expect(await reader.decrypt(values[0], emailV1)).toBe('v1')
    expect(await reader.decrypt(values[1], email, undefined, keyHeaders[1])).toBe('v2')
    expect(reader.stats().dataKeysUnwrapped).toBe(1)
  })

  it('decryptManySettled: a value lacking its header gets KeyHeaderMissingError, the others open', async () => {
    const master = testLocalKeys()
    const a = await written(master)
    const b = await written(master)
    const reader = new EnvelopeEncryptor({ keys: master })
    const settled = await reader.decryptManySettled([
      { value: a.text, ctx: email },
      { value: b.text, ctx: email, keyHeader: b.keyHeader },
      { value: b.bytes, ctx: avatar },
      { value: 'not ours', ctx: email },
      { value: a.bytes, ctx: avatar, keyHeader: null },
    ])
    expect(settled[0]).toMatchObject({ ok: false, error: expect.any(KeyHeaderMissingError) })
    expect(settled[1]).toEqual({ ok: true, value: 'ada@example.com' })
    expect(settled[2]).toEqual({ ok: true, value: new Uint8Array([0, 1, 2, 255]) })
    expect(settled[3]).toMatchObject({ ok: false, error: expect.anything() })
    expect(settled[4]).toMatchObject({ ok: false, error: expect.any(KeyHeaderMissingError) })
    expect((settled[4] as { error: FieldEncryptionError }).error.field).toBe('avatar')
  })

  it('classify: v2 current, v1 in a short-form field older, v2 in a v1 field older, v2 without header KeyHeaderMissingError', async () => {
    const masterKey = LocalKeyProvider.generateMasterKey()
    const master = new LocalKeyProvider({ masterKey })
    const writer = new EnvelopeEncryptor({ keys: master })
    const { values, keyHeaders } = await writer.encryptManyWithKeyHeaders([
      { value: 'v2', ctx: email },
      { value: 'v1', ctx: emailV1 },
    ])
    const [v2, v1] = values as [string, string]
    const keyHeader = keyHeaders[0]!
    const reader = new EnvelopeEncryptor({ keys: master })
    expect(await reader.classify(v2, email, undefined, keyHeader)).toBe('current')
    expect(await reader.classify(v1, email)).toBe('older')
    expect(await reader.classify(v1, emailV1)).toBe('current')
    expect(await reader.classify(v2, emailV1, undefined, keyHeader)).toBe('older')
    expect(await rejection(reader.classify(v2, email))).toBeInstanceOf(KeyHeaderMissingError)
    expect(await rejection(reader.classify(v2, email, undefined, keyHeader.slice(0, -4)))).toBeInstanceOf(MalformedCiphertextError)
    const other = await written(master)
    expect(await rejection(reader.classify(v2, email, undefined, other.keyHeader))).toBeInstanceOf(DecryptionFailedError)
    expect(await reader.classify(keyHeader, email).catch((e: unknown) => e)).toBeInstanceOf(MalformedCiphertextError)
    expect(await reader.classify('plain', email)).toBe('plaintext')
    // A master key rotated: the v2 value's data key is older.
    const rotated = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey(), previousKeys: [masterKey] })
    expect(await new EnvelopeEncryptor({ keys: rotated }).classify(v2, email, undefined, keyHeader)).toBe('older')
  })

  it('key zeroing: after clearCache the key id no longer opens without a header, and every data key is zeroed', async () => {
    const seen = new Set<DataKeyEntry>()
    const originalRetain = DataKeyEntry.prototype.retain
    DataKeyEntry.prototype.retain = function (this: DataKeyEntry) {
      seen.add(this)
      originalRetain.call(this)
    }
    try {
      const master = testLocalKeys()
      const { writer, text, keyHeader } = await written(master)
      await writer.encryptManyWithKeyHeaders([{ value: 'again', ctx: email }]) // the same key remembered again
      const reader = new EnvelopeEncryptor({ keys: master })
      expect(await reader.decrypt(text, email, undefined, keyHeader)).toBe('ada@example.com')
      expect(await reader.decrypt(text, email)).toBe('ada@example.com')
      expect(await reader.decrypt(text, email)).toBe('ada@example.com')
      for (const e of [writer, reader]) {
        e.clearCache()
        await expect(e.decrypt(text, email)).rejects.toThrow(KeyHeaderMissingError)
      }
      expect(seen.size).toBe(2)
      for (const entry of seen) expect(keyBytes(entry).every((b) => b === 0)).toBe(true)
    } finally {
      DataKeyEntry.prototype.retain = originalRetain
    }
  })

  it('a short id remembered again after its cache entry went stale is one reference: the key is still zeroed', async () => {
    const seen = new Set<DataKeyEntry>()
    const originalRetain = DataKeyEntry.prototype.retain
    DataKeyEntry.prototype.retain = function (this: DataKeyEntry) {
      seen.add(this)
      originalRetain.call(this)
    }
    try {
      const master = testLocalKeys()
      // Decryption entries expire before the active key does: the same key is remembered over its stale entry.
      const writer = new EnvelopeEncryptor({ keys: master, cache: { decryptionKeyTtlMs: 20, maxAgeMs: 60_000 } })
      await writer.encryptManyWithKeyHeaders([{ value: 'a', ctx: email }])
      await new Promise((resolve) => setTimeout(resolve, 40))
      await writer.encryptManyWithKeyHeaders([{ value: 'b', ctx: email }])
      expect(writer.stats().dataKeysGenerated).toBe(1)
      writer.clearCache()
      expect(seen.size).toBe(1)
      for (const entry of seen) expect(keyBytes(entry).every((b) => b === 0)).toBe(true)
    } finally {
      DataKeyEntry.prototype.retain = originalRetain
    }
  })

  it('a batch of 1,000 v2 values of one data key costs one unwrap', async () => {
    const master = testLocalKeys()
    const writer = new EnvelopeEncryptor({ keys: master })
    const items = Array.from({ length: 1000 }, (_, i): FieldValue => ({ value: `user${i}@example.com`, ctx: email }))
    const { values, keyHeaders } = await writer.encryptManyWithKeyHeaders(items)
    expect(new Set(keyHeaders).size).toBe(1)
    const reader = new EnvelopeEncryptor({ keys: master })
    const out = await reader.decryptMany(values.map((value, i) => ({ value, ctx: email, keyHeader: keyHeaders[i] })))
    expect(out).toEqual(items.map((item) => item.value))
    const settled = await new EnvelopeEncryptor({ keys: master }).decryptManySettled(
      values.map((value, i) => ({ value, ctx: email, keyHeader: keyHeaders[i] })),
    )
    expect(settled.every((s) => s.ok)).toBe(true)
    expect(reader.stats()).toMatchObject({ dataKeysUnwrapped: 1, valuesDecrypted: 1000 })
  })
})

describe('scoped short values', () => {
  function setup() {
    const master = testLocalKeys()
    const store = new MemoryScopeKeyStore()
    const make = () => new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store }) })
    return { master, make }
  }

  it("round-trip per scope; another scope's value or key header is refused", async () => {
    const { make } = setup()
    const writer = make()
    const { values, keyHeaders } = await writer.encryptManyWithKeyHeaders([
      { value: 'a', ctx: email, scope: 'A' },
      { value: 'b', ctx: email, scope: 'B' },
      { value: 'u', ctx: email },
    ])
    expect(new Set(keyHeaders).size).toBe(3)
    const [a, b, u] = values as [string, string, string]
    const [ha, hb, hu] = keyHeaders as [string, string, string]
    expect(await writer.decrypt(a, email, 'A')).toBe('a') // own process, cached
    const reader = make()
    expect(await reader.decryptMany([{ value: a, ctx: email, scope: 'A', keyHeader: ha }])).toEqual(['a'])
    expect(await reader.decrypt(a, email, 'A')).toBe('a')
    // A's value and key header read as scope B: B's key does not unwrap A's data key.
    expect(await rejection(make().decrypt(a, email, 'B', ha))).toBeInstanceOf(DecryptionFailedError)
    expect(await rejection(reader.decrypt(a, email, 'B', ha))).toBeInstanceOf(DecryptionFailedError)
    // A's value with B's key header: not paired.
    expect(await rejection(make().decrypt(a, email, 'A', hb))).toBeInstanceOf(DecryptionFailedError)
    // An unscoped value and header (the master's provider) read as a scope: not that scope's provider.
    const fresh = make()
    expect(await rejection(fresh.decrypt(u, email, 'A', hu))).toBeInstanceOf(DecryptionFailedError)
    expect(fresh.stats()).toMatchObject({ dataKeysUnwrapped: 0, providerFailures: 0 }) // refused before the provider is asked
    // A scoped value read without its scope: unscoped provider unwraps nothing of A's.
    expect(await rejection(make().decrypt(a, email, undefined, ha))).toBeInstanceOf(FieldEncryptionError)
    expect(await make().decrypt(b, email, 'B', hb)).toBe('b')
    expect(await make().decrypt(u, email, undefined, hu)).toBe('u')
  })
})

describe('the format v2 vectors opened by the encryptor', () => {
  interface Vectors {
    masterKey: string
    keys: Array<{ keyHeader: string }>
    values: Array<{ key: number; table: string; column: string; kind: 'text' | 'bytes'; plaintext: string; scope?: string; value: string }>
    invalid: Array<{ why: string; key: number; table: string; column: string; value: string; error: string }>
  }
  const vectors = JSON.parse(readFileSync(join(__dirname, 'vectors', 'format-v2.json'), 'utf8')) as Vectors
  const provider = () => new LocalKeyProvider({ masterKey: Buffer.from(vectors.masterKey, 'hex') })
  /** Each scope's provider is the vector's master (the vectors wrap scoped data keys with it). */
  const encryptor = () => {
    const p = provider()
    return new EnvelopeEncryptor({ keys: p, scopeKeys: { providerFor: () => Promise.resolve(p) } })
  }
  const ctxOf = (v: { table: string; column: string; kind?: 'text' | 'bytes' }): FieldContext =>
    fieldContext('M', v.column, v.table, v.column, v.kind ?? 'text', true)
  const storedOf = (v: { kind?: 'text' | 'bytes'; value: string }): StoredValue =>
    v.kind === 'bytes' ? new Uint8Array(Buffer.from(v.value, 'hex')) : v.value

  it('opens every vector value with its key header, alone and in one batch', async () => {
    for (const v of vectors.values) {
      const plain = v.kind === 'bytes' ? new Uint8Array(Buffer.from(v.plaintext, 'hex')) : v.plaintext
      expect(await encryptor().decrypt(storedOf(v), ctxOf(v), v.scope, vectors.keys[v.key]!.keyHeader)).toEqual(plain)
    }
    const e = encryptor()
    const out = await e.decryptMany(
      vectors.values.map((v) => ({ value: storedOf(v), ctx: ctxOf(v), scope: v.scope, keyHeader: vectors.keys[v.key]!.keyHeader })),
    )
    expect(out).toEqual(vectors.values.map((v) => (v.kind === 'bytes' ? new Uint8Array(Buffer.from(v.plaintext, 'hex')) : v.plaintext)))
  })

  it('refuses the invalid vectors with their error codes', async () => {
    const invalid = vectors.invalid.filter((v) => !v.value.startsWith('$kfe$')) // a v1 value is read as v1 by the encryptor
    expect(invalid.length).toBeGreaterThanOrEqual(4)
    for (const v of invalid) {
      const err = await rejection(encryptor().decrypt(v.value, ctxOf(v), undefined, vectors.keys[v.key]!.keyHeader))
      expect([v.why, (err as FieldEncryptionError).code]).toEqual([v.why, v.error])
    }
  })
})

describe('short values with AWS KMS (KMS test server)', () => {
  const server = new KmsTestServer()
  let client: KMSClient
  beforeAll(async () => {
    const { endpoint } = await server.start()
    client = kmsClientFor(endpoint, { maxAttempts: 1 })
    const { KeyMetadata } = await client.send(new CreateKeyCommand({}))
    await client.send(new CreateAliasCommand({ AliasName: 'alias/short', TargetKeyId: KeyMetadata!.KeyId! }))
  })
  afterAll(async () => {
    client.destroy()
    await server.stop()
  })
  const kms = () => new EnvelopeEncryptor({ keys: new AwsKmsKeyProvider({ keyId: 'alias/short', client }) })

  it('a fresh encryptor opens a batch with one Decrypt; a tampered header is refused, the right one works at once', async () => {
    const items = Array.from({ length: 200 }, (_, i): FieldValue => ({ value: `u${i}`, ctx: i % 2 ? email : avatar }))
    for (const item of items) if (item.ctx === avatar) item.value = new Uint8Array([1, 2, 3])
    const { values, keyHeaders } = await kms().encryptManyWithKeyHeaders(items)
    expect(server.calls.GenerateDataKey).toBe(1)
    const keyHeader = keyHeaders[0]!
    expect(decodeKeyHeader(keyHeader, {}).providerId).toBe('aws-kms')

    server.resetCounts()
    const reader = kms()
    expect(await rejection(reader.decrypt(values[1], email))).toBeInstanceOf(KeyHeaderMissingError)
    expect(await rejection(reader.decrypt(values[1], email, undefined, withTamperedWrappedKey(keyHeader)))).toBeInstanceOf(
      FieldEncryptionError,
    )
    expect(server.calls.Decrypt).toBe(1)
    const out = await reader.decryptMany(values.map((value, i) => ({ value, ctx: items[i]!.ctx, keyHeader: keyHeaders[i] })))
    expect(out).toEqual(items.map((item) => item.value))
    expect(server.calls.Decrypt).toBe(2)
    expect(await reader.decrypt(values[3], email)).toBe('u3')
    expect(server.calls.Decrypt).toBe(2)
  })
})
