import { timingSafeEqual } from 'node:crypto'
import { deriveKeys } from '../cipher/data-key-material'
import type { FieldContext } from '../cipher/field-context'
import { DecryptionFailedError, KeyProviderError } from '../errors'
import { decodeHeader, encodeHeader, headerBytesOf, type SplitEnvelope } from '../format/envelope-format'
import type { DataKeyCache } from '../keys/data-key-cache'
import type { KeyProvider } from '../keys/key-provider'
import type { KeyRing } from '../keys/key-ring'
import { reportProviderCall, type EncryptionEvent, type EncryptionEventListener } from '../keys/provider-call-event'
import { DataKeyEntry } from './data-key-entry'
import { withDeadline } from './provider-call'
import { locate, relocated } from './stored-values'

/** The key-provider side of the encryptor's counters. */
export interface DataKeyCounters {
  dataKeysGenerated: number
  dataKeysUnwrapped: number
  providerFailures: number
}

/**
 * Where the encryptor's data keys come from: the cache first, else the key providers (a new data
 * key from the primary one, an unwrap by the provider id written in the value), under the provider
 * deadline, with the key commitment checked before a key is used.
 */
export class DataKeySource {
  readonly counters: DataKeyCounters = { dataKeysGenerated: 0, dataKeysUnwrapped: 0, providerFailures: 0 }

  constructor(
    private readonly keyRing: KeyRing,
    readonly cache: DataKeyCache<DataKeyEntry>,
    private readonly timeoutMs: number,
    private readonly onEvent: EncryptionEventListener | undefined,
  ) {}

  /** A data key for `uses` encryptions: synchronously when the cache has one. */
  forEncryption(uses: number): DataKeyEntry | Promise<DataKeyEntry> {
    return this.cache.tryForEncryption(uses) ?? this.cache.forEncryption(uses, () => this.newDataKey())
  }

  private async newDataKey(): Promise<DataKeyEntry> {
    const provider = this.keyRing.primary
    const { plaintext, wrapped } = await this.callProvider('generateDataKey', provider, () => provider.generateDataKey())
    this.counters.dataKeysGenerated++
    let derived
    try {
      derived = deriveKeys(plaintext)
    } finally {
      plaintext.fill(0)
    }
    const header = encodeHeader({ providerId: provider.id, wrappedKey: wrapped, commitment: derived.commitment })
    const entry = new DataKeyEntry(provider.id, wrapped, header, header.toString('base64url'), derived.encryptionKey, derived.commitment)
    this.cache.remember(entry.headerText, entry)
    return entry
  }

  /**
   * The data key of a value, from the cache or loaded once (single flight). A failure, shared
   * by concurrent callers and kept a few seconds by the cache, names this caller's field.
   */
  keyFor(id: string, split: SplitEnvelope, ctx: FieldContext): Promise<DataKeyEntry> {
    return this.cache
      .forDecryption(id, () => this.loadDataKey(split, ctx))
      .catch((err: unknown) => {
        throw relocated(err, ctx)
      })
  }

  private async loadDataKey(split: SplitEnvelope, ctx: FieldContext): Promise<DataKeyEntry> {
    const at = locate(ctx)
    const headerBytes = headerBytesOf(split, at)
    const header = decodeHeader(headerBytes, at)
    const provider = this.keyRing.get(header.providerId, at)
    let dataKey: Buffer
    try {
      dataKey = await this.callProvider('unwrapDataKey', provider, () => provider.unwrapDataKey(header.wrappedKey))
    } catch (err) {
      throw err instanceof KeyProviderError ? err.at(at) : err
    }
    this.counters.dataKeysUnwrapped++
    let derived
    try {
      derived = deriveKeys(dataKey)
    } finally {
      dataKey.fill(0)
    }
    if (!timingSafeEqual(derived.commitment, header.commitment)) {
      derived.encryptionKey.fill(0)
      throw new DecryptionFailedError(at, 'key commitment mismatch: the value was altered')
    }
    return new DataKeyEntry(
      provider.id,
      header.wrappedKey,
      Buffer.from(headerBytes),
      split.headerId,
      derived.encryptionKey,
      header.commitment,
    )
  }

  private async callProvider<T>(type: EncryptionEvent['type'], provider: KeyProvider, call: () => Promise<T>): Promise<T> {
    try {
      return await reportProviderCall(type, provider.id, this.onEvent, () => withDeadline(provider.id, this.timeoutMs, call))
    } catch (err) {
      this.counters.providerFailures++
      throw err
    }
  }
}
