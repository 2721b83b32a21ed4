import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { IV_BYTES, TAG_BYTES } from '../format/envelope-format'
import type { RandomIvs } from './random-ivs'

/**
 * AES-256-GCM with a random 96-bit IV (from `ivs` when a batch draws them together, else its
 * own). Returns iv | ciphertext | tag.
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer, ivs?: RandomIvs): Buffer {
  const iv = ivs ? ivs.take() : randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(aad)
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  return Buffer.concat([iv, head, tail, cipher.getAuthTag()], IV_BYTES + head.length + tail.length + TAG_BYTES)
}

/** Opens iv | ciphertext | tag; throws when authentication fails. */
export function open(key: Buffer, body: Buffer, aad: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES))
  decipher.setAAD(aad)
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
  const head = decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES))
  const tail = decipher.final()
  return tail.length === 0 ? head : Buffer.concat([head, tail])
}
