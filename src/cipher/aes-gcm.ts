import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { RandomIvs } from './random-ivs'

/** AES-256-GCM sizes: the key, the IV (96 bits, the size GCM is made for) and the tag. */
export const KEY_BYTES = 32
export const IV_BYTES = 12
export const TAG_BYTES = 16

const NO_AAD = Buffer.alloc(0)

/**
 * The one AES-256-GCM in the library (stored values, locally wrapped data keys, values read from
 * prisma-field-encryption). `seal` draws a random IV (from `ivs` when a batch draws them
 * together, else its own) and returns iv | ciphertext | tag.
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer = NO_AAD, ivs?: RandomIvs): Buffer {
  const iv = ivs ? ivs.take() : randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  if (aad.length > 0) cipher.setAAD(aad)
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  return Buffer.concat([iv, head, tail, cipher.getAuthTag()], IV_BYTES + head.length + tail.length + TAG_BYTES)
}

/** Opens iv | ciphertext | tag (what `seal` returns); throws when authentication fails. */
export function open(key: Buffer, sealed: Buffer, aad: Buffer = NO_AAD): Buffer {
  return openWithIv(key, sealed.subarray(0, IV_BYTES), sealed.subarray(IV_BYTES), aad)
}

/**
 * Opens ciphertext | tag under an IV stored apart (layouts other than ours, such as
 * prisma-field-encryption's); throws when the sizes are wrong or authentication fails.
 */
export function openWithIv(key: Buffer, iv: Buffer, ciphertextAndTag: Buffer, aad: Buffer = NO_AAD): Buffer {
  if (iv.length !== IV_BYTES || ciphertextAndTag.length < TAG_BYTES) throw new RangeError('AES-GCM input too short')
  const decipher = createDecipheriv('aes-256-gcm', key, iv)
  if (aad.length > 0) decipher.setAAD(aad)
  const end = ciphertextAndTag.length - TAG_BYTES
  decipher.setAuthTag(ciphertextAndTag.subarray(end))
  const head = decipher.update(ciphertextAndTag.subarray(0, end))
  const tail = decipher.final()
  return tail.length === 0 ? head : Buffer.concat([head, tail])
}
