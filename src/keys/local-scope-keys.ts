import { LRUCache } from 'lru-cache'
import { ConfigurationError, KeyProviderError, ScopeKeyNotFoundError, ScopeKeyShreddedError } from '../errors'
import type { KeyProvider } from './key-provider'
import { LocalKeyProvider } from './local-key-provider'
import type { ScopeKeyRecord, ScopeKeyStore } from './scope-key-store'
import { checkScope, type ScopeKeys } from './scope-keys'

export interface LocalScopeKeysOptions {
  /** The master key provider that wraps every scope key (its previous keys still unwrap them). */
  master: LocalKeyProvider
  /** The key table (see `prismaScopeKeyStore`, or `MemoryScopeKeyStore` for tests). */
  store: ScopeKeyStore
  /** Provider id written into scoped values. Default `local-scope`. */
  providerId?: string
  /** How many scopes' providers are kept in memory (LRU). Default 1,000. */
  maxScopes?: number
  /**
   * How long a scope's provider is kept before the key table is read again, in milliseconds: the
   * longest another process keeps making new data keys for a scope shredded elsewhere. Default 60 s.
   */
  providerTtlMs?: number
  /**
   * Make a key for a scope the key table has none for (the default). `false`: a read-only view
   * (get only), for which an unknown scope throws `ScopeKeyNotFoundError` (`status`, `decrypt`).
   */
  createMissing?: boolean
}

/** `localScopeKeys`: the scope keys, and shredding. */
export interface LocalScopeKeys extends ScopeKeys {
  /**
   * Shreds a scope: its key-table row becomes a tombstone (wrapped key erased) and this object
   * forgets it. Call the encryptors' `forgetScope(scope)` too; other processes stop within their
   * `providerTtlMs` and cache lifetimes (see the README's threat model).
   */
  shred(scope: string): Promise<void>
  /** A read-only view of the same key table: it never makes a key (an unknown scope throws `ScopeKeyNotFoundError`). */
  readOnly(): LocalScopeKeys
  /** Zeroes every scope key held in memory (this object's and its read-only views'); every call fails afterwards. */
  destroy(): void
}

/**
 * Per-scope keys kept in the application's database: a random 256-bit key per scope, made on
 * first use (insert-if-absent: a concurrent creator's key wins and is read back), stored wrapped
 * under the master key, and serving as the master key of that scope's data keys. A scope whose
 * row is a tombstone (shredded) throws `ScopeKeyShreddedError` for reads and writes alike.
 */
export function localScopeKeys(options: LocalScopeKeysOptions): LocalScopeKeys {
  if (!(options?.master instanceof LocalKeyProvider)) throw new ConfigurationError('localScopeKeys: master must be a LocalKeyProvider')
  const store = options.store
  if (!store || typeof store.get !== 'function' || typeof store.putIfAbsent !== 'function' || typeof store.delete !== 'function') {
    throw new ConfigurationError('localScopeKeys: store must be a ScopeKeyStore (get, putIfAbsent, delete)')
  }
  const master = options.master
  const providerId = options.providerId ?? 'local-scope'
  const createMissing = options.createMissing ?? true
  const views: LocalScopeKeys[] = []
  let destroyed = false
  const providers = new LRUCache<string, Promise<KeyProvider>>({
    max: options.maxScopes ?? 1000,
    ttl: options.providerTtlMs ?? 60_000,
    dispose: (_value, scope, reason) => {
      if (reason === 'evict' || reason === 'expire') made.delete(scope)
    },
  })
  // In-process tombstones, set as soon as shred() starts: a provider loaded before the shred (by a
  // lookup in flight, or held by an encryptor's cache) refuses every call from then on, so no write
  // succeeds after shred() with a key that is about to be gone (it would be unreadable at once).
  const shredded = new Set<string>()
  // The scope key last made in this process per cached scope, zeroed when the scope is shredded here
  // (one evicted from the cache before is left to the garbage collector; the tombstone above still refuses it).
  const made = new Map<string, LocalKeyProvider>()

  function refuseIfShredded(scope: string): void {
    if (shredded.has(scope)) throw new ScopeKeyShreddedError(scope)
  }

  /** The scope's provider, every call of which first checks that the scope was not shredded here. */
  function guarded(scope: string, inner: LocalKeyProvider): KeyProvider {
    if (destroyed) {
      inner.destroy()
      throw new KeyProviderError(master.id, 'unavailable', 'these scope keys were destroyed (their keys are zeroed)')
    }
    made.set(scope, inner)
    return {
      id: inner.id,
      async generateDataKey() {
        refuseIfShredded(scope)
        return inner.generateDataKey()
      },
      async unwrapDataKey(wrapped: Buffer) {
        refuseIfShredded(scope)
        return inner.unwrapDataKey(wrapped)
      },
      isCurrent: (wrapped: Buffer) => inner.isCurrent(wrapped),
    }
  }

  async function providerOf(record: ScopeKeyRecord, scope: string): Promise<KeyProvider> {
    if (record.shreddedAt || !record.wrappedKey) throw new ScopeKeyShreddedError(scope)
    if (record.providerId !== master.id) {
      throw new KeyProviderError(master.id, 'wrong-key', `the key of scope '${scope}' is wrapped by provider '${record.providerId}'`)
    }
    const scopeKey = await master.unwrapDataKey(Buffer.from(record.wrappedKey))
    try {
      refuseIfShredded(scope)
      return guarded(scope, new LocalKeyProvider({ masterKey: scopeKey, id: providerId }))
    } finally {
      scopeKey.fill(0)
    }
  }

  async function load(scope: string): Promise<KeyProvider> {
    const found = await store.get(scope)
    if (found) return providerOf(found, scope)
    if (!createMissing) throw new ScopeKeyNotFoundError(scope)
    const { plaintext, wrapped } = await master.generateDataKey()
    plaintext.fill(0) // only the wrapped copy is stored; the key is used as unwrapped from the table
    if (!(await store.putIfAbsent(scope, { providerId: master.id, wrappedKey: wrapped, shreddedAt: null, createdAt: new Date() }))) {
      const winner = await store.get(scope)
      if (!winner) throw new KeyProviderError(master.id, 'unavailable', `the key of scope '${scope}' was neither inserted nor found`)
      return providerOf(winner, scope)
    }
    return providerOf({ providerId: master.id, wrappedKey: wrapped }, scope)
  }

  return {
    providerFor(scope: string): Promise<KeyProvider> {
      checkScope(scope)
      if (destroyed)
        return Promise.reject(new KeyProviderError(master.id, 'unavailable', 'these scope keys were destroyed (their keys are zeroed)'))
      if (shredded.has(scope)) return Promise.reject(new ScopeKeyShreddedError(scope))
      let pending = providers.get(scope)
      if (!pending) {
        pending = load(scope)
        providers.set(scope, pending)
        pending.catch(() => {
          if (providers.get(scope) === pending) providers.delete(scope)
        })
      }
      return pending
    },
    shreddedHere: (scope: string) => shredded.has(scope),
    async shred(scope: string): Promise<void> {
      checkScope(scope)
      shredded.add(scope)
      providers.delete(scope)
      made.get(scope)?.destroy()
      made.delete(scope)
      await store.delete(scope)
      providers.delete(scope)
    },
    readOnly(): LocalScopeKeys {
      const view = localScopeKeys({ ...options, createMissing: false })
      views.push(view)
      return view
    },
    destroy(): void {
      destroyed = true
      for (const provider of made.values()) provider.destroy()
      made.clear()
      providers.clear()
      for (const view of views.splice(0)) view.destroy()
    },
  }
}
