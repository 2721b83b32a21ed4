import { createCipheriv, randomBytes, timingSafeEqual } from 'node:crypto'
import { IV_BYTES, TAG_BYTES, open } from '../cipher/aes-gcm'
import { associatedData } from '../cipher/associated-data'
import { deriveKeys } from '../cipher/data-key-material'
import type { FieldContext } from '../cipher/field-context'
import { DecryptionFailedError } from '../errors'
import { locate, toPlainBytes } from './stored-values'
import type { StoredValue } from './envelope-encryptor'
import {
  SHORT_FORMAT_VERSION,
  checkPairing,
  encodeShortBytes,
  encodeShortText,
  shortKeyId,
  splitShort,
  type ShortKeyHeader,
} from '../format/short-format'

/**
 * Sealing and opening one short value (format version 2) with node:crypto AES-256-GCM, from the
 * data key itself: the encryption key and the commitment are derived from it (HKDF, as v1), the
 * commitment is checked against the key header before anything is opened, and the AAD is v1's
 * construction with version 2. Not wired into the encryptor: the caller holds the data key and
 * the row's key header (see docs/format-v2.md). Derives the keys on every call (two HKDFs): an
 * engine would cache them per data key as v1's DataKeyEntry does.
 */

/** The AAD of a short value: v1's `associatedData` with version byte 2 (scoped contexts append their scope). */
export function shortAssociatedData(commitment: Buffer, ctx: FieldContext): Buffer {
  return associatedData(SHORT_FORMAT_VERSION, commitment, ctx.aadSuffix)
}

/**
 * Encrypts `plaintext` (a string for a text field, a Uint8Array for a bytes field) under `dataKey`
 * for the field `ctx`, as a short value (text form for text fields, bytes form for bytes fields).
 * `commitment` is the row's key header commitment: it must be this data key's (else RangeError,
 * a caller bug: the value would never open under that header).
 */
export function sealShort(dataKey: Buffer, commitment: Buffer, ctx: FieldContext, plaintext: unknown): StoredValue {
  return sealShortWithIv(dataKey, commitment, ctx, plaintext, randomBytes(IV_BYTES))
}

/**
 * `sealShort` with a given IV. For test vectors only: an IV must never be used twice under one
 * data key (GCM loses confidentiality and authenticity); `sealShort` draws a random one.
 */
export function sealShortWithIv(dataKey: Buffer, commitment: Buffer, ctx: FieldContext, plaintext: unknown, iv: Buffer): StoredValue {
  if (iv.length !== IV_BYTES) throw new RangeError('IV must be 12 bytes')
  const plain = toPlainBytes(plaintext, ctx) // InvalidFieldValueError for a wrong type or a lone surrogate
  const derived = deriveKeys(dataKey)
  try {
    if (commitment.length !== derived.commitment.length || !timingSafeEqual(commitment, derived.commitment)) {
      throw new RangeError('the commitment is not the data key’s')
    }
    const cipher = createCipheriv('aes-256-gcm', derived.encryptionKey, iv)
    cipher.setAAD(shortAssociatedData(commitment, ctx))
    const head = cipher.update(plain)
    const tail = cipher.final()
    const body = Buffer.concat([iv, head, tail, cipher.getAuthTag()], IV_BYTES + head.length + tail.length + TAG_BYTES)
    const keyId = shortKeyId(commitment)
    return ctx.kind === 'text' ? encodeShortText(keyId, body) : encodeShortBytes(keyId, body)
  } finally {
    derived.encryptionKey.fill(0)
  }
}

/**
 * Decrypts a short value with its row's key header (decoded by `decodeKeyHeader`) and the data
 * key unwrapped from that header. In this order: the value is parsed (MalformedCiphertextError),
 * its key id must be the header's (DecryptionFailedError), the data key must match the header's
 * commitment (DecryptionFailedError, as v1), then AES-256-GCM with the v2 AAD authenticates the
 * value for this table and column (and scope) (DecryptionFailedError). Returns a string for a
 * text field, a Uint8Array for a bytes field; a value of the other form is malformed.
 */
export function openShort(dataKey: Buffer, header: ShortKeyHeader, ctx: FieldContext, value: unknown): StoredValue {
  const at = locate(ctx)
  const split = splitShort(
    ctx.kind === 'text' ? (typeof value === 'string' ? value : undefined) : value instanceof Uint8Array ? value : undefined,
    at,
  )
  checkPairing(split, header, at)
  const derived = deriveKeys(dataKey)
  try {
    if (!timingSafeEqual(derived.commitment, header.commitment))
      throw new DecryptionFailedError(at, 'key commitment mismatch: the value was altered')
    let plain: Buffer
    try {
      plain = open(derived.encryptionKey, split.body, shortAssociatedData(header.commitment, ctx))
    } catch {
      throw new DecryptionFailedError(at)
    }
    return ctx.kind === 'text' ? plain.toString('utf8') : new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength)
  } finally {
    derived.encryptionKey.fill(0)
  }
}
