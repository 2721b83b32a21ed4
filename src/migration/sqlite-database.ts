import { crc32 } from 'node:zlib'
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

/** What the migration uses of a better-sqlite3 Database (structural: better-sqlite3 stays optional). */
export interface BetterSqliteLike {
  prepare(sql: string): {
    all(...params: unknown[]): unknown[]
    run(...params: unknown[]): { changes: number }
    /** Whether the statement returns rows (better-sqlite3 refuses `all` on one that does not). */
    readonly reader?: boolean
  }
  transaction<F extends (...args: never[]) => unknown>(fn: F): F
  function(name: string, options: { deterministic?: boolean }, fn: (...args: unknown[]) => unknown): unknown
  close(): unknown
}

/** At most this many keys per `IN (...)` read (SQLite allows 32,766 parameters). */
const MAX_PARAMS = 30_000

/**
 * The migration's SQL for SQLite, through better-sqlite3 (synchronous, one connection). Keyset
 * pagination with row values (`(a, b) > (?, ?)`, on the primary key index), keys read as text
 * (`CAST(k AS TEXT)`; a bound text compared with an INTEGER column takes the column's affinity).
 * Compare-and-set writes are one `UPDATE ... WHERE key AND col IS ?` per row (`IS` is SQLite's
 * NULL-safe equality), all of a batch in one IMMEDIATE transaction: SQLite has one writer at a
 * time, so a batch holds the write lock for the few milliseconds it takes, and an application
 * writing meanwhile waits (its busy timeout) rather than failing; the migration waits likewise
 * (`busyTimeoutMs` when opened by URL). Shards hash the key text with CRC32 (a function
 * registered on the connection).
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite'
  readonly maxConcurrency = 1
  private readonly tables = new Map<string, Map<string, string>>()

  constructor(
    private readonly db: BetterSqliteLike,
    readonly description: string,
    private readonly closeWithDatabase = false,
  ) {
    db.function('kfe_crc32', { deterministic: true }, (text) => (text === null ? null : crc32(String(text))))
  }

  async prepare(target: ColumnTarget): Promise<void> {
    let types = this.tables.get(target.table)
    if (!types) {
      let rows: Array<Record<string, unknown>>
      try {
        rows = this.db.prepare('SELECT name, type FROM pragma_table_info(?)').all(target.table) as Array<Record<string, unknown>>
      } catch (err) {
        throw new ConfigurationError(`${target.model}: could not read the columns of table "${target.table}" (${(err as Error).message})`)
      }
      if (rows.length === 0) {
        throw new ConfigurationError(
          `${target.model}: table "${target.table}" not found in ${this.description} (wrong file, or migrations not applied?)`,
        )
      }
      types = new Map(rows.map((r) => [String(r.name), String(r.type).toUpperCase()]))
      this.tables.set(target.table, types)
    }
    for (const column of columnsReadBy(target)) {
      if (!types.has(column)) {
        throw new ConfigurationError(
          `${target.model}: column "${column}" not found in table "${target.table}" (is the database schema up to date with the Prisma schema?)`,
        )
      }
    }
    if (target.isList) throw new ConfigurationError(`${target.model}.${target.field}: encrypted String[] fields exist on PostgreSQL only`)
    const type = types.get(target.column)!
    const fits = target.kind === 'bytes' ? type === '' || type.includes('BLOB') : type === '' || /CHAR|CLOB|TEXT/.test(type)
    if (!fits) {
      throw new ConfigurationError(
        `${target.model}.${target.field}: column "${target.column}" has type ${type}, which cannot hold ${target.kind === 'bytes' ? 'bytes' : 'encrypted text'}`,
      )
    }
    const headerType = target.keyHeader && types.get(target.keyHeader.column)!
    if (headerType !== undefined && !(headerType === '' || /CHAR|CLOB|TEXT/.test(headerType))) {
      throw new ConfigurationError(
        `${target.model}.${target.field}: key-header column "${target.keyHeader!.column}" has type ${headerType}, which cannot hold a key header (text)`,
      )
    }
  }

  async count(target: ColumnTarget, filter: RowFilter, shard?: Shard): Promise<number> {
    const where = [inOnlyScope(target, filterSql(target, filter), quote, literal), ...(shard ? [shardSql(target, shard)] : [])]
    const rows = this.db.prepare(`SELECT count(*) AS n FROM ${quote(target.table)} WHERE ${where.join(' AND ')}`).all() as Array<{
      n: number
    }>
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
      SQLITE_BATCH_SELECT,
      target,
      inOnlyScope(target, filterSql(target, filter), quote, literal),
      after,
      limit,
      shard,
    )
    return (this.db.prepare(sql).all(...params) as Array<Record<string, unknown>>).map((r) => storedRowOf(target, r))
  }

  async readRows(target: ColumnTarget, keys: ReadonlyArray<readonly string[]>): Promise<StoredRow[]> {
    const out: StoredRow[] = []
    const chunk = Math.max(1, Math.floor(MAX_PARAMS / target.primaryKey.length))
    for (let start = 0; start < keys.length; start += chunk) {
      const params: unknown[] = []
      const tuples = keys.slice(start, start + chunk).map((key) => {
        params.push(...key)
        return `(${key.map(() => '?').join(', ')})`
      })
      const sql = `SELECT ${storedRowSelectList(target, quote, (q) => `CAST(${q} AS TEXT)`)} FROM ${quote(target.table)} WHERE (${target.primaryKey.map(quote).join(', ')}) IN (VALUES ${tuples.join(', ')})`
      for (const r of this.db.prepare(sql).all(...params) as Array<Record<string, unknown>>) out.push(storedRowOf(target, r))
    }
    return out
  }

  async compareAndSet(target: ColumnTarget, writes: readonly CasWrite[]): Promise<Set<string>> {
    const done = new Set<string>()
    const statements = new Map<string, ReturnType<BetterSqliteLike['prepare']>>()
    const write = this.db.transaction(() => {
      for (const w of writes) {
        const indexColumns = Object.keys(w.indexes ?? {})
        const sig = indexColumns.join('\u0000')
        let statement = statements.get(sig)
        if (!statement) {
          const sets = [`${quote(target.column)} = ?`, ...indexColumns.map((c) => `${quote(c)} = ?`)]
          const where = [...target.primaryKey.map((c) => `${quote(c)} = ?`), `${quote(target.column)} IS ?`]
          // Still the scope the value was sealed under.
          if (target.scopeField) where.push(`${quote(target.scopeField.column)} = ?`)
          // The key header with the value, and only over the one read (byte for byte).
          if (target.keyHeader) {
            sets.push(`${quote(target.keyHeader.column)} = ?`)
            where.push(`${quote(target.keyHeader.column)} IS ? COLLATE BINARY`)
          }
          statement = this.db.prepare(`UPDATE ${quote(target.table)} SET ${sets.join(', ')} WHERE ${where.join(' AND ')}`)
          statements.set(sig, statement)
        }
        const params = [toParam(w.value), ...indexColumns.map((c) => w.indexes![c])]
        if (target.keyHeader) params.push(w.keyHeader?.value ?? null)
        params.push(...w.key, toParam(w.old))
        if (target.scopeField) params.push(w.scope ?? null)
        if (target.keyHeader) params.push(w.keyHeader?.old ?? null)
        if (statement.run(...params).changes > 0) done.add(keyId(w.key))
      }
    }) as unknown as { immediate(): void }
    write.immediate()
    return done
  }

  async runStatement(sql: string, params: readonly unknown[]): Promise<Array<Record<string, unknown>>> {
    const statement = this.db.prepare(sql)
    if (statement.reader === false) {
      statement.run(...params)
      return []
    }
    return statement.all(...params) as Array<Record<string, unknown>>
  }

  async close(): Promise<void> {
    if (this.closeWithDatabase) this.db.close()
  }
}

function filterSql(target: ColumnTarget, filter: RowFilter): string {
  const col = quote(target.column)
  if (filter === 'all') return '1'
  if (typeof filter === 'object') {
    const prefix = storedIndexPrefix(filter.indexesNotOnVersion)
    const stale = target.blindIndexes.map((b) => {
      const index = quote(b.column)
      return `((${col} IS NULL) <> (${index} IS NULL) OR substr(${index}, 1, ${prefix.length}) <> ${literal(prefix)} COLLATE BINARY)`
    })
    return stale.length > 0 ? `(${stale.join(' OR ')})` : '0'
  }
  if (filter === 'present') return `${col} IS NOT NULL`
  // A value stored as TEXT in a Bytes column (or the reverse) is not ours: typeof() tells them apart.
  const bytesPrefix = (prefix: Buffer): string => `substr(${col}, 1, ${prefix.length}) = X'${prefix.toString('hex')}'`
  const textPrefix = (prefix: string): string => `substr(${col}, 1, ${prefix.length}) = ${literal(prefix)} COLLATE BINARY`
  // Either version: `$kfe$` (version 1) or `$kf2$` (version 2, short).
  const ours =
    target.kind === 'bytes'
      ? `(typeof(${col}) = 'blob' AND (${bytesPrefix(BYTES_PREFIX)} OR ${bytesPrefix(SHORT_BYTES_PREFIX)}))`
      : `(typeof(${col}) = 'text' AND (${textPrefix(TEXT_PREFIX)} OR ${textPrefix(SHORT_TEXT_PREFIX)}))`
  // Not ours also when the shape cannot be ours (see RowFilter): `encrypt` then fails the row.
  const shaped =
    target.kind === 'bytes'
      ? `${ours} AND ((${bytesPrefix(BYTES_PREFIX)} AND length(${col}) >= ${MIN_BYTES_VALUE_LENGTH}) OR ` +
        `(${bytesPrefix(SHORT_BYTES_PREFIX)} AND length(${col}) >= ${MIN_SHORT_BYTES_VALUE_LENGTH}))`
      : `${ours} AND ((${textPrefix(TEXT_PREFIX)} AND length(${col}) >= ${MIN_TEXT_VALUE_LENGTH}) OR ` +
        `(${textPrefix(SHORT_TEXT_PREFIX)} AND length(${col}) >= ${MIN_SHORT_TEXT_VALUE_LENGTH})) ` +
        `AND NOT (substr(${col}, ${TEXT_PREFIX.length + 1}) GLOB '*[^A-Za-z0-9_-]*')`
  return filter === 'encrypted' ? `${col} IS NOT NULL AND ${ours}` : `${col} IS NOT NULL AND NOT (${shaped})`
}

/** How SQLite writes a batch read: double quotes, `CAST(... AS TEXT)`, `?`, a row-value comparison. */
const SQLITE_BATCH_SELECT: BatchSelectDialect = {
  quote,
  asText: (q) => `CAST(${q} AS TEXT)`,
  relation: (target) => quote(target.table),
  keyAfter: (target, after, params) => {
    params.push(...after)
    return `(${target.primaryKey.map(quote).join(', ')}) > (${after.map(() => '?').join(', ')})`
  },
  shardSql,
  placeholder: () => '?',
}

function shardSql(target: ColumnTarget, shard: Shard): string {
  const text = target.primaryKey.map((c) => `CAST(${quote(c)} AS TEXT)`).join(` || ',' || `)
  return `kfe_crc32(${text}) % ${shard.count} = ${shard.index}`
}

/** A double-quoted identifier. */
function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

/** better-sqlite3 binds Buffers as BLOBs (a plain Uint8Array too, but be explicit). */
function toParam(value: unknown): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  return value
}
