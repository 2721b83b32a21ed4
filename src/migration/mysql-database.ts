import { storedIndexPrefix } from '../blind-index/stored-index-format'
import { ConfigurationError } from '../errors'
import { BYTES_PREFIX, TEXT_PREFIX } from '../format/envelope-format'
import { SHORT_BYTES_PREFIX, SHORT_TEXT_PREFIX } from '../format/short-format'
import type { ColumnTarget } from './column-target'
import { keysetBatchSelect, type BatchSelectDialect } from './keyset-batch-select'
import { columnsReadBy, inOnlyScope, storedRowOf, storedRowSelectList } from './stored-row-select'
import {
  keyId,
  MIN_BYTES_VALUE_LENGTH,
  MIN_SHORT_BYTES_VALUE_LENGTH,
  MIN_SHORT_TEXT_VALUE_LENGTH,
  MIN_TEXT_VALUE_LENGTH,
  type CasWrite,
  type RowFilter,
  type Shard,
  type SqlDatabase,
  type StoredRow,
} from './sql-database'

/** What the MySQL SQL needs from a driver: a `mariadb` pool fits (`?` placeholders). */
export interface MysqlDriver {
  query(sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>>
  /** Runs `work` on one connection inside a transaction (committed when it resolves). */
  transaction<T>(work: (run: (sql: string, params: unknown[]) => Promise<{ affectedRows: number }>) => Promise<T>): Promise<T>
  end(): Promise<void>
}

const TEXT_TYPES = /^(char|varchar|tinytext|text|mediumtext|longtext)$/
const BYTES_TYPES = /^(binary|varbinary|tinyblob|blob|mediumblob|longblob)$/
/** At most this many keys per `IN (...)` read. */
const MAX_KEYS = 5_000

/**
 * The migration's SQL for MySQL and MariaDB. Keyset pagination on the primary key, written out
 * (`a > ? OR (a = ? AND b > ?)`) so that both servers use the primary key index; keys read as
 * text (`CAST(k AS CHAR)`) and compared as the column's type. Compare-and-set writes are one
 * `UPDATE ... WHERE key AND col <=> ?` per row (`<=>` is MySQL's NULL-safe equality, PostgreSQL's
 * IS NOT DISTINCT FROM), pipelined on one connection inside one transaction per batch: killed at
 * any moment, a batch is written fully or not at all. The driver must report matched rows
 * (the mariadb driver's default `foundRows: true`). Comparisons of our prefixes are binary
 * (`CAST(... AS BINARY)`), since the usual utf8mb4 collations ignore case.
 */
export class MysqlDatabase implements SqlDatabase {
  readonly dialect = 'mysql'
  private readonly tables = new Map<string, Map<string, string>>()

  constructor(
    private readonly driver: MysqlDriver,
    readonly description: string,
    readonly maxConcurrency: number,
  ) {}

  async prepare(target: ColumnTarget): Promise<void> {
    let types = this.tables.get(target.table)
    if (!types) {
      let rows: Array<Record<string, unknown>>
      try {
        rows = await this.driver.query(
          'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?',
          [target.table],
        )
      } catch (err) {
        throw new ConfigurationError(`${target.model}: could not read the columns of table \`${target.table}\` (${(err as Error).message})`)
      }
      if (rows.length === 0) {
        throw new ConfigurationError(
          `${target.model}: table \`${target.table}\` not found in ${this.description} (wrong database, or migrations not applied?)`,
        )
      }
      types = new Map(rows.map((r) => [String(r.name), String(r.type).toLowerCase()]))
      this.tables.set(target.table, types)
    }
    for (const column of columnsReadBy(target)) {
      if (!types.has(column)) {
        throw new ConfigurationError(
          `${target.model}: column \`${column}\` not found in table \`${target.table}\` (is the database schema up to date with the Prisma schema?)`,
        )
      }
    }
    if (target.isList) throw new ConfigurationError(`${target.model}.${target.field}: encrypted String[] fields exist on PostgreSQL only`)
    const type = types.get(target.column)!
    if (!(target.kind === 'bytes' ? BYTES_TYPES : TEXT_TYPES).test(type)) {
      throw new ConfigurationError(
        `${target.model}.${target.field}: column \`${target.column}\` has type ${type}, which cannot hold ${target.kind === 'bytes' ? 'bytes' : 'encrypted text'}`,
      )
    }
    const headerType = target.keyHeader && types.get(target.keyHeader.column)!
    if (headerType !== undefined && !TEXT_TYPES.test(headerType)) {
      throw new ConfigurationError(
        `${target.model}.${target.field}: key-header column \`${target.keyHeader!.column}\` has type ${headerType}, which cannot hold a key header (text)`,
      )
    }
  }

  async count(target: ColumnTarget, filter: RowFilter, shard?: Shard): Promise<number> {
    const where = [
      inOnlyScope(target, this.filterSql(target, filter), binaryColumn, hexLiteral),
      ...(shard ? [shardSql(target, shard)] : []),
    ]
    const rows = await this.driver.query(`SELECT CAST(COUNT(*) AS CHAR) AS n FROM ${quote(target.table)} WHERE ${where.join(' AND ')}`, [])
    return Number(rows[0]!.n)
  }

  async readBatch(
    target: ColumnTarget,
    filter: RowFilter,
    after: readonly string[] | undefined,
    limit: number,
    shard?: Shard,
  ): Promise<StoredRow[]> {
    const { sql, params } = keysetBatchSelect(
      MYSQL_BATCH_SELECT,
      target,
      inOnlyScope(target, this.filterSql(target, filter), binaryColumn, hexLiteral),
      after,
      limit,
      shard,
    )
    return (await this.driver.query(sql, params)).map((r) => storedRowOf(target, r))
  }

  async readRows(target: ColumnTarget, keys: ReadonlyArray<readonly string[]>): Promise<StoredRow[]> {
    const out: StoredRow[] = []
    for (let start = 0; start < keys.length; start += MAX_KEYS) {
      const params: unknown[] = []
      const tuples = keys.slice(start, start + MAX_KEYS).map((key) => {
        params.push(...key)
        return `(${key.map(() => '?').join(', ')})`
      })
      const sql = `SELECT ${storedRowSelectList(target, quote, (q) => `CAST(${q} AS CHAR)`)} FROM ${quote(target.table)} WHERE (${target.primaryKey.map(quote).join(', ')}) IN (${tuples.join(', ')})`
      for (const r of await this.driver.query(sql, params)) out.push(storedRowOf(target, r))
    }
    return out
  }

  async compareAndSet(target: ColumnTarget, writes: readonly CasWrite[]): Promise<Set<string>> {
    if (writes.length === 0) return new Set()
    return this.driver.transaction(async (run) => {
      const results = await Promise.all(
        writes.map((w) => {
          const indexColumns = Object.keys(w.indexes ?? {})
          const sets = [`${quote(target.column)} = ?`, ...indexColumns.map((c) => `${quote(c)} = ?`)]
          const where = [...target.primaryKey.map((c) => `${quote(c)} = ?`), `${quote(target.column)} <=> ?`]
          const params = [toParam(w.value), ...indexColumns.map((c) => w.indexes![c]), ...w.key, toParam(w.old)]
          if (target.scopeField) {
            // Still the scope the value was sealed under: byte for byte whatever the collation, and
            // as hex, which no sql_mode (NO_BACKSLASH_ESCAPES) reads differently.
            where.push(`HEX(CAST(${quote(target.scopeField.column)} AS BINARY)) = ?`)
            params.push(w.scope === undefined ? null : Buffer.from(w.scope, 'utf8').toString('hex').toUpperCase())
          }
          if (target.keyHeader) {
            // The key header with the value, and only over the one read (byte for byte, as hex: see the scope).
            const column = quote(target.keyHeader.column)
            sets.push(`${column} = ?`)
            params.splice(1 + indexColumns.length, 0, w.keyHeader?.value ?? null)
            where.push(`HEX(CAST(${column} AS BINARY)) <=> ?`)
            params.push(typeof w.keyHeader?.old === 'string' ? Buffer.from(w.keyHeader.old, 'utf8').toString('hex').toUpperCase() : null)
          }
          return run(`UPDATE ${quote(target.table)} SET ${sets.join(', ')} WHERE ${where.join(' AND ')}`, params)
        }),
      )
      const done = new Set<string>()
      results.forEach((r, i) => {
        if (r.affectedRows > 0) done.add(keyId(writes[i]!.key))
      })
      return done
    })
  }

  async runStatement(sql: string, params: readonly unknown[]): Promise<Array<Record<string, unknown>>> {
    const result: unknown = await this.driver.query(sql, [...params])
    return Array.isArray(result) ? (result as Array<Record<string, unknown>>) : [] // a write answers an OK packet
  }

  async close(): Promise<void> {
    await this.driver.end()
  }

  private filterSql(target: ColumnTarget, filter: RowFilter): string {
    const col = quote(target.column)
    if (filter === 'all') return 'TRUE'
    if (typeof filter === 'object') {
      const prefix = storedIndexPrefix(filter.indexesNotOnVersion)
      const stale = target.blindIndexes.map((b) => {
        const index = quote(b.column)
        return `((${col} IS NULL) <> (${index} IS NULL) OR CAST(LEFT(${index}, ${prefix.length}) AS BINARY) <> CAST(${literal(prefix)} AS BINARY))`
      })
      return stale.length > 0 ? `(${stale.join(' OR ')})` : 'FALSE'
    }
    if (filter === 'present') return `${col} IS NOT NULL`
    const bytesPrefix = (prefix: Buffer): string => `LEFT(${col}, ${prefix.length}) = X'${prefix.toString('hex')}'`
    const textPrefix = (prefix: string): string => `CAST(LEFT(${col}, ${prefix.length}) AS BINARY) = CAST(${literal(prefix)} AS BINARY)`
    // Either version: `$kfe$` (version 1) or `$kf2$` (version 2, short).
    const ours =
      target.kind === 'bytes'
        ? `(${bytesPrefix(BYTES_PREFIX)} OR ${bytesPrefix(SHORT_BYTES_PREFIX)})`
        : `(${textPrefix(TEXT_PREFIX)} OR ${textPrefix(SHORT_TEXT_PREFIX)})`
    // Not ours also when the shape cannot be ours (see RowFilter): `encrypt` then fails the row.
    const shaped =
      target.kind === 'bytes'
        ? `((${bytesPrefix(BYTES_PREFIX)} AND LENGTH(${col}) >= ${MIN_BYTES_VALUE_LENGTH}) OR ` +
          `(${bytesPrefix(SHORT_BYTES_PREFIX)} AND LENGTH(${col}) >= ${MIN_SHORT_BYTES_VALUE_LENGTH}))`
        : `((${textPrefix(TEXT_PREFIX)} AND CHAR_LENGTH(${col}) >= ${MIN_TEXT_VALUE_LENGTH}) OR ` +
          `(${textPrefix(SHORT_TEXT_PREFIX)} AND CHAR_LENGTH(${col}) >= ${MIN_SHORT_TEXT_VALUE_LENGTH})) ` +
          `AND CAST(SUBSTRING(${col}, ${TEXT_PREFIX.length + 1}) AS BINARY) NOT REGEXP '[^A-Za-z0-9_-]'`
    return filter === 'encrypted' ? `${col} IS NOT NULL AND ${ours}` : `${col} IS NOT NULL AND NOT (${shaped})`
  }
}

/** `(a, b) > (x, y)` written out, so that MariaDB uses the primary key index too. */
export function keysetAfter(primaryKey: readonly string[], after: readonly string[], params: unknown[]): string {
  const terms: string[] = []
  for (let i = 0; i < primaryKey.length; i++) {
    const eq = primaryKey.slice(0, i).map((c, j) => {
      params.push(after[j])
      return `${quote(c)} = ?`
    })
    params.push(after[i])
    terms.push(`(${[...eq, `${quote(primaryKey[i]!)} > ?`].join(' AND ')})`)
  }
  return `(${terms.join(' OR ')})`
}

/** How MySQL and MariaDB write a batch read: backquotes, `CAST(... AS CHAR)`, `?`, the keyset condition written out. */
const MYSQL_BATCH_SELECT: BatchSelectDialect = {
  quote,
  asText: (q) => `CAST(${q} AS CHAR)`,
  relation: (target) => quote(target.table),
  keyAfter: (target, after, params) => keysetAfter(target.primaryKey, after, params),
  shardSql,
  placeholder: () => '?',
}

/** Rows whose primary key hashes to this shard (CRC32 of the key's text, the same on every worker). */
function shardSql(target: ColumnTarget, shard: Shard): string {
  const text = `CONCAT_WS(',', ${target.primaryKey.map((c) => `CAST(${quote(c)} AS CHAR)`).join(', ')})`
  return `MOD(CRC32(${text}), ${shard.count}) = ${shard.index}`
}

/** A backquoted identifier. */
export function quote(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``
}

/** A column compared byte for byte (scopes are exact; the column's collation may ignore case, accents or trailing spaces). */
function binaryColumn(name: string): string {
  return `CAST(${quote(name)} AS BINARY)`
}

/** A string's UTF-8 bytes as a hex literal: no escaping, whatever the sql_mode (NO_BACKSLASH_ESCAPES). */
function hexLiteral(text: string): string {
  return `X'${Buffer.from(text, 'utf8').toString('hex')}'`
}

function literal(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

function toParam(value: unknown): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  return value
}
