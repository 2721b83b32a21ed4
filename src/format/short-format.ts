import { createHash } from 'node:crypto'
import { IV_BYTES, TAG_BYTES } from '../cipher/aes-gcm'
import { COMMITMENT_BYTES } from '../cipher/data-key-material'
import { DecryptionFailedError, MalformedCiphertextError, type FieldLocation } from '../errors'
import { FORMAT_VERSION, decodeHeader, encodeHeader, type SplitEnvelope } from './envelope-format'
import { decodeBase64Url, isCanonicalBase64Url } from './strict-base64url'

/**
 * The stored value, version 2 (the short value): the per-data-key header is stored once per row,
 * in a companion column (the key header), instead of inside every value. The value keeps only a
 * short key id that ties it to its row's key header. See docs/format-v2.md.
 *
 *   value, text form   : "$kf2$" + base64url(keyId (9), 12 chars) + base64url(body)
 *   value, bytes form  : 0x89 "KF2" + keyId (9) + body
 *   body               : iv (12) | ciphertext | GCM tag (16)
 *   keyId              : SHA-256("kfe v2 key id" | 0x00 | keyCommitment (32)), first 9 bytes
 *   key header (text)  : "$kfh$" + base64url(header), the v1 header layout with version byte 2:
 *                        version u8 = 2 | headerLength u16be | providerIdLength u8 | providerId (ASCII)
 *                        | wrappedKeyLength u16be | wrappedKey | keyCommitment (32) | zero padding
 *                        (headerLength counts every header byte and is a multiple of 3)
 *   AAD                : the v1 construction with version 2 (`associatedData(2, …)`):
 *                        2 | keyCommitment (32) | table | 0x00 | column [ | 0x00 "scope" 0x00 scope ]
 *
 * Parsing is strict (canonical base64url only, exact sizes); a malformed value or key header is a
 * MalformedCiphertextError naming the model and field, never the value. A value whose key id is
 * not the key header's is a DecryptionFailedError (`checkPairing`). Nothing here decrypts.
 */
export const SHORT_FORMAT_VERSION = 2
export const SHORT_TEXT_PREFIX = '$kf2$'
export const SHORT_BYTES_PREFIX = Buffer.from([0x89, 0x4b, 0x46, 0x32]) // 0x89 "KF2"
export const KEY_HEADER_PREFIX = '$kfh$'
export const KEY_ID_BYTES = 9
/** 9 bytes are exactly 12 base64url characters (no partial quantum). */
export const KEY_ID_CHARS = 12
const MIN_BODY_BYTES = IV_BYTES + TAG_BYTES
const KEY_ID_INFO = Buffer.from('kfe v2 key id\u0000', 'utf8')

/** The key header of a data key, decoded; `keyId` is derived from the commitment, not stored. */
export interface ShortKeyHeader {
  version: 2
  providerId: string
  wrappedKey: Buffer
  commitment: Buffer
  keyId: Buffer
}

/** A short value split into its key id and body, not yet decrypted. */
export interface ShortValue {
  keyId: Buffer
  body: Buffer
}

/** The key id of a data key: the first 9 bytes of SHA-256("kfe v2 key id" 0x00 commitment). */
export function shortKeyId(commitment: Buffer): Buffer {
  if (commitment.length !== COMMITMENT_BYTES) throw new RangeError('commitment must be 32 bytes')
  return createHash('sha256').update(KEY_ID_INFO).update(commitment).digest().subarray(0, KEY_ID_BYTES)
}

/** The key header bytes: the v1 header layout (padded to a multiple of 3) with version byte 2. */
export function encodeKeyHeaderBytes(header: { providerId: string; wrappedKey: Buffer; commitment: Buffer }): Buffer {
  const bytes = encodeHeader(header) // validates provider id, wrapped-key size and commitment size
  bytes.writeUInt8(SHORT_FORMAT_VERSION, 0)
  return bytes
}

/** The key-header column text: "$kfh$" + base64url(header bytes). */
export function encodeKeyHeader(header: { providerId: string; wrappedKey: Buffer; commitment: Buffer }): string {
  return KEY_HEADER_PREFIX + encodeKeyHeaderBytes(header).toString('base64url')
}

export function looksKeyHeader(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(KEY_HEADER_PREFIX)
}

/** Parses the key-header column text; throws MalformedCiphertextError (never naming the text). */
export function decodeKeyHeader(text: string, at: FieldLocation): ShortKeyHeader {
  const fail = (problem: string): never => {
    throw new MalformedCiphertextError(at, problem)
  }
  if (typeof text !== 'string' || !text.startsWith(KEY_HEADER_PREFIX)) fail('not a version 2 key header')
  const bytes = decodeBase64Url(text.slice(KEY_HEADER_PREFIX.length))
  if (!bytes) return fail('key header: not canonical base64url')
  if (bytes[0] !== SHORT_FORMAT_VERSION) fail(`key header: unknown format version ${bytes[0]}`)
  if (bytes.length % 3 !== 0) fail('key header: bad header length')
  // The layout after the version byte is v1's: parse it with v1's strict decoder.
  const asV1 = Buffer.from(bytes)
  asV1[0] = 1
  const h = decodeHeader(asV1, at) // its MalformedCiphertextErrors name the problem, never the bytes
  return {
    version: SHORT_FORMAT_VERSION,
    providerId: h.providerId,
    wrappedKey: h.wrappedKey,
    commitment: h.commitment,
    keyId: shortKeyId(h.commitment),
  }
}

export function looksShortText(value: string): boolean {
  return value.startsWith(SHORT_TEXT_PREFIX)
}

export function looksShortBytes(value: Uint8Array): boolean {
  return (
    value.length >= SHORT_BYTES_PREFIX.length &&
    value[0] === SHORT_BYTES_PREFIX[0] &&
    value[1] === SHORT_BYTES_PREFIX[1] &&
    value[2] === SHORT_BYTES_PREFIX[2] &&
    value[3] === SHORT_BYTES_PREFIX[3]
  )
}

/** Whether a stored value is a short value (a prefix test: no decoding). */
export function looksShort(value: unknown): value is string | Uint8Array {
  return typeof value === 'string' ? looksShortText(value) : value instanceof Uint8Array && looksShortBytes(value)
}

export function encodeShortText(keyId: Buffer, body: Buffer): string {
  checkParts(keyId, body)
  return SHORT_TEXT_PREFIX + keyId.toString('base64url') + body.toString('base64url')
}

export function encodeShortBytes(keyId: Buffer, body: Buffer): Uint8Array {
  checkParts(keyId, body)
  const out = Buffer.concat([SHORT_BYTES_PREFIX, keyId, body])
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

function checkParts(keyId: Buffer, body: Buffer): void {
  if (keyId.length !== KEY_ID_BYTES) throw new RangeError('key id must be 9 bytes')
  if (body.length < MIN_BODY_BYTES) throw new RangeError('body too short')
}

/** Splits the text form; throws MalformedCiphertextError. */
export function splitShortText(value: string, at: FieldLocation): ShortValue {
  if (!value.startsWith(SHORT_TEXT_PREFIX)) throw new MalformedCiphertextError(at, 'not a version 2 value')
  const start = SHORT_TEXT_PREFIX.length
  const idText = value.slice(start, start + KEY_ID_CHARS)
  if (idText.length !== KEY_ID_CHARS) throw new MalformedCiphertextError(at, 'truncated key id')
  // 12 characters are 3 whole quanta: in the alphabet means canonical.
  if (!isCanonicalBase64Url(idText)) throw new MalformedCiphertextError(at, 'not canonical base64url')
  const body = decodeBase64Url(value.slice(start + KEY_ID_CHARS))
  if (!body) throw new MalformedCiphertextError(at, 'not canonical base64url')
  if (body.length < MIN_BODY_BYTES) throw new MalformedCiphertextError(at, 'truncated body')
  return { keyId: Buffer.from(idText, 'base64url'), body }
}

/** Splits the bytes form; throws MalformedCiphertextError. */
export function splitShortBytes(value: Uint8Array, at: FieldLocation): ShortValue {
  if (!looksShortBytes(value)) throw new MalformedCiphertextError(at, 'not a version 2 value')
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  const start = SHORT_BYTES_PREFIX.length
  if (buf.length < start + KEY_ID_BYTES + MIN_BODY_BYTES) throw new MalformedCiphertextError(at, 'truncated value')
  return { keyId: buf.subarray(start, start + KEY_ID_BYTES), body: buf.subarray(start + KEY_ID_BYTES) }
}

/** Splits either form (text for a string, bytes for a Uint8Array). */
export function splitShort(value: unknown, at: FieldLocation): ShortValue {
  if (typeof value === 'string') return splitShortText(value, at)
  if (value instanceof Uint8Array) return splitShortBytes(value, at)
  throw new MalformedCiphertextError(at, 'not a version 2 value')
}

/**
 * Ties a value to its row's key header: the value's key id must be the one the header's
 * commitment hashes to. A value paired with another data key's header is a DecryptionFailedError
 * (it was moved, or the row's key header was changed), raised before any key is unwrapped.
 */
export function checkPairing(value: ShortValue, header: ShortKeyHeader, at: FieldLocation): void {
  if (!value.keyId.equals(header.keyId)) {
    throw new DecryptionFailedError(at, "key id mismatch: the value does not belong to its row's key header")
  }
}

/** The id the data-key cache knows a short value's data key by: "$kf2$" + the key id's 12 characters. */
export function shortCacheId(keyId: Buffer): string {
  return SHORT_TEXT_PREFIX + keyId.toString('base64url')
}

/**
 * Splits a short value for decryption: the cache id is the value's own first 17 characters (text
 * form: no decoding), the body is decoded strictly. Throws MalformedCiphertextError.
 */
export function splitShortEnvelope(value: string | Uint8Array, at: FieldLocation, sameIdAs?: string): SplitEnvelope {
  if (typeof value === 'string') {
    // The hot path of a read: no key-id decoding and no alphabet scan here. The id is only looked
    // up: a cached id is canonical, and on a miss `keyHeaderAsV1` refuses one that is not.
    const end = SHORT_TEXT_PREFIX.length + KEY_ID_CHARS
    if (value.length < end || !value.startsWith(SHORT_TEXT_PREFIX)) throw new MalformedCiphertextError(at, 'truncated key id')
    const body = decodeBase64Url(value.slice(end))
    if (!body) throw new MalformedCiphertextError(at, 'not canonical base64url')
    if (body.length < MIN_BODY_BYTES) throw new MalformedCiphertextError(at, 'truncated body')
    // Values of one batch mostly share their key: the same string, so lookups compare by identity.
    const headerId = sameIdAs !== undefined && sameIdAs.length === end && value.startsWith(sameIdAs) ? sameIdAs : value.slice(0, end)
    return { headerId, header: undefined, headerText: undefined, body, short: true }
  }
  const { keyId, body } = splitShortBytes(value, at)
  return { headerId: shortCacheId(keyId), header: undefined, headerText: undefined, body, short: true }
}

/** A key header read for a short value: its data key's header in the version 1 layout, and that header's cache id. */
export interface KeyHeaderAsV1 {
  /** The header bytes with version byte 1: what a version 1 value of this data key carries. */
  header: Buffer
  /** Its base64url text: the id a version 1 value of this data key is cached by. */
  headerId: string
}

/**
 * Reads the key header of a short value: strictly parsed (MalformedCiphertextError), then paired
 * with the value (its cache id `shortId` must be the one the header's commitment gives, else
 * DecryptionFailedError, before any key is unwrapped). Returns the header in version 1 layout,
 * so that the data key is unwrapped, checked and cached exactly as a version 1 value's.
 */
export function keyHeaderAsV1(keyHeader: string, shortId: string, at: FieldLocation): KeyHeaderAsV1 {
  if (!isCanonicalBase64Url(shortId.slice(SHORT_TEXT_PREFIX.length))) throw new MalformedCiphertextError(at, 'not canonical base64url')
  const decoded = decodeKeyHeader(keyHeader, at)
  if (shortCacheId(decoded.keyId) !== shortId) {
    throw new DecryptionFailedError(at, "key id mismatch: the value does not belong to its row's key header")
  }
  const header = decodeBase64Url(keyHeader.slice(KEY_HEADER_PREFIX.length))!
  header[0] = FORMAT_VERSION
  return { header, headerId: header.toString('base64url') }
}

/** The key-header text of a data key from its version 1 header bytes (the same layout, version byte 2). */
export function keyHeaderOfV1(header: Buffer): string {
  const bytes = Buffer.from(header)
  bytes[0] = SHORT_FORMAT_VERSION
  return KEY_HEADER_PREFIX + bytes.toString('base64url')
}
