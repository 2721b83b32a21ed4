import { ConfigurationError } from '../errors'
import type { KeyProvider } from '../keys/key-provider'
import { LocalKeyProvider } from '../keys/local-key-provider'
import { dryRunScopeKeyStore } from '../keys/dry-run-scope-key-store'
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
 * `readOnly`: a view that never makes a key (`createMissing: false`, or `readOnly()` of the configured ones).
 * `dryRun`: a run that writes nothing: the key table's new keys stay in memory (the configured
 * scope keys: their read-only view, when they have one).
 */
export async function resolveScopeKeys(
  given: KfeConfig['scopeKeys'],
  database: SqlDatabase,
  keys: () => Promise<KeyProvider[]>,
  readOnly = false,
  dryRun = false,
): Promise<ScopeKeys> {
  if (given !== undefined) {
    const scopeKeys = typeof given === 'function' ? await given() : given
    if (!scopeKeys || typeof scopeKeys.providerFor !== 'function')
      throw new ConfigurationError('config.scopeKeys must be scope keys (awsKmsScopeKeys, localScopeKeys) or a function returning them')
    // localScopeKeys has a read-only view; KMS scope keys make nothing, they are read-only already.
    const view = (scopeKeys as { readOnly?: () => ScopeKeys }).readOnly
    return (readOnly || dryRun) && typeof view === 'function' ? withOwner(view.call(scopeKeys), scopeKeys) : scopeKeys
  }
  const master = (await keys()).find((k): k is LocalKeyProvider => k instanceof LocalKeyProvider)
  if (!master) {
    throw new ConfigurationError(
      '--scope, and a run over a row-scoped model (@encryptionScope), need scope keys: set scopeKeys in kfe.config.ts (awsKmsScopeKeys, localScopeKeys), or a local master key (KFE_LOCAL_MASTER_KEY) for the key table kfe_scope_keys',
    )
  }
  const store = databaseScopeKeyStore(database)
  return localScopeKeys({ master, store: dryRun && !readOnly ? dryRunScopeKeyStore(store) : store, createMissing: !readOnly })
}

/** The read-only view, whose `destroy` destroys the scope keys it was taken from too. */
function withOwner(view: ScopeKeys, owner: ScopeKeys): ScopeKeys {
  return {
    providerFor: (scope) => view.providerFor(scope),
    destroy: () => {
      view.destroy?.()
      owner.destroy?.()
    },
  }
}
