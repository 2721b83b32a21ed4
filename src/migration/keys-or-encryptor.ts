import type { ReadPlaintextOption } from '../engine/plaintext-scope'
import { EnvelopeEncryptor } from '../engine/envelope-encryptor'
import { ConfigurationError } from '../errors'
import type { KeyProvider } from '../keys/key-provider'

/**
 * How a migration call gets its encryptor: the key providers to make one, or one you made (to
 * share its data-key cache, or its `readPlaintext`). Either way the encryptor's first provider
 * (the primary) is the one values are moved to and, by default, the blind-index root key's source.
 */
export type KeysOrEncryptor = WithKeys | WithEncryptor

export interface WithKeys {
  /** Key providers, as for the extension: the first (primary) wraps new data keys, all of them unwrap. */
  keys: KeyProvider | readonly KeyProvider[]
  encryptor?: never
}

export interface WithEncryptor {
  /** An encryptor you built (its key providers, cache and `readPlaintext` are used as they are). */
  encryptor: EnvelopeEncryptor
  keys?: never
}

/** The encryptor the options give, or make from their keys. JavaScript callers that give neither get a ConfigurationError. */
export function encryptorOf(options: KeysOrEncryptor, caller: string, readPlaintext: ReadPlaintextOption = false): EnvelopeEncryptor {
  if (options.encryptor !== undefined && options.keys !== undefined)
    throw new ConfigurationError(`${caller}: give \`keys\` or \`encryptor\`, not both`)
  if (options.encryptor) return options.encryptor
  if (options.keys) return new EnvelopeEncryptor({ keys: options.keys, readPlaintext })
  throw new ConfigurationError(`${caller} needs \`encryptor\` or \`keys\``)
}
