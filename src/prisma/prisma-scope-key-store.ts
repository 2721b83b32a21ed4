import type { ScopeKeyRecord, ScopeKeyStore } from '../keys/scope-key-store'
import { ConfigurationError } from '../errors'

/** The raw-SQL methods of a Prisma client the store uses (any client, extended or not). */
export interface RawSqlClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>
}

export type ScopeKeyStoreDialect = 'postgresql' | 'mysql' | 'sqlite'

interface Row {
  provider_id: string
  wrapped_key: string | null
  shredded_at: unknown
  created_at: unknown
}

/**
 * The key table `kfe_scope_keys` (scope text primary key, provider_id, wrapped_key as base64 text,
 * shredded_at, created_at) through a Prisma client's raw SQL, with bound parameters. Create the
 * table with the migration in prisma/migrations/20261203000000_scope_keys (PostgreSQL; MySQL and
 * SQLite under prisma/<provider>/migrations). Shredding turns the row into a tombstone.
 */
export interface PrismaScopeKeyStoreOptions {
  /** Default `postgresql` (also PGlite). */
  dialect?: ScopeKeyStoreDialect
  /** Default `kfe_scope_keys`. */
  table?: string
  /** The PostgreSQL schema of the table, when it is not on the search path (raw SQL is not qualified by Prisma). */
  schema?: string
}

export function prismaScopeKeyStore(client: RawSqlClient, options: PrismaScopeKeyStoreOptions = {}): ScopeKeyStore {
  if (!client || typeof client.$queryRawUnsafe !== 'function' || typeof client.$executeRawUnsafe !== 'function') {
    throw new ConfigurationError('prismaScopeKeyStore: expected a Prisma client ($queryRawUnsafe, $executeRawUnsafe)')
  }
  const dialect = options.dialect ?? 'postgresql'
  const name = options.table ?? 'kfe_scope_keys'
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new ConfigurationError('prismaScopeKeyStore: table must be a plain SQL name')
  if (options.schema !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(options.schema))
    throw new ConfigurationError('prismaScopeKeyStore: schema must be a plain SQL name')
  const q = (n: string) => (dialect === 'mysql' ? `\`${n}\`` : `"${n}"`)
  const t = options.schema === undefined ? q(name) : `${q(options.schema)}.${q(name)}`
  const p = (i: number) => (dialect === 'postgresql' ? `$${i}` : '?')
  const insert = dialect === 'mysql' ? 'INSERT IGNORE INTO' : 'INSERT INTO'
  const ignore = dialect === 'mysql' ? '' : ' ON CONFLICT (scope) DO NOTHING'
  const tombstone =
    dialect === 'mysql'
      ? `INSERT INTO ${t} (scope, provider_id, wrapped_key, shredded_at) VALUES (?, '', NULL, CURRENT_TIMESTAMP(3))
         ON DUPLICATE KEY UPDATE wrapped_key = NULL, shredded_at = COALESCE(shredded_at, CURRENT_TIMESTAMP(3))`
      : `INSERT INTO ${t} (scope, provider_id, wrapped_key, shredded_at) VALUES (${p(1)}, '', NULL, CURRENT_TIMESTAMP)
         ON CONFLICT (scope) DO UPDATE SET wrapped_key = NULL, shredded_at = COALESCE(${t}.shredded_at, CURRENT_TIMESTAMP)`
  return {
    async get(scope: string): Promise<ScopeKeyRecord | undefined> {
      const rows = await client.$queryRawUnsafe<Row[]>(
        `SELECT provider_id, wrapped_key, shredded_at, created_at FROM ${t} WHERE scope = ${p(1)}`,
        scope,
      )
      const row = rows[0]
      if (!row) return undefined
      return {
        providerId: row.provider_id,
        wrappedKey: row.wrapped_key === null ? null : Buffer.from(row.wrapped_key, 'base64'),
        shreddedAt: row.shredded_at === null || row.shredded_at === undefined ? null : new Date(row.shredded_at as string),
        createdAt: row.created_at ? new Date(row.created_at as string) : undefined,
      }
    },
    async putIfAbsent(scope: string, record: ScopeKeyRecord): Promise<boolean> {
      const wrapped = record.wrappedKey === null ? null : record.wrappedKey.toString('base64')
      const count = await client.$executeRawUnsafe(
        `${insert} ${t} (scope, provider_id, wrapped_key) VALUES (${p(1)}, ${p(2)}, ${p(3)})${ignore}`,
        scope,
        record.providerId,
        wrapped,
      )
      return count > 0
    },
    async delete(scope: string): Promise<void> {
      await client.$executeRawUnsafe(tombstone, scope)
    },
  }
}
