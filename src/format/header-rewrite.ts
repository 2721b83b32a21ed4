import { MalformedCiphertextError, type FieldLocation } from '../errors'
import { BYTES_PREFIX, TEXT_PREFIX, encodeHeader, splitBytes, splitText, type EnvelopeHeader } from './envelope-format'

// Swapping a stored value's header for another wrapping of the same data key: what `rotate` does
// when KMS re-wraps a data key (ReEncrypt). The body (iv, ciphertext, tag) is kept byte for byte;
// the AAD binds the version and the key commitment, not the wrapped key, so the value still opens.

/** The header bytes for the same data key (same commitment) wrapped differently. */
export function rewrappedHeader(header: EnvelopeHeader, wrappedKey: Buffer, providerId = header.providerId): Buffer {
  return encodeHeader({ providerId, wrappedKey, commitment: header.commitment })
}

/**
 * `value` with its header replaced by `header` (bytes of a header of the same data key). `at`
 * names the field in errors (a FieldContext will do: errors copy only model and field).
 */
export function withHeader(value: string | Uint8Array, header: Buffer, at: FieldLocation): string | Buffer {
  if (typeof value === 'string') {
    const split = splitText(value, at)
    const bodyText = value.slice(TEXT_PREFIX.length + split.headerText!.length)
    return TEXT_PREFIX + header.toString('base64url') + bodyText
  }
  const split = splitBytes(value, at)
  if (split.body.length === 0) throw new MalformedCiphertextError(at, 'truncated body')
  return Buffer.concat([BYTES_PREFIX, header, split.body])
}
