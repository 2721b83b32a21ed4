import { BlindIndexer, type BlindIndexOptions } from '../blind-index/blind-indexer'
import type { EncryptorOptions } from '../engine/envelope-encryptor'
import { checkKeysOrEncryptor, type WithEncryptor, type WithKeys } from '../engine/keys-or-encryptor'
import { ConfigurationError } from '../errors'
import type { EncryptionModel } from '../model/encryption-model'
import { validateEncryptionModel } from '../model/validate-encryption-model'
import { checkScopeOption } from '../keys/scope-keys'

const LABEL = 'fieldEncryption options'

/** What every form of the options has. */
export interface FieldEncryptionBaseOptions {
  /** The `encryptionModel` that `prisma generate` wrote (the export, not the whole module). */
  model: EncryptionModel
  /**
   * Blind indexes (`@blindIndex` fields): the index version written, its root key (default: the
   * primary key provider's `blindIndexRootKey()`), and previous versions still matched by filters
   * while `recomputeBlindIndexes` runs.
   */
  blindIndex?: BlindIndexOptions
  /** Use a blind indexer you already have (e.g. one you `load()`ed at start-up); `blindIndex` is then ignored. */
  blindIndexer?: BlindIndexer
  /**
   * Names of query extensions that may be added after `fieldEncryption` (observers only, such as a
   * query logger: whatever they change is neither encrypted nor checked). Any other query extension
   * added later is refused with a ConfigurationError; add it before `fieldEncryption` instead.
   * @default []
   */
  allowQueryExtensionsAfter?: readonly string[]
  /**
   * The scope (tenant id) of every value this client writes and reads, preview: values are
   * encrypted under the scope's key (`scopeKeys`) with the scope bound in, and blind indexes are
   * the scope's, so filters find this tenant's rows only. A value of another scope fails to decrypt.
   */
  scope?: string
}

/** The extension builds its own {@link EnvelopeEncryptor} from `keys` and the cache options. */
export interface FieldEncryptionKeysOptions extends FieldEncryptionBaseOptions, WithKeys<EncryptorOptions> {}

/**
 * The extension uses an {@link EnvelopeEncryptor} you built (to share its cache between clients or
 * read its `stats()`): the key and cache options are the encryptor's, so they cannot be given here.
 */
export interface FieldEncryptionEncryptorOptions extends FieldEncryptionBaseOptions, WithEncryptor {
  /**
   * Deadline of the blind-index root-key fetch.
   * @default {@link DEFAULT_PROVIDER_TIMEOUT_MS}
   */
  providerTimeoutMs?: number
}

/** `fieldEncryption` options: `keys` (and cache options), or an `encryptor` you built; never both. */
export type FieldEncryptionOptions = FieldEncryptionKeysOptions | FieldEncryptionEncryptorOptions

/**
 * Checks the options before anything is built: every mistake is a `ConfigurationError` naming the
 * option. The keys or encryptor, and the encryptor options, are checked by the core (`checkKeysOrEncryptor`).
 */
export function validateFieldEncryptionOptions(options: unknown): asserts options is FieldEncryptionOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigurationError(`${LABEL}: expected an options object ({ model, keys } or { model, encryptor })`)
  }
  const o = options as Record<string, unknown>
  validateEncryptionModel(o.model, `${LABEL}.model`)
  checkKeysOrEncryptor(o, LABEL)
  if (o.blindIndexer !== undefined && !(o.blindIndexer instanceof BlindIndexer)) {
    throw new ConfigurationError(`${LABEL}.blindIndexer must be a BlindIndexer (BlindIndexer.forModel(...))`)
  }
  const allow = o.allowQueryExtensionsAfter
  if (allow !== undefined && (!Array.isArray(allow) || !allow.every((n) => typeof n === 'string'))) {
    throw new ConfigurationError(`${LABEL}.allowQueryExtensionsAfter must be a list of extension names`)
  }
  checkScopeOption(o.scope, `${LABEL}.scope`)
  if (o.blindIndex !== undefined && (o.blindIndex === null || typeof o.blindIndex !== 'object' || Array.isArray(o.blindIndex))) {
    throw new ConfigurationError(`${LABEL}.blindIndex must be an object ({ version, rootKey, previous })`)
  }
}
