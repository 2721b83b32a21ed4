import { LRUCache } from 'lru-cache'
import { ConfigurationError } from '../errors'
import { positiveNumber } from '../option-checks'

/** A cached key is reference counted: it is zeroed when the last holder releases it. */
export interface CachedKey {
  retain(): void
  release(): void
}

export interface DataKeyCacheOptions {
  /** How long one data key keeps encrypting new values. Default 5 minutes. */
  maxAgeMs?: number
  /** How many values one data key encrypts before a new one is made. Default 1,000,000; at most 2^32. */
  maxUses?: number
  /** How many unwrapped keys are kept for decryption (LRU). Default 1,000. */
  maxDecryptionKeys?: number
  /** How long an unwrapped key is kept for decryption. Default 15 minutes. */
  decryptionKeyTtlMs?: number
  /**
   * How long a failed unwrap is remembered: values needing that key fail at once, without a
   * provider call, so a KMS outage or a missing key does not become a storm of calls. Default
   * 5 seconds; 0 remembers nothing (each batch still tries each distinct key once).
   */
  failedKeyTtlMs?: number
}

export interface DataKeyCacheStats {
  encryptionHits: number
  encryptionMisses: number
  decryptionHits: number
  decryptionMisses: number
  /** Unwrapped keys held now. */
  decryptionKeysHeld: number
  /** Requests for a key whose unwrap failed within `failedKeyTtlMs`, answered with that failure. */
  failedKeyHits: number
}

export const MAX_USES_LIMIT = 2 ** 32

/** A key being loaded, and how many callers wait for it (each gets its own reference). */
interface PendingLoad<K> {
  promise: Promise<K>
  waiters: number
}

interface ActiveKey<K> {
  key: K
  createdAt: number
  uses: number
}

/**
 * Keeps KMS calls to a handful. Encryption: one data key serves many values until it is too old
 * or used too often. Decryption: unwrapped keys are kept by id (the value's header), bounded by
 * count and age, least recently used first out. Concurrent misses for one key share one load
 * (single flight); every waiter gets a failed load's error, and so does every request for that
 * key during `failedKeyTtlMs` (a short negative cache). Evicted keys are released (and so
 * zeroed). Uses no timers. With `enabled: false` nothing is kept.
 */
export class DataKeyCache<K extends CachedKey> {
  readonly enabled: boolean
  readonly maxAgeMs: number
  readonly maxUses: number
  private active: ActiveKey<K> | undefined
  /** Set by `retire`: the cache is out of use, so keys that arrive later go to their callers only. */
  private retired = false
  private pendingActive: Promise<K> | undefined
  private readonly decryption: LRUCache<string, K> | undefined
  private readonly pendingDecryption = new Map<string, PendingLoad<K>>()
  private readonly failures: LRUCache<string, { error: unknown }> | undefined
  private readonly counters = { encryptionHits: 0, encryptionMisses: 0, decryptionHits: 0, decryptionMisses: 0, failedKeyHits: 0 }

  constructor(options: DataKeyCacheOptions | false = {}) {
    this.enabled = options !== false
    const o = options === false ? {} : options
    this.maxAgeMs = positiveNumber(o.maxAgeMs ?? 5 * 60_000, 'cache.maxAgeMs')
    this.maxUses = positiveNumber(o.maxUses ?? 1_000_000, 'cache.maxUses')
    if (this.maxUses > MAX_USES_LIMIT) throw new ConfigurationError(`cache.maxUses must be at most 2^32 (random 96-bit IVs)`)
    if (this.enabled) {
      this.decryption = new LRUCache<string, K>({
        max: positiveNumber(o.maxDecryptionKeys ?? 1000, 'cache.maxDecryptionKeys'),
        ttl: positiveNumber(o.decryptionKeyTtlMs ?? 15 * 60_000, 'cache.decryptionKeyTtlMs'),
        dispose: (key) => key.release(),
      })
      const failedTtl = o.failedKeyTtlMs ?? 5_000
      if (!Number.isFinite(failedTtl) || failedTtl < 0)
        throw new ConfigurationError('cache.failedKeyTtlMs must be a number of milliseconds, 0 or more')
      if (failedTtl > 0) this.failures = new LRUCache({ max: this.decryption.max, ttl: failedTtl })
    }
  }

  /**
   * A key that may encrypt `uses` more values (at most maxUses), retained for the caller, who
   * releases it when done. `create` makes a new one (already retained once, for this cache).
   */
  async forEncryption(uses: number, create: () => Promise<K>): Promise<K> {
    if (uses > this.maxUses) throw new RangeError('uses exceeds maxUses')
    if (!this.enabled) {
      this.counters.encryptionMisses++
      return create()
    }
    for (;;) {
      const hit = this.tryForEncryption(uses)
      if (hit) return hit
      if (!this.pendingActive) {
        this.counters.encryptionMisses++
        if (this.retired) return create()
        const pending = create()
        this.pendingActive = pending
        try {
          const key = await pending
          // Retired while the key was made: the cache's reference becomes the caller's, so the key is zeroed when the caller releases it.
          if (this.retired) return key
          this.replaceActive({ key, createdAt: Date.now(), uses: 0 })
        } finally {
          this.pendingActive = undefined
        }
        continue
      }
      await this.pendingActive
    }
  }

  /**
   * Like `forEncryption`, but only if the active key can take `uses` more values right now
   * (else undefined, and nothing is created): lets a caller skip an await on the common path.
   */
  tryForEncryption(uses: number): K | undefined {
    const a = this.active
    if (a && a.uses + uses <= this.maxUses && Date.now() - a.createdAt < this.maxAgeMs) {
      a.uses += uses
      a.key.retain()
      this.counters.encryptionHits++
      return a.key
    }
    return undefined
  }

  /** Like `forDecryption`, but only if the key is cached now (else undefined, and nothing is loaded). */
  tryForDecryption(id: string): K | undefined {
    const hit = this.decryption?.get(id)
    if (hit) {
      this.counters.decryptionHits++
      hit.retain()
    }
    return hit
  }

  /** Makes a key known for decryption by id (keys this process generated; a key under a second id). Idempotent. */
  remember(id: string, key: K): void {
    if (!this.decryption || this.retired) return
    // Already held under this id, even past its TTL (not yet purged): the cache has its one
    // reference. Setting the same key again refreshes it, and lru-cache calls no dispose for it,
    // so a second reference would never be released (the key never zeroed).
    if (this.decryption.peek(id, { allowStale: true }) !== key) key.retain()
    this.decryption.set(id, key)
  }

  /** The key with this id, loaded once however many callers ask at once; retained for the caller. */
  async forDecryption(id: string, load: () => Promise<K>): Promise<K> {
    if (!this.decryption || (this.retired && !this.pendingDecryption.has(id))) {
      this.counters.decryptionMisses++
      return load()
    }
    const hit = this.tryForDecryption(id)
    if (hit) return hit
    const failed = this.failures?.get(id)
    if (failed) {
      this.counters.failedKeyHits++
      throw failed.error
    }
    let pending = this.pendingDecryption.get(id)
    if (!pending) {
      this.counters.decryptionMisses++
      const started: PendingLoad<K> = { promise: undefined as never, waiters: 0 }
      started.promise = load().then(
        (key) => {
          this.pendingDecryption.delete(id)
          // Every waiter's reference is taken before the cache holds the key: storing it may
          // evict (and zero) it at once when the cache is full of keys of the same batch.
          for (let i = 0; i < started.waiters; i++) key.retain()
          if (this.retired)
            key.release() // nobody keeps a retired cache: its reference is dropped, the waiters' zero the key
          else this.decryption!.set(id, key) // the load's own reference now belongs to the cache
          return key
        },
        (err) => {
          this.pendingDecryption.delete(id)
          this.failures?.set(id, { error: err })
          throw err
        },
      )
      this.pendingDecryption.set(id, started)
      pending = started
    } else {
      this.counters.decryptionHits++
    }
    pending.waiters++
    return pending.promise
  }

  stats(): DataKeyCacheStats {
    return { ...this.counters, decryptionKeysHeld: this.decryption?.size ?? 0 }
  }

  /** Drops (and zeroes) every key, and forgets failed unwraps. */
  clear(): void {
    this.replaceActive(undefined)
    this.decryption?.clear()
    this.failures?.clear()
  }

  /**
   * Takes the cache out of use (its scope was evicted or forgotten): drops and zeroes every key
   * now, and every key still loading when it arrives, once its callers release it; the cache
   * keeps nothing afterwards. A caller still holding the cache gets keys that are not kept.
   */
  retire(): void {
    this.retired = true
    this.clear()
  }

  private replaceActive(next: ActiveKey<K> | undefined): void {
    const previous = this.active
    this.active = next
    previous?.key.release()
  }
}
