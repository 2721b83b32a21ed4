import type { DataSource } from 'typeorm'
import { ConfigurationError } from '../errors'
import type { ScopeKeyStore } from '../keys/scope-key-store'
import { sqlScopeKeyStore, type ScopeKeyStoreDialect, type SqlScopeKeyStoreOptions } from '../keys/sql-scope-key-store'

const DIALECTS: Record<string, ScopeKeyStoreDialect> = {
  postgres: 'postgresql',
  mysql: 'mysql',
  mariadb: 'mysql',
  sqlite: 'sqlite',
  'better-sqlite3': 'sqlite',
  sqljs: 'sqlite',
}

/** As for `prismaScopeKeyStore`; the dialect and the PostgreSQL schema default to the DataSource's. */
export type TypeOrmScopeKeyStoreOptions = SqlScopeKeyStoreOptions

/**
 * The key table `kfe_scope_keys` (see `prismaScopeKeyStore` for its columns and migrations) through
 * a TypeORM DataSource's `query`, with bound parameters: PostgreSQL, MySQL/MariaDB and SQLite
 * (sqlite, better-sqlite3, sql.js). The DataSource need not be set up with `encryptDataSource`.
 *
 *   const scopeKeys = localScopeKeys({ master, store: typeOrmScopeKeyStore(dataSource) })
 */
export function typeOrmScopeKeyStore(dataSource: DataSource, options: TypeOrmScopeKeyStoreOptions = {}): ScopeKeyStore {
  if (!dataSource || typeof dataSource.query !== 'function' || !dataSource.options) {
    throw new ConfigurationError('typeOrmScopeKeyStore: expected a TypeORM DataSource')
  }
  const type = String(dataSource.options.type)
  const dialect = options.dialect ?? DIALECTS[type]
  if (!dialect) throw new ConfigurationError(`typeOrmScopeKeyStore: DataSource type '${type}' is not supported (PostgreSQL, MySQL, SQLite)`)
  const ownSchema = (dataSource.options as { schema?: string }).schema
  const schema = options.schema ?? (dialect === 'postgresql' ? ownSchema : undefined)
  const run = (sql: string, params: unknown[]) => dataSource.query(sql, params) as Promise<unknown>
  return sqlScopeKeyStore(
    { query: (sql, params) => run(sql, params) as Promise<unknown[]>, execute: run },
    { ...options, dialect, schema },
    'typeOrmScopeKeyStore',
  )
}
