import type { ColumnTarget } from './column-target'

/**
 * Everything the migration asks of a database, and nothing more: the one seam where another
 * database (MySQL/MariaDB, SQLite) plugs in. PostgreSQL (a server through `pg`, or an embedded
 * PGlite) implements it in `postgres-database.ts`.
 *
 * Primary keys travel as text (each key column cast to text when read, and cast back to its own
 * type when compared), so keys of any type (integers, bigints, uuids, timestamps with
 * microseconds...) round-trip exactly and order as the database orders them.
 */
export interface SqlDatabase {
  /** `postgresql`, later `mysql` or `sqlite`. */
  readonly dialect: string
  /** A short description for messages and reports; never contains a password. */
  readonly description: string
  /** How many statements can usefully run at once (1 for an embedded database). */
  readonly maxConcurrency: number

  /** Checks that the table and its columns exist and learns their types. Call once per target. */
  prepare(target: ColumnTarget): Promise<void>

  /** How many rows match (for progress and status). */
  count(target: ColumnTarget, filter: RowFilter, shard?: Shard): Promise<number>

  /**
   * The next rows in primary-key order after `after` (all rows from the start when undefined),
   * at most `limit`: keyset pagination, so each call costs the same wherever it is in the table.
   */
  readBatch(
    target: ColumnTarget,
    filter: RowFilter,
    after: readonly string[] | undefined,
    limit: number,
    shard?: Shard,
  ): Promise<StoredRow[]>

  /** The rows with these keys, as they are now (rows that were deleted are missing). */
  readRows(target: ColumnTarget, keys: ReadonlyArray<readonly string[]>): Promise<StoredRow[]>

  /**
   * Compare-and-set: each row is updated only if its column still holds exactly `old` (so a
   * value an application wrote in the meantime is never overwritten). Each statement is atomic
   * on its own; no transaction spans calls. Returns the keys of the rows that were updated.
   */
  compareAndSet(target: ColumnTarget, writes: readonly CasWrite[]): Promise<Set<string>>

  /**
   * Runs one statement on the library's own tables (the scope key table `kfe_scope_keys`), with
   * bound parameters (`$1`... on PostgreSQL, `?` elsewhere); returns its rows (none for a write).
   */
  runStatement(sql: string, params: readonly unknown[]): Promise<Array<Record<string, unknown>>>

  close(): Promise<void>
}

/**
 * Which rows to read:
 * - `all`: every row; `present`: every row with a value;
 * - `encrypted`: the rows whose value (or any list element) starts with this library's prefix;
 * - `not-encrypted`: the rows whose value (or any list element) is not in this library's
 *   format: no prefix, or a prefix on a value that cannot be ours by its shape (text: shorter
 *   than {@link MIN_TEXT_VALUE_LENGTH} or a character outside base64url after the prefix;
 *   bytes: shorter than {@link MIN_BYTES_VALUE_LENGTH}). `encrypt` reports the latter as failed
 *   rather than taking them for encrypted values;
 * - `{ indexesNotOnVersion }`: the rows with a blind index missing, stray (set while the value
 *   is NULL) or not on `version`.
 */
export type RowFilter = 'all' | 'present' | 'not-encrypted' | 'encrypted' | { indexesNotOnVersion: number }

/**
 * The shortest stored value of this library's format: the prefix, a header of at least 42 bytes
 * (fixed fields, a provider id and a wrapped key of at least one byte each, padded to a multiple
 * of 3) and a body of at least 28 bytes (iv and tag): 5 + 56 + 38 characters in the text form.
 */
export const MIN_TEXT_VALUE_LENGTH = 99
export const MIN_BYTES_VALUE_LENGTH = 4 + 42 + 28
/**
 * The shortest short value (format version 2): the prefix, the 9-byte key id (12 characters) and a
 * body of at least 28 bytes: 5 + 12 + 38 characters in the text form, 4 + 9 + 28 bytes in the bytes form.
 */
export const MIN_SHORT_TEXT_VALUE_LENGTH = 55
export const MIN_SHORT_BYTES_VALUE_LENGTH = 4 + 9 + 28

/** Part `index` (0-based) of `count` disjoint parts of the key space. */
export interface Shard {
  index: number
  count: number
}

export interface StoredRow {
  /** Primary key values as text, in key order. */
  key: string[]
  /**
   * The same values as the driver returns the key columns (not cast to text: a PostgreSQL
   * `integer` is a number), in key order. Only to name a row to the application (errors).
   */
  keyValues: unknown[]
  /** The column's value as the driver returns it (string, Uint8Array, string[] or null). */
  value: unknown
  /** Blind index columns of this field, by column name. */
  indexes: Record<string, unknown>
  /** A row-scoped model's row: its scope column (null when the row has none). */
  scope?: string | null
  /** A target with a key-header column: that column as read (null when it is NULL). */
  keyHeader?: unknown
}

export interface CasWrite {
  key: readonly string[]
  /** The value that was read; the row is updated only if the column still holds it. */
  old: unknown
  /** The new value of the column. */
  value: unknown
  /** New values of blind index columns, by column name (only those that change). */
  indexes?: Record<string, unknown>
  /**
   * A row-scoped model's row: the scope it was read with. The row is updated only if its scope
   * column still holds it (the value was sealed under it), compared byte for byte.
   */
  scope?: string
  /**
   * A target with a key-header column: the key header that was read (the row is updated only if
   * the column still holds it) and the one to write with the value (null: the column set to NULL).
   */
  keyHeader?: { old: unknown; value: string | null }
}

/** One string per key, to put keys in sets and maps. */
export function keyId(key: readonly string[]): string {
  return key.length === 1 ? key[0]! : key.join('\u0000')
}
