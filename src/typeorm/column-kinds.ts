import type { EntityMetadata } from 'typeorm'

type ColumnMetadata = EntityMetadata['columns'][number]

/** What an encrypted or index column holds, judged from its TypeORM column type. */
export type ColumnKind = { type: 'String' | 'Bytes'; isList: boolean }

const UNBOUNDED_TEXT = new Set(['text', 'tinytext', 'mediumtext', 'longtext', 'clob', 'ntext', 'citext'])
const VARYING_TEXT = new Set(['varchar', 'character varying', 'nvarchar', 'string', 'varchar2', 'nvarchar2'])
const BINARY = new Set(['bytea', 'blob', 'mediumblob', 'longblob', 'varbinary', 'binary'])
/** Drivers whose varchar has no enforced length unless one is given. */
const LENGTHLESS_VARCHAR = new Set([
  'sqlite',
  'better-sqlite3',
  'sqljs',
  'capacitor',
  'cordova',
  'expo',
  'react-native',
  'nativescript',
  'postgres',
])

function typeName(column: ColumnMetadata): string {
  const t = column.type as unknown
  if (typeof t === 'function') return (t as { name: string }).name.toLowerCase()
  return String(t).toLowerCase()
}

/**
 * The kind of an encrypted column, or the reason it cannot hold ciphertext. Ciphertexts are
 * longer than their plaintexts (a header with the wrapped data key), so text columns must be
 * unbounded: `text`, or a varchar without a length where the database does not enforce one.
 */
export function encryptedColumnKind(column: ColumnMetadata, driverType: string): ColumnKind | string {
  const name = typeName(column)
  if (name === 'simple-array') return { type: 'String', isList: true }
  if (BINARY.has(name) || name === 'buffer' || name === 'uint8array') {
    return column.isArray ? 'lists of binary values are not supported' : { type: 'Bytes', isList: false }
  }
  const text = UNBOUNDED_TEXT.has(name) || (VARYING_TEXT.has(name) && !column.length && LENGTHLESS_VARCHAR.has(driverType))
  if (text) return { type: 'String', isList: column.isArray }
  if (VARYING_TEXT.has(name))
    return `column type '${name}${column.length ? `(${column.length})` : ''}' is too short for ciphertext; use 'text'`
  return `column type '${name}' cannot hold ciphertext; use 'text' (or 'simple-array', a text array, or a binary type)`
}

/** Whether a blind index column can hold `v<version>:<base64url HMAC>` (about 50 characters). */
export function isIndexColumn(column: ColumnMetadata): boolean {
  const name = typeName(column)
  if (column.isArray) return false
  if (UNBOUNDED_TEXT.has(name)) return true
  return VARYING_TEXT.has(name) && (!column.length || Number(column.length) >= 64)
}

/**
 * Whether a key-header column can hold `$kfh$` + base64url(header): about 150 characters with the
 * local provider, 300 with AWS KMS, more with longer wrapped keys; a varchar needs at least 1024
 * (as the Prisma generator asks of a MySQL column).
 */
export function isKeyHeaderColumn(column: ColumnMetadata, driverType: string): boolean {
  const name = typeName(column)
  if (column.isArray) return false
  if (UNBOUNDED_TEXT.has(name)) return true
  if (!VARYING_TEXT.has(name)) return false
  return column.length ? Number(column.length) >= 1024 : LENGTHLESS_VARCHAR.has(driverType)
}
