import { ConfigurationError } from '../errors'
import type { ScopeKeyRecord, ScopeKeyStore } from '../keys/scope-key-store'
import type { SqlDatabase } from './sql-database'

/** The scope key table of the command-line tool: the application's `kfe_scope_keys`, in the migrated database. */
export const SCOPE_KEY_TABLE = 'kfe_scope_keys'

/**
 * The key table `kfe_scope_keys` (the same table and rows as `prismaScopeKeyStore`) through the
 * migration's own database connection, for `--scope` and `shred`. `putIfAbsent` inserts unless a
 * row exists (`ON CONFLICT DO NOTHING`, MySQL's `INSERT IGNORE`) and reads the row back: it
 * inserted when the stored wrapped key is its own (a fresh random key cannot be another's).
 * Shredding turns the row into a tombstone, inserted when the scope had none.
 */
export function sqlScopeKeyStore(database: SqlDatabase, options: { table?: string } = {}): ScopeKeyStore {
  const name = options.table ?? SCOPE_KEY_TABLE
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) throw new ConfigurationError('the scope key table must be a plain SQL name')
  const mysql = database.dialect === 'mysql'
  const t = mysql ? `\`${name}\`` : `"${name}"`
  const p = (i: number) => (database.dialect === 'postgresql' ? `$${i}` : '?')
  const now = mysql ? 'CURRENT_TIMESTAMP(3)' : 'CURRENT_TIMESTAMP'
  const insert = `${mysql ? 'INSERT IGNORE INTO' : 'INSERT INTO'} ${t} (scope, provider_id, wrapped_key) VALUES (${p(1)}, ${p(2)}, ${p(3)})${mysql ? '' : ' ON CONFLICT (scope) DO NOTHING'}`
  const tombstone = mysql
    ? `INSERT INTO ${t} (scope, provider_id, wrapped_key, shredded_at) VALUES (?, '', NULL, ${now})
       ON DUPLICATE KEY UPDATE wrapped_key = NULL, shredded_at = COALESCE(shredded_at, ${now})`
    : `INSERT INTO ${t} (scope, provider_id, wrapped_key, shredded_at) VALUES (${p(1)}, '', NULL, ${now})
       ON CONFLICT (scope) DO UPDATE SET wrapped_key = NULL, shredded_at = COALESCE(${t}.shredded_at, ${now})`

  const store: ScopeKeyStore = {
    async get(scope: string): Promise<ScopeKeyRecord | undefined> {
      const rows = await database.runStatement(`SELECT provider_id, wrapped_key, shredded_at, created_at FROM ${t} WHERE scope = ${p(1)}`, [
        scope,
      ])
      const row = rows[0]
      if (!row) return undefined
      const wrapped = row.wrapped_key
      return {
        providerId: String(row.provider_id),
        wrappedKey: wrapped === null || wrapped === undefined ? null : Buffer.from(String(wrapped), 'base64'),
        shreddedAt: row.shredded_at === null || row.shredded_at === undefined ? null : new Date(row.shredded_at as string),
        ...(row.created_at ? { createdAt: new Date(row.created_at as string) } : {}),
      }
    },
    async putIfAbsent(scope: string, record: ScopeKeyRecord): Promise<boolean> {
      const wrapped = record.wrappedKey === null ? null : record.wrappedKey.toString('base64')
      await database.runStatement(insert, [scope, record.providerId, wrapped])
      const stored = await store.get(scope)
      return wrapped !== null && stored?.wrappedKey?.toString('base64') === wrapped
    },
    async delete(scope: string): Promise<void> {
      await database.runStatement(tombstone, [scope])
    },
  }
  return store
}
