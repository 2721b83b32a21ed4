import { timingSafeEqual } from 'node:crypto'
import { deriveKeys } from '../cipher/data-key-material'
import type { FieldContext } from '../cipher/field-context'
import {
  DecryptionFailedError,
  KeyHeaderMissingError,
  KeyProviderError,
  ScopeKeyShreddedError,
  ScopeRequiredError,
  type FieldLocation,
} from '../errors'
import { decodeHeader, encodeHeader, headerBytesOf, type SplitEnvelope } from '../format/envelope-format'
import { keyHeaderAsV1 } from '../format/short-format'
import type { DataKeyCache } from '../keys/data-key-cache'
import type { KeyProvider } from '../keys/key-provider'
import type { KeyRing } from '../keys/key-ring'
import { scopeProviderAt, type ScopeKeys } from '../keys/scope-keys'
import { reportProviderCall, type EncryptionEvent, type EncryptionEventListener } from '../keys/provider-call-event'
import { DataKeyEntry } from './data-key-entry'
import { withDeadline } from './provider-call'
import type { ScopedDataKeys, ScopeState } from './scoped-data-keys'
import { locate, relocated } from './stored-values'

const NOT_OF_THIS_SCOPE = "the value does not belong to this scope (its data key is not wrapped under this scope's key)"

/** The key-provider side of the encryptor's counters. */
export interface DataKeyCounters {
  dataKeysGenerated: number
  dataKeysUnwrapped: number
  providerFailures: number
}

/** The scope side of a data-key source: each scope's provider, and each scope's cache. */
export interface ScopedKeySources {
  keys: ScopeKeys
  caches: ScopedDataKeys
}

/**
 * Where the encryptor's data keys come from: the cache first, else the key providers (a new data
 * key from the primary one, an unwrap by the provider id written in the value), under the provider
 * deadline, with the key commitment checked before a key is used. A scoped value's data key comes
 * from its scope's provider (`scopeKeys.providerFor(scope)`) and lives in its scope's cache.
 */
export class DataKeySource {
  readonly counters: DataKeyCounters = { dataKeysGenerated: 0, dataKeysUnwrapped: 0, providerFailures: 0 }
  /** How many times a scope's provider was asked for (`providerFor`, on cache misses only). */
  scopeLookups = 0

  constructor(
    private readonly keyRing: KeyRing,
    readonly cache: DataKeyCache<DataKeyEntry>,
    private readonly timeoutMs: number,
    private readonly onEvent: EncryptionEventListener | undefined,
    private readonly scoped?: ScopedKeySources,
  ) {}

  /** A data key for `uses` encryptions: synchronously when the cache has one. With a scope, that scope's key. */
  forEncryption(uses: number, scope?: ScopeState, at: FieldLocation = {}): DataKeyEntry | Promise<DataKeyEntry> {
    const cache = scope?.cache ?? this.cache
    return cache.tryForEncryption(uses) ?? cache.forEncryption(uses, () => this.newDataKey(scope, at))
  }

  /** A cached data key by header id (of a scope's cache when scoped), or undefined. */
  tryForDecryption(id: string, scope?: ScopeState): DataKeyEntry | undefined {
    return (scope?.cache ?? this.cache).tryForDecryption(id)
  }

  /** The state (cache, contexts) of a scope; throws `ScopeRequiredError` when no `scopeKeys` is configured. */
  scope(scope: string, at: FieldLocation): ScopeState {
    if (!this.scoped) throw new ScopeRequiredError(at, `a value of scope '${scope}' needs scopeKeys in the encryptor options`)
    // Shredded by these scope keys in this process: its cached data keys go now, not at forgetScope.
    if (this.scoped.keys.shreddedHere?.(scope)) {
      this.scoped.caches.forget(scope)
      throw new ScopeKeyShreddedError(scope, at)
    }
    return this.scoped.caches.of(scope)
  }

  private async newDataKey(scope: ScopeState | undefined, at: FieldLocation): Promise<DataKeyEntry> {
    const provider = scope ? await this.scopeProvider(scope.scope, at) : this.keyRing.primary
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
    ;(scope?.cache ?? this.cache).remember(entry.headerText, entry)
    return entry
  }

  /**
   * The data key of a short value (format version 2) that is not cached by its short id: from its
   * key header (`keyHeader`, the companion column's text), which must pair with the value (else
   * DecryptionFailedError, before any unwrap); the data key is then found or loaded exactly as a
   * version 1 value's of the same key (same cache id, same checks), and remembered by its short
   * id too. Without a key header: KeyHeaderMissingError (not remembered as a failed key).
   */
  async shortKeyFor(split: SplitEnvelope, keyHeader: unknown, ctx: FieldContext, scope?: ScopeState): Promise<DataKeyEntry> {
    if (typeof keyHeader !== 'string' || keyHeader === '') throw new KeyHeaderMissingError(locate(ctx))
    const v1 = keyHeaderAsV1(keyHeader, split.headerId, locate(ctx))
    const entry =
      this.tryForDecryption(v1.headerId, scope) ??
      (await this.keyFor(v1.headerId, { headerId: v1.headerId, header: v1.header, headerText: undefined, body: split.body }, ctx, scope))
    this.rememberShort(entry, scope)
    return entry
  }

  /** Makes a key found by its short id in its (scope's) cache (again, if the cache let that id go). */
  rememberShort(entry: DataKeyEntry, scope?: ScopeState): void {
    ;(scope?.cache ?? this.cache).remember(entry.shortCacheId, entry)
  }

  /**
   * The data key of a value, from the cache or loaded once (single flight). A failure, shared
   * by concurrent callers and kept a few seconds by the cache, names this caller's field.
   */
  keyFor(id: string, split: SplitEnvelope, ctx: FieldContext, scope?: ScopeState): Promise<DataKeyEntry> {
    return (scope?.cache ?? this.cache)
      .forDecryption(id, () => this.loadDataKey(split, ctx, scope))
      .catch((err: unknown) => {
        throw relocated(err, ctx)
      })
  }

  private async loadDataKey(split: SplitEnvelope, ctx: FieldContext, scope?: ScopeState): Promise<DataKeyEntry> {
    const at = locate(ctx)
    const headerBytes = headerBytesOf(split, at)
    const header = decodeHeader(headerBytes, at)
    const provider = scope ? await this.scopeProvider(scope.scope, at) : this.keyRing.get(header.providerId, at)
    if (scope && provider.id !== header.providerId) throw new DecryptionFailedError(at, NOT_OF_THIS_SCOPE)
    let dataKey: Buffer
    try {
      dataKey = await this.callProvider('unwrapDataKey', provider, () => provider.unwrapDataKey(header.wrappedKey))
    } catch (err) {
      // Another scope's data key is wrapped under another scope key (or another KMS encryption context).
      if (scope && err instanceof KeyProviderError && (err.reason === 'wrong-key' || err.reason === 'invalid-ciphertext'))
        throw new DecryptionFailedError(at, NOT_OF_THIS_SCOPE)
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

  /** The key provider of a scope, failures naming the field that needed it. */
  private async scopeProvider(scope: string, at: FieldLocation): Promise<KeyProvider> {
    this.scopeLookups++
    try {
      return await scopeProviderAt(this.scoped!.keys, scope, at, this.timeoutMs)
    } catch (err) {
      throw err instanceof KeyProviderError ? err.at(at) : err
    }
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
