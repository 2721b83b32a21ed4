import { KeyHeaderMissingError, type FieldLocation } from '../errors'
import { decodeHeader, looksEncrypted, readHeader, type EnvelopeHeader } from './envelope-format'
import { keyHeaderAsV1, looksKeyHeader, looksShort, splitShortEnvelope } from './short-format'

/**
 * The stored forms side by side: version 1 values (header inline), version 2 (short) values and
 * their key headers. What must tell them apart from plaintext, and read the data key's header of
 * either version, lives here.
 */

/** Whether a stored value has one of our prefixes (`$kfe$`, `$kf2$`, `$kfh$`, or a bytes prefix): never plaintext. */
export function looksOurs(value: unknown): value is string | Uint8Array {
  return looksEncrypted(value) || looksShort(value) || looksKeyHeader(value)
}

/**
 * The data key's header of a stored value of either version, in version 1 layout, with the id a
 * version 1 value of that key is known by (so one data key is one id, whatever the version). A
 * short value needs its key header (KeyHeaderMissingError without it), which must pair with it.
 */
export function readAnyHeader(
  value: string | Uint8Array,
  at: FieldLocation,
  keyHeader?: unknown,
): { headerId: string; header: EnvelopeHeader; short: boolean } {
  if (!looksShort(value)) return { ...readHeader(value, at), short: false }
  const split = splitShortEnvelope(value, at)
  if (typeof keyHeader !== 'string' || keyHeader === '') throw new KeyHeaderMissingError(at)
  const v1 = keyHeaderAsV1(keyHeader, split.headerId, at)
  return { headerId: v1.headerId, header: decodeHeader(v1.header, at), short: true }
}
