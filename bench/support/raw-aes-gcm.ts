import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * The baseline the benchmarks compare against: the least an encrypted-string column must do for
 * one value, with raw node:crypto. AES-256-GCM, a random 12-byte IV, the field binding as AAD,
 * stored as base64url(iv | ciphertext | tag); decryption the reverse. No header, no key
 * management, no format checks beyond what GCM authenticates.
 */
export class RawAesGcm {
  private readonly key = randomBytes(32)

  constructor(private readonly aad: Buffer) {}

  encrypt(plaintext: string): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    cipher.setAAD(this.aad)
    const ct = cipher.update(plaintext, 'utf8')
    const tail = cipher.final()
    return Buffer.concat([iv, ct, tail, cipher.getAuthTag()]).toString('base64url')
  }

  decrypt(stored: string): string {
    const buf = Buffer.from(stored, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', this.key, buf.subarray(0, 12))
    decipher.setAAD(this.aad)
    decipher.setAuthTag(buf.subarray(buf.length - 16))
    const plain = decipher.update(buf.subarray(12, buf.length - 16))
    decipher.final()
    return plain.toString('utf8')
  }
}
