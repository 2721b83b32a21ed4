import { dirname, resolve } from 'node:path'
import type { BlindIndexOptions } from '../blind-index/blind-indexer'
import { ConfigurationError } from '../errors'
import { AwsKmsKeyProvider } from '../keys/aws-kms-key-provider'
import type { KeyProvider } from '../keys/key-provider'
import { kmsClientConfig } from '../keys/kms-client'
import { LocalKeyProvider } from '../keys/local-key-provider'
import type { EncryptionModel } from '../model/encryption-model'
import type { ScopeKeys } from '../keys/scope-keys'
import type { SqlDatabase } from '../migration/sql-database'
import { resolveScopeKeys } from './resolve-scope-keys'
import type { KfeConfig } from './kfe-config'
import { findModule, loadUserModule } from './load-module'
import { prismaConfigDatabaseUrl } from './prisma-config-url'

export { PRISMA_CONFIG_NAMES } from './prisma-config-url'

/** What the command line gives (flags), before the config file and the environment fill the rest. */
export interface ConfigFlags {
  /** Path of the config file. Default: kfe.config.{ts,mts,cts,js,mjs,cjs} in the working directory, if there is one. */
  config?: string
  databaseUrl?: string
  /** Path of the module exporting `encryptionModel`. */
  encryptionModel?: string
  kmsKeyId?: string
  kmsAcceptedKeyIds?: readonly string[]
  kmsRegion?: string
  kmsEndpoint?: string
  /** The blind-index root key wrapped by KMS (from `keygen --kms-key-id`). */
  kmsWrappedRootKey?: string
  pfeKeys?: readonly string[]
  batchSize?: number
  concurrency?: number
}

/** Everything a migration command runs with. */
export interface ResolvedConfig {
  configFile?: string
  model: EncryptionModel
  /** Made on first call (so `status --help` never needs keys). */
  keys(): Promise<KeyProvider[]>
  /**
   * The scope keys for `--scope` and `shred` (config.scopeKeys, else the key table of `database`).
   * `readOnly`: a view that never makes a key (an unknown scope is `ScopeKeyNotFoundError`), for
   * the commands that only read (`status`, `decrypt`) or must not bind a new scope.
   */
  scopeKeys(database: SqlDatabase, options?: { readOnly?: boolean; dryRun?: boolean }): Promise<ScopeKeys>
  /** Zeroes the key providers made by `keys()`, if they were made (each one's `destroy`, where it has one). */
  destroyKeys(): Promise<void>
  databaseUrl: string
  blindIndex?: BlindIndexOptions
  pfeKeys: string[]
  batchSize?: number
  concurrency?: number
}

export const CONFIG_NAMES = ['kfe.config']
/** Where the generated encryption model is looked for, relative to the working directory. */
export const MODEL_LOCATIONS = ['prisma/generated/encryption', 'src/generated/encryption', 'generated/encryption', 'prisma/encryption']

/**
 * Flags first, then the config file, then the environment:
 *   database  --database-url | config.databaseUrl | DATABASE_URL | datasource.url of ./prisma.config.ts
 *   model     --encryption-model | config.model | ./prisma/generated/encryption (and other usual places)
 *   keys      config.keys, else from flags and environment: --kms-key-id / KFE_KMS_KEY_ID (primary, with
 *             --kms-accepted-key-id, --kms-region / AWS_REGION, --kms-endpoint, --kms-wrapped-root-key /
 *             KFE_KMS_WRAPPED_ROOT_KEY), and KFE_LOCAL_MASTER_KEY (+ KFE_LOCAL_PREVIOUS_KEYS): primary when
 *             there is no KMS key, else kept to read values not yet moved to KMS
 */
export async function resolveConfig(
  flags: ConfigFlags,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Promise<ResolvedConfig> {
  const { config, configFile, base, ...rest } = await resolveKeyConfig(flags, env, cwd)
  const model = await resolveModel(flags.encryptionModel ? resolve(cwd, flags.encryptionModel) : config.model, base, cwd)
  const pfeKeys = [...(flags.pfeKeys ?? []), ...(config.pfeKeys ?? [])]
  return {
    ...(configFile ? { configFile } : {}),
    model,
    ...rest,
    ...(config.blindIndex ? { blindIndex: config.blindIndex } : {}),
    pfeKeys,
    batchSize: flags.batchSize ?? config.batchSize,
    concurrency: flags.concurrency ?? config.concurrency,
  }
}

/** What the commands that need no encryption model (`shred`) resolve: the config file, the database, the keys. */
export interface KeyConfig extends Pick<ResolvedConfig, 'configFile' | 'keys' | 'scopeKeys' | 'destroyKeys' | 'databaseUrl'> {
  config: KfeConfig
  /** The directory paths in the config file are relative to. */
  base: string
}

/** The config file, database URL and keys, resolved as {@link resolveConfig} does (without the model). */
export async function resolveKeyConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<KeyConfig> {
  const configFile = flags.config ? resolve(cwd, flags.config) : findModule(cwd, CONFIG_NAMES)
  let config: KfeConfig = {}
  if (configFile) {
    const mod = await loadUserModule(configFile, 'config file')
    const exported = (mod.default ?? mod.config ?? mod) as KfeConfig
    if (typeof exported !== 'object' || exported === null)
      throw new ConfigurationError(`config file ${configFile} must export a config object (export default defineConfig({...}))`)
    config = exported
  }
  const base = configFile ? dirname(configFile) : cwd
  const databaseUrl = flags.databaseUrl || config.databaseUrl || env.DATABASE_URL || (await prismaConfigDatabaseUrl(cwd))?.url
  if (!databaseUrl) {
    throw new ConfigurationError(
      'no database: pass --database-url, set DATABASE_URL, set databaseUrl in kfe.config.ts, or datasource.url in prisma.config.ts (postgresql://... or pglite:<data dir>)',
    )
  }

  let keys: Promise<KeyProvider[]> | undefined
  const keysOnce = () => (keys ??= resolveKeys(config, flags, env))
  return {
    config,
    base,
    ...(configFile ? { configFile } : {}),
    keys: keysOnce,
    scopeKeys: async (database, options) =>
      resolveScopeKeys(config.scopeKeys, database, keysOnce, options?.readOnly ?? false, options?.dryRun ?? false),
    destroyKeys: async () => {
      for (const k of keys ? await keys.catch(() => []) : []) (k as { destroy?: () => void }).destroy?.()
    },
    databaseUrl,
  }
}

async function resolveModel(given: KfeConfig['model'], base: string, cwd: string): Promise<EncryptionModel> {
  let file: string | undefined
  if (typeof given === 'object' && given !== null) return checkModel(given, 'config.model')
  if (typeof given === 'string') file = findModule(base, [given]) ?? resolve(base, given)
  else file = findModule(cwd, MODEL_LOCATIONS)
  if (!file) {
    throw new ConfigurationError(
      `no encryption model: run prisma generate, then pass --encryption-model <path of the generator's output>/index.ts or set model in kfe.config.ts (looked in ${MODEL_LOCATIONS.join(', ')})`,
    )
  }
  const mod = await loadUserModule(file, 'encryption model')
  return checkModel(mod.encryptionModel ?? mod.default, file)
}

function checkModel(model: unknown, where: string): EncryptionModel {
  const m = model as EncryptionModel | undefined
  if (!m || typeof m !== 'object' || m.version !== 1 || typeof m.models !== 'object') {
    throw new ConfigurationError(`${where} does not export the encryptionModel written by the kms-field-encryption generator`)
  }
  return m
}

async function resolveKeys(config: KfeConfig, flags: ConfigFlags, env: NodeJS.ProcessEnv): Promise<KeyProvider[]> {
  if (config.keys !== undefined) {
    const keys = typeof config.keys === 'function' ? await config.keys() : config.keys
    const list = Array.isArray(keys) ? [...(keys as readonly KeyProvider[])] : [keys as KeyProvider]
    if (list.length === 0) throw new ConfigurationError('config.keys is empty')
    return list
  }
  const providers: KeyProvider[] = []
  const kmsKeyId = flags.kmsKeyId ?? env.KFE_KMS_KEY_ID
  if (kmsKeyId) {
    const clientConfig = kmsClientConfig(flags.kmsRegion ?? env.KFE_KMS_REGION, flags.kmsEndpoint)
    const accepted =
      flags.kmsAcceptedKeyIds ??
      (env.KFE_KMS_ACCEPTED_KEY_IDS ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    const wrappedRoot = flags.kmsWrappedRootKey ?? env.KFE_KMS_WRAPPED_ROOT_KEY
    providers.push(
      new AwsKmsKeyProvider({
        keyId: kmsKeyId,
        acceptedKeyIds: accepted,
        ...(wrappedRoot ? { wrappedBlindIndexRootKey: wrappedRoot } : {}),
        ...(clientConfig ? { clientConfig } : {}),
      }),
    )
  }
  if (env.KFE_LOCAL_MASTER_KEY) providers.push(LocalKeyProvider.fromEnv(env))
  if (providers.length === 0) {
    throw new ConfigurationError(
      'no key provider: set KFE_LOCAL_MASTER_KEY, pass --kms-key-id (or KFE_KMS_KEY_ID), or set keys in kfe.config.ts',
    )
  }
  return providers
}
