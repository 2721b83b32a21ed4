import { ConfigurationError } from '../errors'
import type { ScopeKeyStore } from '../keys/scope-key-store'
import { sqlScopeKeyStore, type ScopeKeyStoreDialect, type SqlScopeKeyStoreOptions } from '../keys/sql-scope-key-store'

export type { ScopeKeyStoreDialect }

/** The raw-SQL methods of a Prisma client the store uses (any client, extended or not). */
export interface RawSqlClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>
}

/**
 * The key table `kfe_scope_keys` (scope text primary key, provider_id, wrapped_key as base64 text,
 * shredded_at, created_at) through a Prisma client's raw SQL, with bound parameters. Create the
 * table with the migration in prisma/migrations/20261203000000_scope_keys (PostgreSQL; MySQL and
 * SQLite under prisma/<provider>/migrations). Shredding turns the row into a tombstone.
 */
export type PrismaScopeKeyStoreOptions = SqlScopeKeyStoreOptions

export function prismaScopeKeyStore(client: RawSqlClient, options: PrismaScopeKeyStoreOptions = {}): ScopeKeyStore {
  if (!client || typeof client.$queryRawUnsafe !== 'function' || typeof client.$executeRawUnsafe !== 'function') {
    throw new ConfigurationError('prismaScopeKeyStore: expected a Prisma client ($queryRawUnsafe, $executeRawUnsafe)')
  }
  return sqlScopeKeyStore(
    {
      query: (sql, params) => client.$queryRawUnsafe<unknown[]>(sql, ...params),
      execute: (sql, params) => client.$executeRawUnsafe(sql, ...params),
    },
    options,
    'prismaScopeKeyStore',
  )
}
