import { IV_BYTES, TAG_BYTES } from '../cipher/aes-gcm'
import { COMMITMENT_BYTES } from '../cipher/data-key-material'
import { MalformedCiphertextError, type FieldLocation } from '../errors'
import { decodeBase64Url, decodeQuantum } from './strict-base64url'

/**
 * The stored value, version 1. A public format, documented in the README.
 *
 *   text form  : "$kfe$" + base64url(header) + base64url(body)
 *   bytes form : 0x89 "KFE" + header + body
 *
 *   header     : version u8 = 1 | headerLength u16be | providerIdLength u8 | providerId (ASCII)
 *                | wrappedKeyLength u16be | wrappedKey | keyCommitment (32) | zero padding
 *                (headerLength counts every header byte and is a multiple of 3, so the header's
 *                 base64url text ends on a character boundary and is shared by all values of a data key)
 *   body       : iv (12) | ciphertext | GCM tag (16)
 *
 * The format owns this wire layout; the sizes in it (IV, tag, commitment) are the cipher's. The
 * header is fixed per data key. The cipher authenticates (AAD, see `cipher/associated-data.ts`)
 * the header's stable fields, version and key commitment, together with the table and column the
 * value belongs to, not the provider id nor the wrapped key: the commitment already binds the data
 * key (a header whose wrapped key unwraps to any other key fails the commitment check before any
 * body is opened), so a data key can be re-wrapped under a new KMS key (KMS ReEncrypt, no
 * plaintext on the client) and the header rewritten without touching the body (`header-rewrite.ts`).
 */
export const FORMAT_VERSION = 1
export const TEXT_PREFIX = '$kfe$'
export const BYTES_PREFIX = Buffer.from([0x89, 0x4b, 0x46, 0x45]) // 0x89 "KFE"
const FIXED_HEADER_BYTES = 1 + 2 + 1 + 2 + COMMITMENT_BYTES
const MIN_BODY_BYTES = IV_BYTES + TAG_BYTES

export interface EnvelopeHeader {
  version: number
  providerId: string
  wrappedKey: Buffer
  commitment: Buffer
}

/** Serialises a header, padded to a multiple of 3 bytes. */
export function encodeHeader(header: Omit<EnvelopeHeader, 'version'>): Buffer {
  const id = Buffer.from(header.providerId, 'ascii')
  if (id.length === 0 || id.length > 255 || !/^[\x21-\x7e]+$/.test(header.providerId)) {
    throw new RangeError('key provider id must be 1 to 255 printable ASCII characters')
  }
  if (header.wrappedKey.length === 0 || header.wrappedKey.length > 0xffff) throw new RangeError('wrapped key size out of range')
  if (header.commitment.length !== COMMITMENT_BYTES) throw new RangeError('commitment must be 32 bytes')
  const unpadded = FIXED_HEADER_BYTES + id.length + header.wrappedKey.length
  const length = Math.ceil(unpadded / 3) * 3
  if (length > 0xffff) throw new RangeError('header too large')
  const out = Buffer.alloc(length)
  let o = 0
  o = out.writeUInt8(FORMAT_VERSION, o)
  o = out.writeUInt16BE(length, o)
  o = out.writeUInt8(id.length, o)
  o += id.copy(out, o)
  o = out.writeUInt16BE(header.wrappedKey.length, o)
  o += header.wrappedKey.copy(out, o)
  header.commitment.copy(out, o)
  return out
}

/** Parses header bytes (exactly the header, padding included). */
export function decodeHeader(bytes: Buffer, at: FieldLocation): EnvelopeHeader {
  const fail = (problem: string): never => {
    throw new MalformedCiphertextError(at, problem)
  }
  if (bytes.length < FIXED_HEADER_BYTES + 1) fail('header too short')
  const version = bytes.readUInt8(0)
  if (version !== FORMAT_VERSION) fail(`unknown format version ${version}`)
  if (bytes.readUInt16BE(1) !== bytes.length) fail('header length mismatch')
  const idLength = bytes.readUInt8(3)
  let o = 4
  if (idLength === 0 || o + idLength + 2 > bytes.length) fail('bad provider id length')
  // Printable ASCII only, as encodeHeader writes it: Node's 'ascii' decoding drops the high bit,
  // so without this check a flipped bit would name the same provider and go unnoticed.
  for (let i = o; i < o + idLength; i++) if (bytes[i]! < 0x21 || bytes[i]! > 0x7e) fail('bad provider id')
  const providerId = bytes.toString('ascii', o, o + idLength)
  o += idLength
  const wrappedLength = bytes.readUInt16BE(o)
  o += 2
  if (wrappedLength === 0 || o + wrappedLength + COMMITMENT_BYTES > bytes.length) fail('bad wrapped key length')
  const wrappedKey = Buffer.from(bytes.subarray(o, o + wrappedLength))
  o += wrappedLength
  const commitment = Buffer.from(bytes.subarray(o, o + COMMITMENT_BYTES))
  o += COMMITMENT_BYTES
  if (bytes.length - o > 2 || bytes.subarray(o).some((b) => b !== 0)) fail('bad header padding')
  return { version, providerId, wrappedKey, commitment }
}

/** A stored value split into its header (identifies the data key) and body, not yet decrypted. */
export interface SplitEnvelope {
  /** A string that identifies the header exactly: the data-key cache is keyed by it. */
  headerId: string
  header: Buffer | undefined
  /** Header text (text form) for lazy decoding on a cache miss. */
  headerText: string | undefined
  body: Buffer
  /**
   * A short value (format version 2): `headerId` is then "$kf2$" + the key id's 12 characters,
   * and `header` / `headerText` are undefined (the key header is in the row's companion column).
   */
  short?: true
}

export function looksEncryptedText(value: string): boolean {
  return value.startsWith(TEXT_PREFIX)
}

export function looksEncryptedBytes(value: Uint8Array): boolean {
  return (
    value.length >= BYTES_PREFIX.length &&
    value[0] === BYTES_PREFIX[0] &&
    value[1] === BYTES_PREFIX[1] &&
    value[2] === BYTES_PREFIX[2] &&
    value[3] === BYTES_PREFIX[3]
  )
}

/**
 * Splits the text form; the header stays text (it is the cache key) until it is needed.
 * `sameHeaderAs`: the header text of a value split just before (optional). When this value has
 * exactly that header, that very string is returned, so that map and cache lookups on it
 * compare by identity instead of hashing and comparing ~150 characters per value.
 */
export function splitText(value: string, at: FieldLocation, sameHeaderAs?: string): SplitEnvelope {
  const start = TEXT_PREFIX.length
  const headerEnd = textBodyStart(value, at)
  const sliced = value.slice(start, headerEnd)
  const headerText = sliced === sameHeaderAs ? sameHeaderAs : sliced
  const body = decodeBase64Url(value.slice(headerEnd))
  if (headerText.length !== headerEnd - start || !body) throw new MalformedCiphertextError(at, 'not canonical base64url')
  if (body.length < MIN_BODY_BYTES) throw new MalformedCiphertextError(at, 'truncated body')
  return { headerId: headerText, header: undefined, headerText, body }
}

/**
 * Where the body of a text-form value starts (the header's end, from its length field), nothing
 * decoded but the first 4 header characters; throws MalformedCiphertextError. The header text is
 * `value.slice(5, textBodyStart(value))`.
 */
export function textBodyStart(value: string, at: FieldLocation): number {
  const start = TEXT_PREFIX.length
  // The first 4 characters carry the first 3 header bytes: version u8 | headerLength u16be.
  const lead = decodeQuantum(value, start)
  if (lead < 0) throw new MalformedCiphertextError(at, 'truncated header')
  if (lead >>> 16 !== FORMAT_VERSION) throw new MalformedCiphertextError(at, `unknown format version ${lead >>> 16}`)
  const headerLength = lead & 0xffff
  if (headerLength % 3 !== 0 || headerLength < FIXED_HEADER_BYTES) throw new MalformedCiphertextError(at, 'bad header length')
  return start + (headerLength / 3) * 4
}

/** Splits the bytes form. */
export function splitBytes(value: Uint8Array, at: FieldLocation): SplitEnvelope {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  const start = BYTES_PREFIX.length
  if (buf.length < start + 3) throw new MalformedCiphertextError(at, 'truncated header')
  if (buf[start] !== FORMAT_VERSION) throw new MalformedCiphertextError(at, `unknown format version ${buf[start]}`)
  const headerLength = buf.readUInt16BE(start + 1)
  if (headerLength % 3 !== 0 || headerLength < FIXED_HEADER_BYTES || buf.length < start + headerLength + MIN_BODY_BYTES) {
    throw new MalformedCiphertextError(at, 'bad header length')
  }
  const header = buf.subarray(start, start + headerLength)
  return { headerId: header.toString('base64url'), header, headerText: undefined, body: buf.subarray(start + headerLength) }
}

/** The header bytes of a split envelope (decoding the text form on demand). */
export function headerBytesOf(split: SplitEnvelope, at: FieldLocation): Buffer {
  if (split.header) return split.header
  const bytes = decodeBase64Url(split.headerText ?? '')
  if (!bytes) throw new MalformedCiphertextError(at, 'not canonical base64url')
  return bytes
}

/** Whether a stored value is in this format (a cheap prefix test: no decoding, no decryption). */
export function looksEncrypted(value: unknown): value is string | Uint8Array {
  return typeof value === 'string' ? looksEncryptedText(value) : value instanceof Uint8Array && looksEncryptedBytes(value)
}

/** The header of a stored value and its id (the data-key cache's key), without decrypting anything. */
export function readHeader(value: string | Uint8Array, at: FieldLocation): { headerId: string; header: EnvelopeHeader } {
  const split = typeof value === 'string' ? splitText(value, at) : splitBytes(value, at)
  return { headerId: split.headerId, header: decodeHeader(headerBytesOf(split, at), at) }
}
