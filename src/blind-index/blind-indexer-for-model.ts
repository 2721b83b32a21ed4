import type { EnvelopeEncryptor } from '../engine/envelope-encryptor'
import type { EncryptionModel } from '../model/encryption-model'
import { blindIndexFieldsOf } from './blind-index-field'
import { BlindIndexer, withDefaultRootKey, type BlindIndexOptions } from './blind-indexer'

/** What an ORM adapter's options say about blind indexes (the same in both adapters). */
export interface BlindIndexerChoice {
  /** Index settings; the root key defaults to the encryptor's primary key provider. */
  blindIndex?: BlindIndexOptions
  /** A blind indexer you built (e.g. `load()`ed at start-up); `blindIndex` is then ignored. */
  blindIndexer?: BlindIndexer
  /** Deadline of the root-key fetch. */
  providerTimeoutMs?: number
}

/**
 * The blind indexer an adapter runs with: the one given, or one built for the model's
 * `@blindIndex` fields (root key defaulting to the primary provider's, provider calls reported
 * to the encryptor's `onEvent`), or undefined when the model has no blind index.
 */
export function blindIndexerForModel(
  model: EncryptionModel,
  choice: BlindIndexerChoice,
  encryptor: EnvelopeEncryptor,
): BlindIndexer | undefined {
  if (choice.blindIndexer) return choice.blindIndexer
  const fields = blindIndexFieldsOf(model)
  if (fields.length === 0) return undefined
  return new BlindIndexer(fields, {
    ...withDefaultRootKey(choice.blindIndex, encryptor.keyRing.primary),
    providerTimeoutMs: choice.providerTimeoutMs,
    onEvent: encryptor.onEvent,
  })
}
