import { sqlScopeKeyStore, type ScopeKeyStoreDialect } from '../keys/sql-scope-key-store'
import type { ScopeKeyStore } from '../keys/scope-key-store'
import type { SqlDatabase } from './sql-database'

/** The scope key table of the command-line tool: the application's `kfe_scope_keys`, in the migrated database. */
export const SCOPE_KEY_TABLE = 'kfe_scope_keys'

/**
 * The key table `kfe_scope_keys` (the same table, rows and SQL as `prismaScopeKeyStore` and
 * `typeOrmScopeKeyStore`: the core's `sqlScopeKeyStore`) through the migration's own database
 * connection, for `--scope` and `shred`.
 */
export function databaseScopeKeyStore(database: SqlDatabase, options: { table?: string } = {}): ScopeKeyStore {
  const run = (sql: string, params: unknown[]) => database.runStatement(sql, params)
  return sqlScopeKeyStore(
    { query: run, execute: run },
    { dialect: database.dialect as ScopeKeyStoreDialect, table: options.table ?? SCOPE_KEY_TABLE },
    'the scope key table',
  )
}
