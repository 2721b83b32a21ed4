import { createHmac, hkdfSync } from 'node:crypto'
import { INDEX_MAC_BYTES } from './stored-index-format'

const LABEL = 'kms-field-encryption/blind-index'
export const ROOT_KEY_MIN_BYTES = 32

/**
 * The key of one blind index column: HKDF-SHA256 of the root key, with the index version, the
 * table and the column in `info`. Each column (and each version) gets an independent key, so
 * equal plaintexts in two columns have unrelated indexes and a value copied from one column to
 * another never matches.
 *
 *   info = "kms-field-encryption/blind-index" 0x00 version(decimal) 0x00 table 0x00 column
 *   (table and column are database names, after @@map/@map; they cannot contain 0x00)
 *
 * A scoped index (a tenant's) appends 0x00 "scope" 0x00 scope to `info`: equal plaintexts in two
 * scopes get unrelated indexes, and an unscoped index never equals a scoped one.
 */
export function deriveBlindIndexKey(rootKey: Buffer, version: number, table: string, column: string, scope?: string): Buffer {
  if (rootKey.length < ROOT_KEY_MIN_BYTES) throw new RangeError(`the blind index root key must have at least ${ROOT_KEY_MIN_BYTES} bytes`)
  const scoped = scope === undefined ? '' : `\u0000scope\u0000${scope}`
  const info = Buffer.from(`${LABEL}\u0000${version}\u0000${table}\u0000${column}${scoped}`, 'utf8')
  return Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), info, INDEX_MAC_BYTES))
}

/** HMAC-SHA256 of the (already normalised) UTF-8 text under a column key. */
export function blindIndexMac(columnKey: Buffer, normalized: string): Buffer {
  return createHmac('sha256', columnKey).update(normalized, 'utf8').digest()
}
