import fc from 'fast-check'
import { MalformedCiphertextError } from '../src'
import {
  BYTES_PREFIX,
  TEXT_PREFIX,
  decodeHeader,
  encodeHeader,
  headerBytesOf,
  looksEncryptedBytes,
  looksEncryptedText,
  splitBytes,
  splitText,
} from '../src/format/envelope-format'
import { decodeBase64Url, isCanonicalBase64Url } from '../src/format/strict-base64url'

/**
 * Property tests of the stored format: headers encode and decode to the same thing, values
 * split back into exactly the header and body they were built from (text and bytes forms), and
 * base64url decoding accepts exactly one spelling of each byte string.
 */
const at = { model: 'M', field: 'f' }
const printableAscii = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))
const providerId = fc.string({ unit: printableAscii, minLength: 1, maxLength: 255 })
const wrappedKey = fc.uint8Array({ minLength: 1, maxLength: 1500 }).map((b) => Buffer.from(b))
const commitment = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b))
const header = fc.record({ providerId, wrappedKey, commitment })
const body = fc.uint8Array({ minLength: 28, maxLength: 600 }).map((b) => Buffer.from(b))
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

describe('header', () => {
  test('encode then decode gives the same provider id, wrapped key and commitment', () => {
    fc.assert(
      fc.property(header, (h) => {
        const bytes = encodeHeader(h)
        expect(bytes.length % 3).toBe(0)
        expect(bytes.readUInt16BE(1)).toBe(bytes.length)
        expect(decodeHeader(bytes, at)).toEqual({ version: 1, ...h })
      }),
    )
  })

  test('any shortened or lengthened header is refused as malformed', () => {
    fc.assert(
      fc.property(header, fc.integer({ min: 1, max: 40 }), fc.boolean(), (h, n, shorten) => {
        const bytes = encodeHeader(h)
        const other = shorten ? bytes.subarray(0, Math.max(0, bytes.length - n)) : Buffer.concat([bytes, Buffer.alloc(n)])
        expect(() => decodeHeader(other, at)).toThrow(MalformedCiphertextError)
      }),
    )
  })

  test('any non-zero padding byte is refused', () => {
    fc.assert(
      fc.property(
        header.filter((h) => (38 + h.providerId.length + h.wrappedKey.length) % 3 !== 0),
        fc.integer({ min: 1, max: 255 }),
        (h, b) => {
          const bytes = Buffer.from(encodeHeader(h))
          bytes[bytes.length - 1] = b
          expect(() => decodeHeader(bytes, at)).toThrow(MalformedCiphertextError)
        },
      ),
    )
  })

  test('a provider id byte outside printable ASCII is refused when decoding (no high-bit aliasing)', () => {
    fc.assert(
      fc.property(header, fc.nat(), fc.oneof(fc.integer({ min: 0, max: 0x20 }), fc.integer({ min: 0x7f, max: 0xff })), (h, pos, b) => {
        const bytes = Buffer.from(encodeHeader(h))
        bytes[4 + (pos % h.providerId.length)] = b
        expect(() => decodeHeader(bytes, at)).toThrow(MalformedCiphertextError)
      }),
    )
  })

  test('provider ids that are empty, too long or not printable ASCII are refused when encoding', () => {
    const base = { wrappedKey: Buffer.alloc(4, 1), commitment: Buffer.alloc(32) }
    for (const id of ['', 'x'.repeat(256), 'with space', 'é', 'tab\t']) {
      expect(() => encodeHeader({ ...base, providerId: id })).toThrow(RangeError)
    }
    expect(() => encodeHeader({ ...base, providerId: 'ok', commitment: Buffer.alloc(31) })).toThrow(RangeError)
    expect(() => encodeHeader({ ...base, providerId: 'ok', wrappedKey: Buffer.alloc(0) })).toThrow(RangeError)
  })
})

describe('stored values', () => {
  test('the text form splits back into its header and body; the header text identifies the key', () => {
    fc.assert(
      fc.property(header, body, (h, b) => {
        const headerBytes = encodeHeader(h)
        const value = TEXT_PREFIX + headerBytes.toString('base64url') + b.toString('base64url')
        expect(looksEncryptedText(value)).toBe(true)
        const split = splitText(value, at)
        expect(split.headerId).toBe(headerBytes.toString('base64url'))
        expect(headerBytesOf(split, at).equals(headerBytes)).toBe(true)
        expect(split.body.equals(b)).toBe(true)
        expect(decodeHeader(headerBytesOf(split, at), at)).toEqual({ version: 1, ...h })
      }),
    )
  })

  test('the bytes form splits back into its header and body, with the same header id as the text form', () => {
    fc.assert(
      fc.property(header, body, (h, b) => {
        const headerBytes = encodeHeader(h)
        const value = new Uint8Array(Buffer.concat([BYTES_PREFIX, headerBytes, b]))
        expect(looksEncryptedBytes(value)).toBe(true)
        const split = splitBytes(value, at)
        expect(split.headerId).toBe(headerBytes.toString('base64url'))
        expect(Buffer.from(headerBytesOf(split, at)).equals(headerBytes)).toBe(true)
        expect(Buffer.from(split.body).equals(b)).toBe(true)
      }),
    )
  })

  test('a body shorter than IV + tag is refused in both forms', () => {
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 27 }), (h, short) => {
        const headerBytes = encodeHeader(h)
        const text = TEXT_PREFIX + headerBytes.toString('base64url') + Buffer.from(short).toString('base64url')
        expect(() => splitText(text, at)).toThrow(MalformedCiphertextError)
        expect(() => splitBytes(Buffer.concat([BYTES_PREFIX, headerBytes, short]), at)).toThrow(MalformedCiphertextError)
      }),
    )
  })

  test('arbitrary text after the prefix is refused as malformed, never accepted silently', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (rest) => {
        try {
          const split = splitText(TEXT_PREFIX + rest, at)
          decodeHeader(headerBytesOf(split, at), at)
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedCiphertextError)
          return
        }
        // Only a genuine encoding of a header and a body can split: re-encoding gives the input back.
        const split = splitText(TEXT_PREFIX + rest, at)
        expect(split.headerText! + split.body.toString('base64url')).toBe(rest)
      }),
    )
  })
})

describe('strict base64url', () => {
  test('every byte string encodes to canonical text that decodes back to it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url')
        expect(isCanonicalBase64Url(text)).toBe(true)
        expect(decodeBase64Url(text)?.equals(Buffer.from(bytes))).toBe(true)
      }),
    )
  })

  test('text is accepted exactly when it is the canonical encoding of what it decodes to', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...BASE64URL.split('')), maxLength: 64 }), (text) => {
        const decoded = decodeBase64Url(text)
        const canonical = text.length % 4 !== 1 && Buffer.from(text, 'base64url').toString('base64url') === text
        expect(decoded !== undefined).toBe(canonical)
      }),
      { numRuns: 2000 },
    )
  })

  test('any character outside the alphabet, padding, or whitespace is refused', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 60 }),
        fc.constantFrom('=', '+', '/', ' ', '\n', '.', 'é', '\u0000'),
        fc.nat(),
        (bytes, intruder, pos) => {
          const text = Buffer.from(bytes).toString('base64url')
          const i = pos % (text.length + 1)
          expect(decodeBase64Url(text.slice(0, i) + intruder + text.slice(i))).toBeUndefined()
        },
      ),
    )
  })

  test('a last character with unused bits set is refused (no two spellings of one value)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 60 }).filter((b) => b.length % 3 !== 0),
        fc.integer({ min: 1, max: 15 }),
        (bytes, bits) => {
          const text = Buffer.from(bytes).toString('base64url')
          const unused = bytes.length % 3 === 1 ? 0x0f : 0x03
          if ((bits & unused) === 0) return
          const last = BASE64URL.indexOf(text[text.length - 1]!)
          const sibling = text.slice(0, -1) + BASE64URL[last ^ (bits & unused)]
          expect(Buffer.from(sibling, 'base64url').equals(Buffer.from(bytes))).toBe(true) // Node would accept it...
          expect(decodeBase64Url(sibling)).toBeUndefined() // ...we do not
        },
      ),
    )
  })
})
