import { LRUCache } from 'lru-cache'
import { scopedAadSuffix } from '../cipher/associated-data'
import type { FieldContext } from '../cipher/field-context'
import { DataKeyCache, type DataKeyCacheOptions } from '../keys/data-key-cache'
import type { DataKeyEntry } from './data-key-entry'

/** Default bound on the scopes that keep data keys in one encryptor. */
export const DEFAULT_MAX_SCOPES = 1000
/** Default bound on the unwrapped data keys kept per scope. */
export const DEFAULT_MAX_DECRYPTION_KEYS_PER_SCOPE = 16

export interface ScopedCacheOptions {
  /** How many scopes keep their data keys (least recently used scope out, its keys zeroed). Default 1,000. */
  maxScopes?: number
  /** How many unwrapped data keys each scope keeps. Default 16. */
  maxDecryptionKeysPerScope?: number
}

/** One scope's data keys, and its fields' contexts with the scope bound into their AAD. */
export interface ScopeState {
  readonly scope: string
  readonly cache: DataKeyCache<DataKeyEntry>
  readonly contexts: WeakMap<FieldContext, FieldContext>
}

/**
 * The data-key caches of scoped values: one {@link DataKeyCache} per scope (so one scope's data
 * key never encrypts another scope's value, and a decryption key is found by scope and header),
 * in a bounded LRU of scopes. At most `maxScopes × (1 + maxDecryptionKeysPerScope)` keys are held.
 */
export class ScopedDataKeys {
  private readonly scopes: LRUCache<string, ScopeState>
  private readonly perScope: DataKeyCacheOptions | false

  constructor(cache: (DataKeyCacheOptions & ScopedCacheOptions) | false) {
    const { maxScopes, maxDecryptionKeysPerScope, ...rest } = cache === false ? ({} as ScopedCacheOptions) : cache
    this.perScope =
      cache === false ? false : { ...rest, maxDecryptionKeys: maxDecryptionKeysPerScope ?? DEFAULT_MAX_DECRYPTION_KEYS_PER_SCOPE }
    this.scopes = new LRUCache<string, ScopeState>({
      max: cache === false ? 1 : (maxScopes ?? DEFAULT_MAX_SCOPES),
      // A scope's keys are zeroed when it leaves, and so are those still loading for it when they arrive.
      dispose: (state) => state.cache.retire(),
    })
  }

  /** The state of a scope, made on first use. */
  of(scope: string): ScopeState {
    let state = this.scopes.get(scope)
    if (!state) {
      state = { scope, cache: new DataKeyCache<DataKeyEntry>(this.perScope), contexts: new WeakMap() }
      this.scopes.set(scope, state)
    }
    return state
  }

  /** Zeroes and forgets one scope's data keys (after shredding it). */
  forget(scope: string): void {
    this.scopes.delete(scope)
  }

  get size(): number {
    return this.scopes.size
  }

  clear(): void {
    this.scopes.clear()
  }
}

/** The field's context for values of this scope: same field, the scope appended to its AAD (made once per field and scope). */
export function scopedContext(state: ScopeState, ctx: FieldContext): FieldContext {
  let scoped = state.contexts.get(ctx)
  if (!scoped) {
    scoped = { ...ctx, aadSuffix: scopedAadSuffix(ctx.aadSuffix, state.scope) }
    state.contexts.set(ctx, scoped)
  }
  return scoped
}
