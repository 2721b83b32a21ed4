import type { BlindIndexOptions } from '../blind-index/blind-indexer'
import type { KeyProvider } from '../keys/key-provider'
import type { ScopeKeys } from '../keys/scope-keys'
import type { EncryptionModel } from '../model/encryption-model'

type Keys = KeyProvider | readonly KeyProvider[]

/**
 * `kfe.config.ts`: what the `kms-field-encryption` command needs, written once.
 *
 *   import { defineConfig, LocalKeyProvider, AwsKmsKeyProvider } from 'kms-field-encryption'
 *   import { encryptionModel } from './src/generated/encryption/index.js'
 *
 *   export default defineConfig({
 *     model: encryptionModel,
 *     keys: () => [new AwsKmsKeyProvider({ keyId: 'alias/app-data' }), LocalKeyProvider.fromEnv()],
 *     databaseUrl: process.env.DATABASE_URL,
 *   })
 *
 * Command-line flags override it; environment variables fill what neither gives.
 */
export interface KfeConfig {
  /**
   * The generated encryption model: the `encryptionModel` export itself, or the path of the
   * module that exports it (relative to the config file).
   */
  model?: EncryptionModel | string
  /**
   * Key providers, the first one primary (values are encrypted and rotated to it), the others
   * for reading older values. A function is called only by commands that need keys.
   */
  keys?: Keys | (() => Keys | Promise<Keys>)
  /**
   * `postgresql://...` or `pglite:<data dir>`. Default: DATABASE_URL, else `datasource.url` of
   * prisma.config.ts. `undefined` is allowed (`databaseUrl: process.env.DATABASE_URL` type-checks
   * under exactOptionalPropertyTypes) and means the default.
   */
  databaseUrl?: string | undefined
  /**
   * The key of each scope (tenant), for `--scope` and `shred --scope`: `awsKmsScopeKeys({ keyIdFor })`
   * (shred schedules the scope's KMS key for deletion) or `localScopeKeys({ master, store })`, or a
   * function returning one. Default: the key table `kfe_scope_keys` of the migrated database,
   * wrapped by the local master key (the LocalKeyProvider of `keys`, or KFE_LOCAL_MASTER_KEY).
   */
  scopeKeys?: ScopeKeys | (() => ScopeKeys | Promise<ScopeKeys>)
  /** Blind index settings, as given to the extension (root key, version, previous versions). */
  blindIndex?: BlindIndexOptions
  /** prisma-field-encryption keys (`k1.aesgcm256.…`) whose values `encrypt` converts. */
  pfeKeys?: readonly string[]
  /** Rows per batch. Default 1,000. */
  batchSize?: number
  /** Batches in flight at once. Default 2 on a server, 1 on PGlite. */
  concurrency?: number
}

/** Identity, for type checking a config file. */
export function defineConfig(config: KfeConfig): KfeConfig {
  return config
}
