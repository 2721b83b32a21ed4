import type { FieldContext } from '../cipher/field-context'
import { MalformedCiphertextError } from '../errors'
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
  type EnvelopeHeader,
} from '../format/envelope-format'

/**
 * The header of a stored value, read without decrypting anything, and the same value with its
 * header swapped for another wrapping of the same data key: what `rotate` does when KMS
 * re-wraps a data key (ReEncrypt). The body (iv, ciphertext, tag) is kept byte for byte; the AAD
 * binds the version and the key commitment, not the wrapped key, so the value still opens.
 */
export interface StoredHeader {
  /** Identifies the data key (and is the data-key cache's key): the header's base64url text. */
  headerId: string
  header: EnvelopeHeader
}

export function isStoredEnvelope(value: unknown): value is string | Uint8Array {
  return typeof value === 'string' ? looksEncryptedText(value) : value instanceof Uint8Array && looksEncryptedBytes(value)
}

export function readHeader(value: string | Uint8Array, ctx: FieldContext): StoredHeader {
  const at = { model: ctx.model, field: ctx.field }
  const split = typeof value === 'string' ? splitText(value, at) : splitBytes(value, at)
  return { headerId: split.headerId, header: decodeHeader(headerBytesOf(split, at), at) }
}

/** The header bytes for the same data key (same commitment) wrapped differently. */
export function rewrappedHeader(header: EnvelopeHeader, wrappedKey: Buffer, providerId = header.providerId): Buffer {
  return encodeHeader({ providerId, wrappedKey, commitment: header.commitment })
}

/** `value` with its header replaced by `header` (bytes of a header of the same data key). */
export function withHeader(value: string | Uint8Array, header: Buffer, ctx: FieldContext): string | Buffer {
  const at = { model: ctx.model, field: ctx.field }
  if (typeof value === 'string') {
    const split = splitText(value, at)
    const bodyText = value.slice(TEXT_PREFIX.length + split.headerText!.length)
    return TEXT_PREFIX + header.toString('base64url') + bodyText
  }
  const split = splitBytes(value, at)
  if (split.body.length === 0) throw new MalformedCiphertextError(at, 'truncated body')
  return Buffer.concat([BYTES_PREFIX, header, split.body])
}
