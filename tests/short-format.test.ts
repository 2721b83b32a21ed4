import fc from 'fast-check'
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { scopedAadSuffix } from '../src/cipher/associated-data'
import { deriveKeys } from '../src/cipher/data-key-material'
import { fieldContext, type FieldContext } from '../src/cipher/field-context'
import { DecryptionFailedError, FieldEncryptionError, KeyHeaderMissingError, MalformedCiphertextError } from '../src/errors'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { encodeHeader, looksEncrypted, readHeader } from '../src/format/envelope-format'
import {
  KEY_HEADER_PREFIX,
  SHORT_TEXT_PREFIX,
  checkPairing,
  decodeKeyHeader,
  encodeKeyHeader,
  encodeKeyHeaderBytes,
  looksKeyHeader,
  looksShort,
  shortKeyId,
  splitShort,
} from '../src/format/short-format'
import { openShort, sealShort, sealShortWithIv, shortAssociatedData } from '../src/engine/short-seal'
import { KeyRing } from '../src/keys/key-ring'
import { LocalKeyProvider } from '../src/keys/local-key-provider'

/**
 * Format version 2 (the short value, docs/format-v2.md): fixed vectors (tests/vectors/format-v2.json)
 * recomputed by the library and read back by an independent node:crypto-only reader that follows
 * the doc; then properties: round trip, every single-bit flip of a value or of its key header
 * rejected with a library error, a value never opening with another data key's header, v1 and v2
 * never mistaken for each other, and the lengths.
 */

const VECTORS_FILE = join(__dirname, 'vectors', 'format-v2.json')
/** The public test master key of the README recipe: bytes 0, 1, ..., 31. */
const MASTER_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const WRAP_AAD = Buffer.from('kms-field-encryption/local-wrap/v1', 'utf8')
const hex = (b: Buffer | Uint8Array) => Buffer.from(b).toString('hex')
const unhex = (s: string) => Buffer.from(s, 'hex')
const seq = (start: number, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff))

/** The local provider's wrapping (README: fingerprint(8) | iv(12) | encrypted key(32) | tag(16)), with a fixed IV. */
function wrapLocal(dataKey: Buffer, iv: Buffer): Buffer {
  const fingerprint = createHmac('sha256', MASTER_KEY).update('kms-field-encryption/local-key-id/v1').digest().subarray(0, 8)
  const c = createCipheriv('aes-256-gcm', MASTER_KEY, iv)
  c.setAAD(WRAP_AAD)
  return Buffer.concat([fingerprint, iv, c.update(dataKey), c.final(), c.getAuthTag()])
}

interface VectorKey {
  dataKey: string
  wrapIv: string
  providerId: string
  wrappedKey: string
  encryptionKey: string
  commitment: string
  keyId: string
  keyHeader: string
}
interface VectorValue {
  key: number
  table: string
  column: string
  scope?: string
  kind: 'text' | 'bytes'
  /** UTF-8 text for a text field, hex for a bytes field. */
  plaintext: string
  iv: string
  aad: string
  /** Text form, or hex of the bytes form. */
  value: string
}
interface VectorInvalid {
  why: string
  key: number
  table: string
  column: string
  value: string
  error: string
}
interface Vectors {
  about: string
  masterKey: string
  keys: VectorKey[]
  values: VectorValue[]
  invalid: VectorInvalid[]
}

function contextOf(v: { table: string; column: string; scope?: string; kind?: 'text' | 'bytes' }): FieldContext {
  const ctx = fieldContext('M', 'f', v.table, v.column, v.kind ?? 'text')
  return v.scope === undefined ? ctx : { ...ctx, aadSuffix: scopedAadSuffix(ctx.aadSuffix, v.scope) }
}

/** The vectors, computed by the library from fixed data keys and IVs. */
function computeVectors(): Vectors {
  const keys: VectorKey[] = [
    { dataKey: seq(0x80, 32), wrapIv: seq(0x10, 12) },
    { dataKey: seq(0xc0, 32), wrapIv: seq(0x20, 12) },
  ].map(({ dataKey, wrapIv }) => {
    const d = deriveKeys(dataKey)
    const wrappedKey = wrapLocal(dataKey, wrapIv)
    return {
      dataKey: hex(dataKey),
      wrapIv: hex(wrapIv),
      providerId: 'local',
      wrappedKey: hex(wrappedKey),
      encryptionKey: hex(d.encryptionKey),
      commitment: hex(d.commitment),
      keyId: hex(shortKeyId(d.commitment)),
      keyHeader: encodeKeyHeader({ providerId: 'local', wrappedKey, commitment: d.commitment }),
    }
  })
  const cases: Array<Omit<VectorValue, 'aad' | 'value'>> = [
    { key: 0, table: 'users', column: 'email', kind: 'text', plaintext: 'Zoë ✓ ada@example.com', iv: hex(seq(0x30, 12)) },
    { key: 0, table: 'users', column: 'email', kind: 'text', plaintext: '', iv: hex(seq(0x40, 12)) },
    { key: 0, table: 'users', column: 'phone', kind: 'text', plaintext: 'abcdefghijklmnopqrstuvwx', iv: hex(seq(0x50, 12)) },
    { key: 0, table: 'files', column: 'blob', kind: 'bytes', plaintext: '000102ff', iv: hex(seq(0x60, 12)) },
    { key: 0, table: 'notes', column: 'body', scope: 'tenant-1', kind: 'text', plaintext: 'scoped', iv: hex(seq(0x70, 12)) },
    { key: 1, table: 'users', column: 'email', kind: 'text', plaintext: 'Zoë ✓ ada@example.com', iv: hex(seq(0x30, 12)) },
  ]
  const values = cases.map((c) => {
    const k = keys[c.key]!
    const ctx = contextOf(c)
    const plain = c.kind === 'text' ? c.plaintext : new Uint8Array(unhex(c.plaintext))
    const out = sealShortWithIv(unhex(k.dataKey), unhex(k.commitment), ctx, plain, unhex(c.iv))
    return { ...c, aad: hex(shortAssociatedData(unhex(k.commitment), ctx)), value: typeof out === 'string' ? out : hex(out) }
  })
  const v1Header = encodeHeader({ providerId: 'local', wrappedKey: unhex(keys[0]!.wrappedKey), commitment: unhex(keys[0]!.commitment) })
  const invalid: VectorInvalid[] = [
    {
      why: "a value of data key 1 with data key 0's key header",
      key: 0,
      table: 'users',
      column: 'email',
      value: values[5]!.value,
      error: 'KFE_DECRYPTION_FAILED',
    },
    {
      why: 'a value moved to another column',
      key: 0,
      table: 'users',
      column: 'name',
      value: values[0]!.value,
      error: 'KFE_DECRYPTION_FAILED',
    },
    {
      why: 'a scoped value read without its scope',
      key: 0,
      table: 'notes',
      column: 'body',
      value: values[4]!.value,
      error: 'KFE_DECRYPTION_FAILED',
    },
    {
      why: 'a v1 body behind a v2 prefix (AAD version 1, not 2)',
      key: 0,
      table: 'users',
      column: 'email',
      value: v1BodyAsV2(unhex(keys[0]!.dataKey), unhex(keys[0]!.commitment)),
      error: 'KFE_DECRYPTION_FAILED',
    },
    {
      why: 'a v1 value ("$kfe$") is not a v2 value',
      key: 0,
      table: 'users',
      column: 'email',
      value: '$kfe$' + v1Header.toString('base64url') + values[0]!.value.slice(17),
      error: 'KFE_MALFORMED_CIPHERTEXT',
    },
    {
      why: 'a truncated value',
      key: 0,
      table: 'users',
      column: 'email',
      value: values[0]!.value.slice(0, 17 + 36),
      error: 'KFE_MALFORMED_CIPHERTEXT',
    },
  ]
  return {
    about:
      'kms-field-encryption stored format version 2 (docs/format-v2.md). Hex unless said otherwise; masterKey is the local provider master key that wraps the data keys; values of kind bytes are hex of the bytes form. Regenerate with KFE_WRITE_VECTORS=1 (only on a deliberate format change).',
    masterKey: hex(MASTER_KEY),
    keys,
    values,
    invalid,
  }
}

/** A body sealed with the v1 AAD (version byte 1), framed as a v2 value: must not open as v2. */
function v1BodyAsV2(dataKey: Buffer, commitment: Buffer): string {
  const { encryptionKey } = deriveKeys(dataKey)
  const iv = seq(0x90, 12)
  const c = createCipheriv('aes-256-gcm', encryptionKey, iv)
  c.setAAD(Buffer.concat([Buffer.of(1), commitment, Buffer.from('users\u0000email', 'utf8')]))
  const body = Buffer.concat([iv, c.update('Zoë ✓ ada@example.com', 'utf8'), c.final(), c.getAuthTag()])
  return SHORT_TEXT_PREFIX + shortKeyId(commitment).toString('base64url') + body.toString('base64url')
}

// ---- an independent reader, from docs/format-v2.md alone (node:crypto only) ---------------------

const recipe = {
  hkdf: (key: Buffer, info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32)),
  keyId: (commitment: Buffer) =>
    createHash('sha256')
      .update(Buffer.concat([Buffer.from('kfe v2 key id', 'utf8'), Buffer.of(0), commitment]))
      .digest()
      .subarray(0, 9),
  header(text: string) {
    if (!text.startsWith('$kfh$')) throw new Error('not a key header')
    const h = Buffer.from(text.slice(5), 'base64url')
    if (h[0] !== 2 || h.readUInt16BE(1) !== h.length || h.length % 3 !== 0) throw new Error('bad header')
    let o = 3
    const idLength = h[o++]!
    const providerId = h.toString('ascii', o, o + idLength)
    o += idLength
    const wrappedLength = h.readUInt16BE(o)
    o += 2
    const wrappedKey = h.subarray(o, o + wrappedLength)
    o += wrappedLength
    return { providerId, wrappedKey, commitment: h.subarray(o, o + 32) }
  },
  open(dataKey: Buffer, headerText: string, value: string, aadTail: Buffer): Buffer {
    const header = recipe.header(headerText)
    if (!value.startsWith('$kf2$')) throw new Error('not a v2 value')
    const keyId = Buffer.from(value.slice(5, 17), 'base64url')
    if (!keyId.equals(recipe.keyId(header.commitment))) throw new Error('not this header')
    if (!timingSafeEqual(recipe.hkdf(dataKey, 'kms-field-encryption/v1/key-commitment'), header.commitment)) throw new Error('commitment')
    const body = Buffer.from(value.slice(17), 'base64url')
    const d = createDecipheriv('aes-256-gcm', recipe.hkdf(dataKey, 'kms-field-encryption/v1/encryption-key'), body.subarray(0, 12))
    d.setAAD(Buffer.concat([Buffer.of(2), header.commitment, aadTail]))
    d.setAuthTag(body.subarray(body.length - 16))
    return Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()])
  },
}

describe('fixed vectors (tests/vectors/format-v2.json)', () => {
  const computed = computeVectors()
  if (process.env.KFE_WRITE_VECTORS === '1') writeFileSync(VECTORS_FILE, JSON.stringify(computed, null, 2) + '\n')
  const stored = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as Vectors

  test('the library computes exactly the stored vectors', () => {
    expect(computed).toEqual(stored)
  })

  test('the local provider unwraps each wrapped key to its data key; each key header decodes to its parts', async () => {
    const provider = new LocalKeyProvider({ masterKey: unhex(stored.masterKey) })
    for (const k of stored.keys) {
      expect(hex(await provider.unwrapDataKey(unhex(k.wrappedKey)))).toBe(k.dataKey)
      const h = decodeKeyHeader(k.keyHeader, {})
      expect({ providerId: h.providerId, wrappedKey: hex(h.wrappedKey), commitment: hex(h.commitment), keyId: hex(h.keyId) }).toEqual({
        providerId: k.providerId,
        wrappedKey: k.wrappedKey,
        commitment: k.commitment,
        keyId: k.keyId,
      })
    }
  })

  test('openShort reads every value; the doc-only reader reads every text value', () => {
    for (const v of stored.values) {
      const k = stored.keys[v.key]!
      const ctx = contextOf(v)
      const header = decodeKeyHeader(k.keyHeader, ctx)
      const value = v.kind === 'text' ? v.value : new Uint8Array(unhex(v.value))
      const out = openShort(unhex(k.dataKey), header, ctx, value)
      expect(v.kind === 'text' ? out : hex(out as Uint8Array)).toBe(v.plaintext)
      if (v.kind === 'text') {
        const tail = v.scope === undefined ? `${v.table}\u0000${v.column}` : `${v.table}\u0000${v.column}\u0000scope\u0000${v.scope}`
        expect(recipe.open(unhex(k.dataKey), k.keyHeader, v.value, Buffer.from(tail, 'utf8')).toString('utf8')).toBe(v.plaintext)
      }
    }
  })

  test('every invalid vector is refused with its error code', () => {
    for (const v of stored.invalid) {
      const k = stored.keys[v.key]!
      const ctx = contextOf(v)
      expect(() => openShort(unhex(k.dataKey), decodeKeyHeader(k.keyHeader, ctx), ctx, v.value)).toThrow(
        expect.objectContaining({ code: v.error, model: 'M', field: 'f' }),
      )
    }
  })
})

// ---- properties ----------------------------------------------------------------------------------

const masterKey = Buffer.alloc(32, 7)
const provider = new LocalKeyProvider({ masterKey })
const ring = new KeyRing([provider])
const ctxText = fieldContext('User', 'email', 'users', 'email', 'text')
const ctxBytes = fieldContext('File', 'blob', 'files', 'blob', 'bytes')
const LIBRARY_CODES = new Set([
  'KFE_MALFORMED_CIPHERTEXT',
  'KFE_DECRYPTION_FAILED',
  'KFE_UNKNOWN_KEY_PROVIDER',
  'KFE_KEY_INVALID_CIPHERTEXT',
  'KFE_KEY_WRONG_KEY',
])

interface Key {
  dataKey: Buffer
  commitment: Buffer
  headerText: string
}
async function newKey(): Promise<Key> {
  const { plaintext, wrapped } = await provider.generateDataKey()
  const { commitment } = deriveKeys(plaintext)
  return { dataKey: plaintext, commitment, headerText: encodeKeyHeader({ providerId: provider.id, wrappedKey: wrapped, commitment }) }
}

/** The whole read path from stored text: key header parsed, its provider found, its wrapped key unwrapped, the value opened. */
async function readStored(headerText: string, value: unknown, ctx: FieldContext): Promise<unknown> {
  const header = decodeKeyHeader(headerText, ctx)
  checkPairing(splitShort(value, ctx), header, ctx)
  const dataKey = await ring.get(header.providerId, ctx).unwrapDataKey(header.wrappedKey)
  return openShort(dataKey, header, ctx, value)
}

async function expectLibraryError(p: () => Promise<unknown>): Promise<void> {
  let caught: unknown
  try {
    await p()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(FieldEncryptionError)
  expect(LIBRARY_CODES.has((caught as FieldEncryptionError).code)).toBe(true)
}

/** A key header of 112 bytes (1+2+1+5+2+69+32) left unpadded, its length field saying 112: v1's decoder alone would accept it. */
function unpaddedHeader(): string {
  const padded = encodeKeyHeaderBytes({ providerId: 'local', wrappedKey: Buffer.alloc(69, 1), commitment: Buffer.alloc(32, 2) })
  expect(padded.length).toBe(114)
  const unpadded = Buffer.from(padded.subarray(0, 112))
  unpadded.writeUInt16BE(112, 1)
  return KEY_HEADER_PREFIX + unpadded.toString('base64url')
}

/** Flips bit `bit` (0..6: stays ASCII) of character `i`. */
const flipChar = (s: string, i: number, bit: number) => s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << bit)) + s.slice(i + 1)

const text = fc.string({ unit: 'grapheme', maxLength: 60 })
const bytes = fc.uint8Array({ maxLength: 200 })

describe('short values', () => {
  let a: Key
  let b: Key
  beforeAll(async () => {
    a = await newKey()
    b = await newKey()
  })

  test('round trip: text and bytes, through the stored key header and the provider', async () => {
    await fc.assert(
      fc.asyncProperty(text, bytes, async (t, by) => {
        const v = sealShort(a.dataKey, a.commitment, ctxText, t)
        expect(typeof v).toBe('string')
        expect(looksShort(v)).toBe(true)
        expect(await readStored(a.headerText, v, ctxText)).toBe(t)
        const w = sealShort(a.dataKey, a.commitment, ctxBytes, by)
        expect(w).toBeInstanceOf(Uint8Array)
        expect(Buffer.from((await readStored(a.headerText, w, ctxBytes)) as Uint8Array).equals(Buffer.from(by))).toBe(true)
      }),
    )
  })

  test('a key header round-trips, and its key id is the value’s', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 255 }),
        fc.uint8Array({ minLength: 1, maxLength: 1500 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (providerId, wrappedKey, commitment) => {
          const h = { providerId, wrappedKey: Buffer.from(wrappedKey), commitment: Buffer.from(commitment) }
          const textForm = encodeKeyHeader(h)
          expect(looksKeyHeader(textForm)).toBe(true)
          expect(decodeKeyHeader(textForm, {})).toEqual({ version: 2, ...h, keyId: shortKeyId(h.commitment) })
        },
      ),
    )
  })

  test('any single-bit flip of a text value is refused with a library error', async () => {
    const v = sealShort(a.dataKey, a.commitment, ctxText, 'abcdefghijklmnopqrstuvwx') as string
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: v.length - 1 }), fc.nat({ max: 6 }), async (i, bit) => {
        await expectLibraryError(() => readStored(a.headerText, flipChar(v, i, bit), ctxText))
      }),
      { numRuns: 500 },
    )
  })

  test('every single-bit flip of a bytes value is refused with a library error', async () => {
    const v = sealShort(a.dataKey, a.commitment, ctxBytes, new Uint8Array(seq(0, 24))) as Uint8Array
    for (let i = 0; i < v.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const w = new Uint8Array(v)
        w[i]! ^= 1 << bit
        await expectLibraryError(() => readStored(a.headerText, w, ctxBytes))
      }
    }
  })

  test('every single-bit flip of the key header is refused with a library error (format, provider or commitment)', async () => {
    const v = sealShort(a.dataKey, a.commitment, ctxText, 'abcdefghijklmnopqrstuvwx') as string
    const h = a.headerText
    for (let i = 0; i < h.length; i++) {
      for (let bit = 0; bit < 7; bit++) await expectLibraryError(() => readStored(flipChar(h, i, bit), v, ctxText))
    }
  })

  test("a value paired with another data key's header is refused (key id), even with that header's own data key", async () => {
    await fc.assert(
      fc.asyncProperty(text, async (t) => {
        const v = sealShort(a.dataKey, a.commitment, ctxText, t)
        const other = decodeKeyHeader(b.headerText, ctxText)
        expect(() => openShort(b.dataKey, other, ctxText, v)).toThrow(DecryptionFailedError)
        expect(() => openShort(a.dataKey, other, ctxText, v)).toThrow(/key id mismatch/)
        await expect(readStored(b.headerText, v, ctxText)).rejects.toThrow(/key id mismatch/)
      }),
      { numRuns: 50 },
    )
  })

  test('the right header with another data key fails the commitment check', () => {
    const v = sealShort(a.dataKey, a.commitment, ctxText, 'x')
    expect(() => openShort(b.dataKey, decodeKeyHeader(a.headerText, ctxText), ctxText, v)).toThrow(/key commitment mismatch/)
    expect(() => sealShort(a.dataKey, b.commitment, ctxText, 'x')).toThrow(RangeError)
  })

  test('a value is bound to its column and to its field kind', () => {
    const v = sealShort(a.dataKey, a.commitment, ctxText, 'x')
    const header = decodeKeyHeader(a.headerText, ctxText)
    expect(() => openShort(a.dataKey, header, fieldContext('User', 'phone', 'users', 'phone'), v)).toThrow(DecryptionFailedError)
    expect(() => openShort(a.dataKey, header, ctxBytes, v)).toThrow(MalformedCiphertextError)
  })

  test('strict parsing: each malformed value is a MalformedCiphertextError naming model and field, never the value', () => {
    const v = sealShort(a.dataKey, a.commitment, ctxText, 'secret') as string
    const keyId = v.slice(5, 17)
    const body = v.slice(17)
    const bad: Record<string, string> = {
      'prefix only': '$kf2$',
      'key id truncated': v.slice(0, 16),
      'key id with a character outside the alphabet': `$kf2$${keyId.slice(0, 6)}*${keyId.slice(7)}${body}`,
      'body with a character Node would skip': `$kf2$${keyId}${body.slice(0, 10)}*${body.slice(10)}`,
      'body with padding': v + '=',
      'body not canonical (low bits set)': v.slice(0, -1) + String.fromCharCode(v.charCodeAt(v.length - 1) ^ 1),
      'body of 27 bytes (no room for iv and tag)': `$kf2$${keyId}${body.slice(0, 36)}`,
    }
    for (const [why, value] of Object.entries(bad)) {
      let caught: unknown
      try {
        splitShort(value, ctxText)
      } catch (err) {
        caught = err
      }
      expect([why, caught]).toEqual([why, expect.any(MalformedCiphertextError)])
      const e = caught as MalformedCiphertextError
      expect([why, e.model, e.field]).toEqual([why, 'User', 'email'])
      if (value.length > 17)
        expect([why, e.message.includes(value.slice(5, 17)) || e.message.includes(body.slice(0, 12))]).toEqual([why, false])
    }
    const bytesValue = Buffer.from(sealShort(a.dataKey, a.commitment, ctxBytes, new Uint8Array(4)) as Uint8Array)
    expect(() => splitShort(new Uint8Array(bytesValue.subarray(0, 4 + 9 + 27)), ctxBytes)).toThrow(MalformedCiphertextError)
    expect(() => splitShort(new Uint8Array(Buffer.concat([Buffer.of(0x89, 0x4b, 0x46, 0x33), bytesValue.subarray(4)])), ctxBytes)).toThrow(
      MalformedCiphertextError,
    )
  })

  test('strict parsing: each malformed key header is a MalformedCiphertextError, never naming the text', () => {
    const h = a.headerText
    const bad: Record<string, string> = {
      'no prefix': h.slice(5),
      truncated: h.slice(0, 40),
      'version byte 2 -> 1 ("Ag" -> "Af")': flipChar(h, 6, 0),
      'a character Node would skip': h.slice(0, 30) + '*' + h.slice(30),
      'with padding': h + '==',
      'one byte more (length field no longer the length)': h + 'AA',
      'not a multiple of 3 bytes (unpadded, length field 112)': unpaddedHeader(),
    }
    for (const [why, text] of Object.entries(bad)) {
      let caught: unknown
      try {
        decodeKeyHeader(text, ctxText)
      } catch (err) {
        caught = err
      }
      expect([why, caught]).toEqual([why, expect.any(MalformedCiphertextError)])
      expect([why, (caught as Error).message.includes(h.slice(5, 25))]).toEqual([why, false])
    }
  })
})

describe('v1 and v2 are never mistaken for each other', () => {
  const encryptor = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey }) })
  let a: Key
  beforeAll(async () => {
    a = await newKey()
  })

  test('a v1 value or header is not a v2 value or key header', async () => {
    await fc.assert(
      fc.asyncProperty(text, async (t) => {
        const v1 = (await encryptor.encrypt(t, ctxText)) as string
        expect(looksShort(v1)).toBe(false)
        expect(() => splitShort(v1, ctxText)).toThrow(MalformedCiphertextError)
        const { header } = readHeader(v1, ctxText)
        const v1HeaderBytes = encodeHeader(header)
        expect(() => decodeKeyHeader(KEY_HEADER_PREFIX + v1HeaderBytes.toString('base64url'), ctxText)).toThrow(/unknown format version 1/)
        expect(() => decodeKeyHeader(v1.slice(0, 5 + (v1HeaderBytes.length / 3) * 4), ctxText)).toThrow(MalformedCiphertextError)
        const v1Bytes = (await encryptor.encrypt(Buffer.from(t), ctxBytes)) as Uint8Array
        expect(looksShort(v1Bytes)).toBe(false)
        expect(() => splitShort(v1Bytes, ctxBytes)).toThrow(MalformedCiphertextError)
      }),
      { numRuns: 30 },
    )
  })

  test('a v2 value is not a v1 value: the encryptor reads it as v2 (never as plaintext), and needs its key header', async () => {
    const v2 = sealShort(a.dataKey, a.commitment, ctxText, 'x')
    const v2Bytes = sealShort(a.dataKey, a.commitment, ctxBytes, new Uint8Array([1]))
    expect(looksEncrypted(v2)).toBe(false)
    expect(looksEncrypted(v2Bytes)).toBe(false)
    expect(looksEncrypted(a.headerText)).toBe(false)
    const lenient = new EnvelopeEncryptor({ keys: provider, readPlaintext: true })
    for (const e of [encryptor, lenient]) {
      await expect(e.decrypt(v2, ctxText)).rejects.toThrow(KeyHeaderMissingError)
      await expect(e.decrypt(v2Bytes, ctxBytes)).rejects.toThrow(KeyHeaderMissingError)
      await expect(e.decrypt(a.headerText, ctxText)).rejects.toThrow(MalformedCiphertextError)
      await expect(e.decrypt(v2, ctxText, undefined, a.headerText)).resolves.toBe('x')
      await expect(e.decrypt(v2Bytes, ctxBytes, undefined, a.headerText)).resolves.toEqual(new Uint8Array([1]))
    }
  })
})

describe('lengths', () => {
  test('a 24-byte plaintext is 5 + 12 + 70 = 87 characters; the key header is stored once per row', async () => {
    const a = await newKey()
    const v1 = new EnvelopeEncryptor({ keys: provider })
    const rows: string[] = []
    for (const n of [0, 1, 16, 24, 48, 100, 1000]) {
      const plain = 'a'.repeat(n)
      const v2 = sealShort(a.dataKey, a.commitment, ctxText, plain) as string
      const v2b = sealShort(a.dataKey, a.commitment, ctxBytes, new Uint8Array(n)) as Uint8Array
      const old = (await v1.encrypt(plain, ctxText)) as string
      expect(v2.length).toBe(5 + 12 + Math.ceil((4 * (28 + n)) / 3))
      expect(v2b.length).toBe(4 + 9 + 28 + n)
      rows.push(`n=${n}: v2 text ${v2.length} chars, v2 bytes ${v2b.length} B, v1 text ${old.length} chars`)
    }
    expect(sealShort(a.dataKey, a.commitment, ctxText, 'x'.repeat(24)).length).toBe(87)
    const kmsLike = encodeKeyHeader({ providerId: 'aws-kms', wrappedKey: Buffer.alloc(184, 1), commitment: a.commitment })
    rows.push(`key header: local ${a.headerText.length} chars, aws-kms (184-byte blob) ${kmsLike.length} chars`)
    console.log(`format v2 lengths\n${rows.join('\n')}`)
    expect(a.headerText.length).toBe(5 + Math.ceil((1 + 2 + 1 + 5 + 2 + 68 + 32) / 3) * 4)
  })
})
