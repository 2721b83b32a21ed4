import type { DataSource } from 'typeorm'
import { blindIndexerForModel } from '../blind-index/blind-indexer-for-model'
import { BlindIndexer, type BlindIndexOptions } from '../blind-index/blind-indexer'
import type { EncryptorOptions, EnvelopeEncryptor } from '../engine/envelope-encryptor'
import { checkScopeKeys, encryptorOf, type WithEncryptor, type WithKeys } from '../engine/keys-or-encryptor'
import { ConfigurationError } from '../errors'
import { checkScopeOption } from '../keys/scope-keys'
import type { EncryptionModel } from '../model/encryption-model'
import { ModelRegistry } from '../model/model-registry'
import { EncryptionSubscriber } from './encryption-subscriber'
import { encryptionModelOf } from './entity-model'
import { EntityValues } from './entity-values'
import { FindWhereRewriter } from './find-where-rewriter'
import { hookedStateOf, hookQueries } from './query-hooks'
import { installColumnGuard, installDriverGuard } from './unencrypted-value-guard'

/** What every form of the options has: the blind-index settings. */
export interface TypeOrmEncryptionBaseOptions {
  /** Blind indexes: version, root key (default: the primary key provider's), previous versions. As for `fieldEncryption`. */
  blindIndex?: BlindIndexOptions
  /** Use a blind indexer you already have; `blindIndex` is then ignored. */
  blindIndexer?: BlindIndexer
  /**
   * The scope (tenant id) of every value this DataSource writes and reads, preview: values are
   * encrypted under the scope's key (`scopeKeys`) with the scope bound in, and blind indexes are
   * the scope's, so filters find this tenant's rows only. A value of another scope fails to decrypt.
   * As for `fieldEncryption({ scope })`; one DataSource per tenant.
   */
  scope?: string
}

/** The adapter builds its own {@link EnvelopeEncryptor} from `keys` and the cache options. */
export interface TypeOrmEncryptionKeysOptions extends TypeOrmEncryptionBaseOptions, WithKeys<EncryptorOptions> {}

/**
 * The adapter uses an encryptor you already have (to share its cache or read its stats): the key and
 * cache options are the encryptor's, so they cannot be given here.
 */
export interface TypeOrmEncryptionEncryptorOptions extends TypeOrmEncryptionBaseOptions, WithEncryptor {
  /** Deadline of the blind-index root-key fetch. @default {@link DEFAULT_PROVIDER_TIMEOUT_MS} */
  providerTimeoutMs?: number
}

/** `encryptDataSource` options: `keys` (and cache options), or an `encryptor` you built; never both, as for `fieldEncryption`. */
export type TypeOrmEncryptionOptions = TypeOrmEncryptionKeysOptions | TypeOrmEncryptionEncryptorOptions

/** What `encryptDataSource` keeps per DataSource. */
export interface DataSourceEncryption {
  model: EncryptionModel
  encryptor: EnvelopeEncryptor
  blindIndexer?: BlindIndexer
  /** The scope of the DataSource's values, when it is scoped. */
  scope?: string
}

const setUp = new WeakMap<DataSource, DataSourceEncryption>()

/**
 * Turns on field encryption for an initialized DataSource: builds the encryption model from its
 * entities' `@Encrypted()`/`@BlindIndex()` declarations (and refuses ones it cannot honour),
 * loads the blind-index root key, and hooks writes, reads and filters. Returns the same DataSource.
 *
 *   await dataSource.initialize()
 *   await encryptDataSource(dataSource, { keys: LocalKeyProvider.fromEnv() })
 */
export async function encryptDataSource<D extends DataSource>(dataSource: D, options: TypeOrmEncryptionOptions): Promise<D> {
  if (setUp.has(dataSource)) throw new ConfigurationError('encryptDataSource: this DataSource is already set up')
  const scope = checkScopeOption(options?.scope, 'encryptDataSource options.scope')
  const model = encryptionModelOf(dataSource)
  const registry = new ModelRegistry(model)
  const encryptor = encryptorOf<EncryptorOptions>(options, 'encryptDataSource options')
  checkScopeKeys(encryptor, scope, 'encryptDataSource options')
  for (const m of Object.values(model.models)) {
    if (!m.scopeField) continue
    if (scope !== undefined)
      throw new ConfigurationError(
        `encryptDataSource: ${m.name} is row-scoped (@EncryptionScope ${m.scopeField.name}); a DataSource scope is for schema-per-tenant, not with row scopes`,
      )
    if (!encryptor.hasScopeKeys)
      throw new ConfigurationError(`encryptDataSource: ${m.name} is row-scoped and needs scopeKeys (in the options or the encryptor)`)
  }
  const blindIndexer = blindIndexerForModel(model, options, encryptor)
  // Filters are rewritten inside TypeORM's synchronous query building: the root keys must be at hand.
  await blindIndexer?.load()

  for (const metadata of dataSource.entityMetadatas) {
    const view = registry.get(metadata.name)
    for (const [property, { field }] of view?.encrypted ?? []) {
      installColumnGuard(metadata.findColumnWithPropertyName(property)!, { model: metadata.name, field: property }, field.isList)
    }
  }
  installDriverGuard(dataSource)
  const values = new EntityValues(encryptor, blindIndexer, scope)
  hookQueries(dataSource, { registry, rewriter: new FindWhereRewriter(registry, blindIndexer, scope), values })
  dataSource.subscribers.push(new EncryptionSubscriber(registry, values))
  setUp.set(dataSource, { model, encryptor, blindIndexer, scope })
  return dataSource
}

/** The encryption of a DataSource set up by `encryptDataSource` (throws for another). */
export function encryptionOf(dataSource: DataSource): DataSourceEncryption {
  const found = setUp.get(dataSource)
  if (!found || !hookedStateOf(dataSource)) throw new ConfigurationError('this DataSource was not set up with encryptDataSource()')
  return found
}
