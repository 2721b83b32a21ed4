/**
 * The additional authenticated data of a stored value: what the cipher binds a ciphertext to
 * besides the key. The format version and the key commitment (the header's stable fields), then
 * the field's place in the database:
 *
 *   AAD : version u8 | keyCommitment (32) | table (UTF-8) | 0x00 | column (UTF-8)
 *
 * The provider id and the wrapped key are deliberately outside it: the commitment already binds
 * the data key, so a data key can be re-wrapped (KMS ReEncrypt) and the header rewritten without
 * touching the body.
 */
import { COMMITMENT_BYTES } from './data-key-material'

/** The field part of the AAD, built once per field: "table" 0x00 "column". */
export function fieldAadSuffix(table: string, column: string): Buffer {
  return Buffer.from(`${table}\u0000${column}`, 'utf8')
}

/** The AAD of every value of one data key in one column (`aadSuffix` from `fieldAadSuffix`). */
export function associatedData(version: number, commitment: Buffer, aadSuffix: Buffer): Buffer {
  if (commitment.length !== COMMITMENT_BYTES) throw new RangeError('commitment must be 32 bytes')
  return Buffer.concat([Buffer.of(version), commitment, aadSuffix])
}

/**
 * What a scoped value (a tenant's) appends to its field's AAD suffix: 0x00 "scope" 0x00 scope
 * (UTF-8). Column names cannot contain NUL, so a scoped AAD never equals an unscoped one, and a
 * value copied to another scope's row fails authentication.
 *
 *   scoped AAD : version u8 | keyCommitment (32) | table | 0x00 | column | 0x00 | "scope" | 0x00 | scope
 */
export function scopedAadSuffix(fieldSuffix: Buffer, scope: string): Buffer {
  return Buffer.concat([fieldSuffix, Buffer.from(`\u0000scope\u0000${scope}`, 'utf8')])
}
