import { ConfigurationError } from '../errors'
import { MAX_USES_LIMIT } from '../keys/data-key-cache'
import { describeOptionValue as describe, positiveInteger, positiveNumber } from '../option-checks'

/**
 * Checks the options of an encryptor before anything is built, so a mistake is a
 * `ConfigurationError` naming the option at construction, never a raw TypeError on the first
 * write. Every ORM adapter reaches it through `new EnvelopeEncryptor(options)`. `label` is how
 * the caller names its options object in messages (e.g. `fieldEncryption options`).
 */
export function validateEncryptorOptions(options: unknown, label = 'encryptor options'): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigurationError(`${label}: expected an options object, got ${describe(options)}`)
  }
  const o = options as Record<string, unknown>
  validateKeys(o.keys, label)
  validateCache(o.cache, label)
  if (o.providerTimeoutMs !== undefined) positiveNumber(o.providerTimeoutMs, `${label}.providerTimeoutMs`)
  if (o.scopeKeys !== undefined && typeof (o.scopeKeys as { providerFor?: unknown } | null)?.providerFor !== 'function') {
    throw new ConfigurationError(
      `${label}.scopeKeys must have providerFor(scope) (localScopeKeys(...) or awsKmsScopeKeys(...)), got ${describe(o.scopeKeys)}`,
    )
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') {
    throw new ConfigurationError(`${label}.onEvent must be a function, got ${describe(o.onEvent)}`)
  }
}

function validateKeys(keys: unknown, label: string): void {
  if (keys === undefined || keys === null) {
    throw new ConfigurationError(`${label}.keys is required: a KeyProvider (e.g. LocalKeyProvider.fromEnv()) or a list of them`)
  }
  const list = Array.isArray(keys) ? keys : [keys]
  if (list.length === 0) throw new ConfigurationError(`${label}.keys must name at least one key provider`)
  list.forEach((p, i) => {
    const at = Array.isArray(keys) ? `${label}.keys[${i}]` : `${label}.keys`
    const provider = p as Record<string, unknown> | null
    const isProvider =
      provider !== null &&
      typeof provider === 'object' &&
      typeof provider.id === 'string' &&
      provider.id.length > 0 &&
      typeof provider.generateDataKey === 'function' &&
      typeof provider.unwrapDataKey === 'function'
    if (!isProvider) {
      throw new ConfigurationError(
        `${at} is not a key provider (an object with id, generateDataKey() and unwrapDataKey()), got ${describe(p)}`,
      )
    }
  })
}

function validateCache(cache: unknown, label: string): void {
  if (cache === undefined || cache === false) return
  if (cache === null || typeof cache !== 'object' || Array.isArray(cache)) {
    throw new ConfigurationError(`${label}.cache must be an object of limits or false, got ${describe(cache)}`)
  }
  const c = cache as Record<string, unknown>
  if (c.maxAgeMs !== undefined) positiveNumber(c.maxAgeMs, `${label}.cache.maxAgeMs`)
  if (c.decryptionKeyTtlMs !== undefined) positiveNumber(c.decryptionKeyTtlMs, `${label}.cache.decryptionKeyTtlMs`)
  if (c.maxDecryptionKeys !== undefined) positiveInteger(c.maxDecryptionKeys, `${label}.cache.maxDecryptionKeys`)
  if (c.maxUses !== undefined) {
    positiveInteger(c.maxUses, `${label}.cache.maxUses`)
    if ((c.maxUses as number) > MAX_USES_LIMIT)
      throw new ConfigurationError(`${label}.cache.maxUses must be at most 2^32 (random 96-bit IVs)`)
  }
}
