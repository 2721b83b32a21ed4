import { hkdfSync } from 'node:crypto'
import { KEY_BYTES } from './aes-gcm'

/**
 * What a data key turns into, once per data key (never once per value): the AES-256-GCM key
 * that encrypts values and the key-commitment value stored in every header. Committing to the
 * key stops a crafted value from decrypting to different plaintexts under different keys.
 */
export interface DerivedKeys {
  encryptionKey: Buffer
  commitment: Buffer
}

/** Size of the key commitment stored in every header. */
export const COMMITMENT_BYTES = 32

const EMPTY_SALT = Buffer.alloc(0)

export function deriveKeys(dataKey: Buffer): DerivedKeys {
  return {
    encryptionKey: Buffer.from(hkdfSync('sha256', dataKey, EMPTY_SALT, 'kms-field-encryption/v1/encryption-key', KEY_BYTES)),
    commitment: Buffer.from(hkdfSync('sha256', dataKey, EMPTY_SALT, 'kms-field-encryption/v1/key-commitment', COMMITMENT_BYTES)),
  }
}
