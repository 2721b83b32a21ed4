import { ConfigurationError } from '../errors'
import type { ScopeKeyRecord, ScopeKeyStore } from './scope-key-store'

/**
 * How the store reaches the database: two functions over the application's own connection, with
 * bound parameters (`$1`… on PostgreSQL, `?` on MySQL and SQLite). Each ORM adapter supplies them
 * (`prismaScopeKeyStore`, `typeOrmScopeKeyStore`); the core imports no driver.
 */
export interface ScopeKeySql {
  /** Runs a SELECT, resolving to its rows. */
  query(sql: string, params: unknown[]): Promise<unknown[]>
  /** Runs an INSERT (its result is not used). */
  execute(sql: string, params: unknown[]): Promise<unknown>
}

export type ScopeKeyStoreDialect = 'postgresql' | 'mysql' | 'sqlite'

export interface SqlScopeKeyStoreOptions {
  /** Default `postgresql` (also PGlite). */
  dialect?: ScopeKeyStoreDialect
  /** Default `kfe_scope_keys`. */
  table?: string
  /** The PostgreSQL schema of the table, when it is not on the search path (raw SQL is not qualified). */
  schema?: string
}

interface Row {
  provider_id: string
  wrapped_key: string | null
  shredded_at: unknown
  created_at: unknown
}

const SQL_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * The key table `kfe_scope_keys` (scope text primary key, provider_id, wrapped_key as base64 text,
 * shredded_at, created_at) in SQL, with bound parameters. Shredding turns the row into a
 * tombstone. `putIfAbsent` inserts unless the scope has a row, then reads the row back: this call
 * inserted it when the stored wrapped key is the one it sent (wrapped keys are random), which
 * needs no driver's affected-row count.
 */
export function sqlScopeKeyStore(sql: ScopeKeySql, options: SqlScopeKeyStoreOptions = {}, label = 'sqlScopeKeyStore'): ScopeKeyStore {
  const dialect = options.dialect ?? 'postgresql'
  if (!['postgresql', 'mysql', 'sqlite'].includes(dialect))
    throw new ConfigurationError(`${label}: dialect must be postgresql, mysql or sqlite`)
  const name = options.table ?? 'kfe_scope_keys'
  if (!SQL_NAME.test(name)) throw new ConfigurationError(`${label}: table must be a plain SQL name`)
  if (options.schema !== undefined && !SQL_NAME.test(options.schema))
    throw new ConfigurationError(`${label}: schema must be a plain SQL name`)
  const q = (n: string) => (dialect === 'mysql' ? `\`${n}\`` : `"${n}"`)
  const t = options.schema === undefined ? q(name) : `${q(options.schema)}.${q(name)}`
  const p = (i: number) => (dialect === 'postgresql' ? `$${i}` : '?')
  const insert =
    dialect === 'mysql'
      ? `INSERT IGNORE INTO ${t} (scope, provider_id, wrapped_key) VALUES (?, ?, ?)`
      : `INSERT INTO ${t} (scope, provider_id, wrapped_key) VALUES (${p(1)}, ${p(2)}, ${p(3)}) ON CONFLICT (scope) DO NOTHING`
  const tombstone =
    dialect === 'mysql'
      ? `INSERT INTO ${t} (scope, provider_id, wrapped_key, shredded_at) VALUES (?, '', NULL, CURRENT_TIMESTAMP(3))
         ON DUPLICATE KEY UPDATE wrapped_key = NULL, shredded_at = COALESCE(shredded_at, CURRENT_TIMESTAMP(3))`
      : `INSERT INTO ${t} (scope, provider_id, wrapped_key, shredded_at) VALUES (${p(1)}, '', NULL, CURRENT_TIMESTAMP)
         ON CONFLICT (scope) DO UPDATE SET wrapped_key = NULL, shredded_at = COALESCE(${t}.shredded_at, CURRENT_TIMESTAMP)`
  const select = `SELECT provider_id, wrapped_key, shredded_at, created_at FROM ${t} WHERE scope = ${p(1)}`

  async function get(scope: string): Promise<ScopeKeyRecord | undefined> {
    const row = (await sql.query(select, [scope]))[0] as Row | undefined
    if (!row) return undefined
    return {
      providerId: row.provider_id,
      wrappedKey: row.wrapped_key === null || row.wrapped_key === undefined ? null : Buffer.from(row.wrapped_key, 'base64'),
      shreddedAt: row.shredded_at === null || row.shredded_at === undefined ? null : dateOf(row.shredded_at),
      createdAt: row.created_at ? dateOf(row.created_at) : undefined,
    }
  }

  return {
    get,
    async putIfAbsent(scope: string, record: ScopeKeyRecord): Promise<boolean> {
      const wrapped = record.wrappedKey === null ? null : record.wrappedKey.toString('base64')
      await sql.execute(insert, [scope, record.providerId, wrapped])
      const stored = await get(scope)
      if (!stored || stored.shreddedAt || stored.providerId !== record.providerId) return false
      return record.wrappedKey === null
        ? stored.wrappedKey === null
        : stored.wrappedKey !== null && stored.wrappedKey.equals(record.wrappedKey)
    },
    async delete(scope: string): Promise<void> {
      await sql.execute(tombstone, [scope])
    },
  }
}

/** A timestamp as a driver returns it: a Date, or text (SQLite's `YYYY-MM-DD HH:MM:SS` is UTC). */
function dateOf(value: unknown): Date {
  if (value instanceof Date) return value
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(value)) return new Date(`${value.replace(' ', 'T')}Z`)
  return new Date(value as string | number)
}
