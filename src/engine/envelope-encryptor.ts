import type { FieldContext } from '../cipher/field-context'
import { MalformedCiphertextError, NotEncryptedError } from '../errors'
import { looksEncryptedBytes, looksEncryptedText, splitBytes, splitText, type SplitEnvelope } from '../format/envelope-format'
import { looksKeyHeader, looksShortBytes, looksShortText, splitShortEnvelope } from '../format/short-format'
import { looksOurs, readAnyHeader } from '../format/stored-form'
import { DataKeyCache, type DataKeyCacheOptions, type DataKeyCacheStats } from '../keys/data-key-cache'
import type { KeyProvider } from '../keys/key-provider'
import { KeyRing } from '../keys/key-ring'
import type { EncryptionEventListener } from '../keys/provider-call-event'
import { CachedKeyOpener } from './cached-key-opener'
import { DataKeyCurrency } from './data-key-currency'
import { DataKeyEntry } from './data-key-entry'
import { DataKeySource } from './data-key-source'
import { ScopedDataKeys, scopedContext, type ScopedCacheOptions, type ScopeState } from './scoped-data-keys'
import { loadBatchKey } from './batch-key-load'
import { openSettled } from './open-settled'
import { sealValues } from './seal-values'
import { BatchScopes } from './value-scopes'
import type { ScopeKeys } from '../keys/scope-keys'
import { ForeignValueReader } from './foreign-values'
import type { ReadPlaintextOption } from './plaintext-scope'
import { DEFAULT_PROVIDER_TIMEOUT_MS } from './provider-call'
import { locate, openValue } from './stored-values'
import { validateEncryptorOptions } from './validate-encryptor-options'

export type { EncryptionEvent, EncryptionEventListener } from '../keys/provider-call-event'

export type StoredValue = string | Uint8Array

export interface EncryptorOptions {
  /** One provider, or several: the first wraps new data keys, all of them can unwrap. */
  keys: KeyProvider | readonly KeyProvider[]
  /** Data-key cache limits, or false to make and unwrap a data key per operation. */
  cache?: (DataKeyCacheOptions & ScopedCacheOptions) | false
  /**
   * The key provider of each scope (tenant), for values with a `scope`: their data keys are made
   * and unwrapped by `scopeKeys.providerFor(scope)` and cached per scope. Without it a scoped
   * value is refused (`ScopeRequiredError`). See `localScopeKeys` and `awsKmsScopeKeys`.
   */
  scopeKeys?: ScopeKeys
  /**
   * Pass values that are not in our format through as plaintext (only while migrating): `true`
   * for every encrypted field, or only some, `{ User: true, Post: ['body'] }`. Default false.
   */
  readPlaintext?: ReadPlaintextOption
  /**
   * prisma-field-encryption keys (`k1.aesgcm256.…`, as its PRISMA_FIELD_ENCRYPTION_KEY and
   * PRISMA_FIELD_DECRYPTION_KEYS; `pfeKeysFromEnv()` reads those): its `v1.aesgcm256.…` values
   * are then decrypted on read. Without them such values are refused (`PfeKeyRequiredError`),
   * with or without `readPlaintext`.
   */
  pfeKeys?: readonly string[]
  /**
   * Deadline for one key-provider call, in milliseconds.
   * @default DEFAULT_PROVIDER_TIMEOUT_MS (10 s)
   */
  providerTimeoutMs?: number
  /** Called on every key-provider call (for metrics export). Never receives key material. */
  onEvent?: EncryptionEventListener
}

export interface EncryptorStats {
  dataKeysGenerated: number
  dataKeysUnwrapped: number
  providerFailures: number
  valuesEncrypted: number
  valuesDecrypted: number
  cache: DataKeyCacheStats
  /** With `scopeKeys`: scopes holding data keys now, and how often a scope's provider was asked for. */
  scopes?: { held: number; providerLookups: number }
}

/**
 * A value with the field it belongs to, and optionally its scope (a tenant id): a scoped value's
 * data key is its scope's, and the scope is bound into its AAD. Unscoped values are unchanged.
 */
export interface FieldValue {
  value: unknown
  ctx: FieldContext
  scope?: string
  /**
   * On reads of a short value (format version 2): the row's key header for this field (the
   * `@keyHeader` column's text), needed only when the value's data key is not cached. Absent:
   * such a value opens from the cache, else KeyHeaderMissingError.
   */
  keyHeader?: unknown
}

/** Values sealed for writing, with the key header of each short-form value (undefined for the others). */
export interface SealedValues {
  values: StoredValue[]
  keyHeaders: Array<string | undefined>
}

/** One value's outcome in `decryptManySettled`. */
export type DecryptResult = { ok: true; value: StoredValue } | { ok: false; error: unknown }

/** Where a stored value stands, for `status` and `rotate`. */
export type ValueState = 'plaintext' | 'current' | 'older'

/**
 * The core: encrypts and decrypts field values in the envelope format, with data keys from the
 * key providers through the data-key cache. Knows nothing of Prisma; every ORM adapter sits on it.
 */
export class EnvelopeEncryptor {
  readonly keyRing: KeyRing
  /** The `readPlaintext` option as given (truthy when any field may hold plaintext); ask `readsPlaintext`. */
  readonly readPlaintext: ReadPlaintextOption
  private readonly foreign: ForeignValueReader
  private readonly cache: DataKeyCache<DataKeyEntry>
  private readonly timeoutMs: number
  /** The `onEvent` listener, for the blind indexer built beside this encryptor (root-key calls). */
  readonly onEvent?: EncryptionEventListener
  private readonly keys: DataKeySource
  private readonly scoped: ScopedDataKeys | undefined
  private readonly counters = { valuesEncrypted: 0, valuesDecrypted: 0 }

  constructor(options: EncryptorOptions) {
    validateEncryptorOptions(options)
    this.keyRing = new KeyRing(options.keys)
    this.cache = new DataKeyCache<DataKeyEntry>(options.cache ?? {})
    this.foreign = new ForeignValueReader(options.readPlaintext, options.pfeKeys)
    this.readPlaintext = options.readPlaintext ?? false
    this.timeoutMs = options.providerTimeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS
    this.onEvent = options.onEvent
    this.scoped = options.scopeKeys ? new ScopedDataKeys(options.cache ?? {}) : undefined
    const scoped = options.scopeKeys && this.scoped ? { keys: options.scopeKeys, caches: this.scoped } : undefined
    this.keys = new DataKeySource(this.keyRing, this.cache, this.timeoutMs, this.onEvent, scoped)
  }

  /**
   * Encrypts each value for its field (and scope). Throws (and encrypts nothing) if any value has
   * the wrong type or scope, or if a field is written in the short form (`ctx.shortForm`: use
   * `encryptManyWithKeyHeaders`, whose key headers must be written with the values).
   */
  async encryptMany(items: readonly FieldValue[]): Promise<StoredValue[]> {
    const out = await sealValues(this.keys, this.cache.maxUses, items)
    this.counters.valuesEncrypted += items.length
    return out
  }

  /**
   * `encryptMany` for fields of both forms: a short-form field's value (format version 2) comes
   * with its key header, which the caller writes to the field's key-header column in the same
   * statement (the value cannot be opened without it once its data key has left the cache).
   */
  async encryptManyWithKeyHeaders(items: readonly FieldValue[]): Promise<SealedValues> {
    const keyHeaders: Array<string | undefined> = new Array(items.length)
    const values = await sealValues(this.keys, this.cache.maxUses, items, keyHeaders)
    this.counters.valuesEncrypted += items.length
    return { values, keyHeaders }
  }

  async encrypt(value: unknown, ctx: FieldContext, scope?: string): Promise<StoredValue> {
    return (await this.encryptMany([{ value, ctx, scope }]))[0]!
  }

  /**
   * For one walk over a query's result: opens unscoped values whose data key is cached, in the walk
   * (see CachedKeyOpener); the rest go to `decryptMany`. Release it when the walk is done.
   */
  cachedKeyOpener(): CachedKeyOpener {
    return new CachedKeyOpener(this.keys, this.counters)
  }

  /** Decrypts each stored value of its field; each distinct data key is resolved once. */
  async decryptMany(items: readonly FieldValue[]): Promise<StoredValue[]> {
    const out: StoredValue[] = new Array(items.length)
    const splits: Array<SplitEnvelope | undefined> = new Array(items.length)
    const states: Array<ScopeState | undefined> = new Array(items.length)
    const ids: string[] = new Array(items.length) // the data key's id: header id, with the scope when scoped
    const wanted = new Map<string, number>() // key id -> index of a value that has it
    let encrypted = 0
    let lastHeaderId: string | undefined // values of one batch mostly share their data key
    let lastId: string | undefined
    const scopes = this.batchScopes()
    for (let i = 0; i < items.length; i++) {
      const { value, ctx, scope } = items[i]!
      const state = scopes.stateOf(scope, ctx)
      const split = this.split(value, ctx, lastHeaderId)
      if (split === undefined) {
        out[i] = this.foreign.read(value as string | Uint8Array, ctx)
        continue
      }
      splits[i] = split
      states[i] = state
      const id = (ids[i] = scopes.keyId(state, split.headerId))
      encrypted++
      if (id !== lastId && !wanted.has(id)) wanted.set(id, i)
      lastHeaderId = split.headerId
      lastId = id
    }
    const entries = new Map<string, DataKeyEntry>()
    const batch = { items, splits, states, ids }
    try {
      // Cached keys are taken synchronously; only the others are loaded (concurrently) and awaited.
      let loads: Array<Promise<void>> | undefined
      for (const [id, i] of wanted) {
        const split = splits[i]!
        const hit = this.keys.tryForDecryption(split.headerId, states[i])
        if (hit) entries.set(id, hit)
        else (loads ??= []).push(loadBatchKey(this.keys, batch, i).then((e) => void entries.set(id, e)))
      }
      if (loads) {
        const settled = await Promise.allSettled(loads)
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
        if (failed) throw failed.reason
      }
      for (let i = 0; i < items.length; i++) {
        const split = splits[i]
        if (!split) continue
        const state = states[i]
        out[i] = openValue(entries.get(ids[i]!)!, split, state ? scopedContext(state, items[i]!.ctx) : items[i]!.ctx)
      }
    } finally {
      for (const e of entries.values()) e.release()
    }
    this.counters.valuesDecrypted += encrypted
    return out
  }

  /**
   * Like `decryptMany`, but value by value: a value that cannot be read gets its error instead
   * of failing the batch (for `status`, `rotate`, `decrypt`). Each distinct data key is still
   * resolved once, so a key whose unwrap fails costs one provider call however many values need it.
   */
  async decryptManySettled(items: readonly FieldValue[]): Promise<DecryptResult[]> {
    const { out, opened } = await openSettled(items, {
      split: (value, ctx) => this.split(value, ctx),
      foreign: this.foreign,
      keys: this.keys,
      scopes: this.batchScopes(),
    })
    this.counters.valuesDecrypted += opened
    return out
  }

  /** One value: what `decryptMany` does for a list of one, without the batch bookkeeping. */
  async decrypt(value: unknown, ctx: FieldContext, scope?: string, keyHeader?: unknown): Promise<StoredValue> {
    const state = scope === undefined ? undefined : this.batchScopes().stateOf(scope, ctx)
    const split = this.split(value, ctx)
    if (split === undefined) return this.foreign.read(value as string | Uint8Array, ctx)
    const entry = this.keys.tryForDecryption(split.headerId, state) ?? (await this.load(split, { value, ctx, scope, keyHeader }, state))
    let out: StoredValue
    try {
      out = openValue(entry, split, state ? scopedContext(state, ctx) : ctx)
    } finally {
      entry.release()
    }
    this.counters.valuesDecrypted++
    return out
  }

  /**
   * Whether a stored value is plaintext, `current` (its data key wrapped by the primary provider
   * under its current key) or `older`: the decision `status` and `rotate` make, by the same
   * {@link DataKeyCurrency}. A provider that cannot tell offline is asked (AWS KMS: one
   * ReEncrypt per data key, whose result is not stored); pass one `currency` to classify many
   * values with one call per data key. Throws for a malformed value or a provider that fails.
   */
  async classify(
    value: unknown,
    ctx: FieldContext,
    currency: DataKeyCurrency = new DataKeyCurrency(this.keyRing, this.timeoutMs),
    keyHeader?: unknown,
  ): Promise<ValueState> {
    if (!looksOurs(value)) return 'plaintext'
    const { headerId, header, short } = readAnyHeader(value, ctx, keyHeader)
    const { state } = await currency.of(headerId, header, locate(ctx))
    // A value not in its field's form (version 1 in a short-form field, or the reverse) is moved by rotate.
    return state === 'current' && short !== (ctx.shortForm === true) ? 'older' : state
  }

  /** Whether values of this field that are not in our format are returned as they are (`readPlaintext`). */
  readsPlaintext(ctx: { model: string; field: string }): boolean {
    return this.foreign.allowsPlaintext(ctx)
  }

  stats(): EncryptorStats {
    const stats: EncryptorStats = { ...this.keys.counters, ...this.counters, cache: this.cache.stats() }
    if (this.scoped) stats.scopes = { held: this.scoped.size, providerLookups: this.keys.scopeLookups }
    return stats
  }

  /** Zeroes and forgets every cached data key. */
  clearCache(): void {
    this.cache.clear()
    this.scoped?.clear()
  }

  /** Whether `scopeKeys` was configured (scoped values can be read and written). */
  get hasScopeKeys(): boolean {
    return this.scoped !== undefined
  }

  /** Zeroes and forgets the cached data keys of one scope (call it after shredding the scope's key). */
  forgetScope(scope: string): void {
    this.scoped?.forget(scope)
  }

  /** The scopes of one decryption batch (see BatchScopes). */
  private batchScopes(): BatchScopes {
    return new BatchScopes((scope, at) => this.keys.scope(scope, at))
  }

  /** A data key not in the cache: from the value's header (version 1) or its key header (version 2). */
  private load(split: SplitEnvelope, item: FieldValue, state: ScopeState | undefined): Promise<DataKeyEntry> {
    return split.short
      ? this.keys.shortKeyFor(split, item.keyHeader, item.ctx, state)
      : this.keys.keyFor(split.headerId, split, item.ctx, state)
  }

  /**
   * Splits a stored value in our format (version 1 or 2), or returns undefined for another string
   * or bytes (see ForeignValueReader). Anything with one of our prefixes is ours: a version 2
   * value or a key header is never taken for plaintext, whatever `readPlaintext` says.
   */
  private split(value: unknown, ctx: FieldContext, sameHeaderAs?: string): SplitEnvelope | undefined {
    // The context serves as the error location as is (errors copy only model and field).
    if (ctx.kind === 'text' && typeof value === 'string') {
      if (looksEncryptedText(value)) return splitText(value, ctx, sameHeaderAs)
      if (looksShortText(value)) return splitShortEnvelope(value, ctx, sameHeaderAs)
      if (looksKeyHeader(value)) throw new MalformedCiphertextError(locate(ctx), 'a key header where a value belongs')
    } else if (ctx.kind === 'bytes' && value instanceof Uint8Array) {
      if (looksEncryptedBytes(value)) return splitBytes(value, ctx)
      if (looksShortBytes(value)) return splitShortEnvelope(value, ctx)
    }
    if (looksOurs(value)) throw new MalformedCiphertextError(locate(ctx), 'an encrypted value of the other kind (text or bytes)')
    if (typeof value === 'string' || value instanceof Uint8Array) return undefined
    throw new NotEncryptedError(locate(ctx))
  }
}
