import { ConfigurationError } from '../errors'
import type { KeyProvider } from '../keys/key-provider'
import { LocalKeyProvider } from '../keys/local-key-provider'
import { localScopeKeys } from '../keys/local-scope-keys'
import type { ScopeKeys } from '../keys/scope-keys'
import type { SqlDatabase } from '../migration/sql-database'
import { databaseScopeKeyStore } from '../migration/sql-scope-key-store'
import type { KfeConfig } from './kfe-config'

/**
 * The scope keys of `--scope` and `shred`: `config.scopeKeys` when given, else `localScopeKeys`
 * over the key table `kfe_scope_keys` of the migrated database, wrapped by the local master key
 * (the first LocalKeyProvider among the keys): the same keys an application gets from
 * `localScopeKeys({ master: LocalKeyProvider.fromEnv(), store: prismaScopeKeyStore(prisma) })`.
 */
export async function resolveScopeKeys(
  given: KfeConfig['scopeKeys'],
  database: SqlDatabase,
  keys: () => Promise<KeyProvider[]>,
): Promise<ScopeKeys> {
  if (given !== undefined) {
    const scopeKeys = typeof given === 'function' ? await given() : given
    if (!scopeKeys || typeof scopeKeys.providerFor !== 'function')
      throw new ConfigurationError('config.scopeKeys must be scope keys (awsKmsScopeKeys, localScopeKeys) or a function returning them')
    return scopeKeys
  }
  const master = (await keys()).find((k): k is LocalKeyProvider => k instanceof LocalKeyProvider)
  if (!master) {
    throw new ConfigurationError(
      '--scope needs scope keys: set scopeKeys in kfe.config.ts (awsKmsScopeKeys, localScopeKeys), or a local master key (KFE_LOCAL_MASTER_KEY) for the key table kfe_scope_keys',
    )
  }
  return localScopeKeys({ master, store: databaseScopeKeyStore(database) })
}
