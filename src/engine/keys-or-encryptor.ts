import { ConfigurationError } from '../errors'
import { EnvelopeEncryptor, type EncryptorOptions } from './envelope-encryptor'
import { validateEncryptorOptions } from './validate-encryptor-options'

/** The encryptor options that belong to an encryptor you built: given beside one, they would be ignored. */
const ENCRYPTOR_OWNED = ['keys', 'cache', 'readPlaintext', 'onEvent', 'scopeKeys'] as const

/** At least the key providers an encryptor is made from; an adapter picks which other encryptor options it takes. */
export type KeyOptions = Pick<EncryptorOptions, 'keys'>

/** Options that make the encryptor: `keys` (the first provider wraps new data keys, all unwrap) and, per `O`, its other options. */
export type WithKeys<O extends KeyOptions = EncryptorOptions> = O & { encryptor?: never }

/**
 * Options that hand over an {@link EnvelopeEncryptor} you built (to share its data-key cache or read
 * its `stats()`): its key providers, cache, `readPlaintext` and `onEvent` are used as they are, so
 * they cannot be given beside it.
 */
export interface WithEncryptor {
  encryptor: EnvelopeEncryptor
  keys?: never
  cache?: never
  readPlaintext?: never
  onEvent?: never
  scopeKeys?: never
}

/**
 * How every adapter (Prisma, TypeORM, the migration) gets its encryptor: the key providers to make
 * one, or one you made; never both, never neither (TypeScript refuses both; {@link checkKeysOrEncryptor}
 * refuses them at run time for JavaScript callers). Either way the encryptor's first provider is the primary.
 */
export type KeysOrEncryptor<O extends KeyOptions = EncryptorOptions> = WithKeys<O> | WithEncryptor

/**
 * Checks the keys-or-encryptor part of an adapter's options (`label` names the options object in
 * messages): an `encryptor` must be an EnvelopeEncryptor and come alone, without the options that
 * are its own; without one, `keys` is required and the encryptor options are checked.
 */
export function checkKeysOrEncryptor(options: unknown, label: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigurationError(`${label}: expected an options object ({ keys } or { encryptor })`)
  }
  const o = options as Record<string, unknown>
  if (o.encryptor === undefined) {
    if (o.keys === undefined || o.keys === null) {
      throw new ConfigurationError(
        `${label} needs \`encryptor\` or \`keys\`: ${label}.keys is required, a KeyProvider (e.g. LocalKeyProvider.fromEnv()) or a list of them`,
      )
    }
    validateEncryptorOptions(o, label)
    return
  }
  if (!(o.encryptor instanceof EnvelopeEncryptor)) throw new ConfigurationError(`${label}.encryptor must be an EnvelopeEncryptor`)
  for (const name of ENCRYPTOR_OWNED) {
    if (o[name] === undefined) continue
    throw new ConfigurationError(
      name === 'keys'
        ? `${label}: give either keys (and their cache options) or an encryptor, not both`
        : `${label}: give either keys (and ${name}) or an encryptor, not both: ${name} belongs to the encryptor you built`,
    )
  }
}

/**
 * The encryptor the options give, or a new one made from their keys: from the options as they are,
 * or from what `encryptorOptions` picks of them (for callers whose options hold more, or set
 * `readPlaintext` themselves). The options are checked first ({@link checkKeysOrEncryptor}).
 */
export function encryptorOf<O extends KeyOptions>(
  options: KeysOrEncryptor<O>,
  label: string,
  encryptorOptions: (withKeys: WithKeys<O>) => EncryptorOptions = (withKeys) => withKeys,
): EnvelopeEncryptor {
  checkKeysOrEncryptor(options, label)
  if (options.encryptor !== undefined) return options.encryptor
  return new EnvelopeEncryptor(encryptorOptions(options as WithKeys<O>))
}

/** Refuses a client scope (`scope` option) when the encryptor has no `scopeKeys` to serve it: a ConfigurationError naming the options. */
export function checkScopeKeys(encryptor: EnvelopeEncryptor, scope: string | undefined, label: string): void {
  if (scope !== undefined && !encryptor.hasScopeKeys) {
    throw new ConfigurationError(`${label}: scope '${scope}' needs scopeKeys (in the options or the encryptor)`)
  }
}
