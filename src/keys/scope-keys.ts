import {
  ConfigurationError,
  KeyProviderError,
  ScopeKeyNotFoundError,
  ScopeKeyShreddedError,
  ScopeRequiredError,
  type FieldLocation,
} from '../errors'
import type { KeyProvider } from './key-provider'

/**
 * Where the key of each scope (a tenant) comes from: one key provider per scope. A scoped value's
 * data key is generated and unwrapped by `providerFor(scope)`, so shredding a scope's key (or
 * deleting its KMS key) makes exactly that scope's values unreadable. Implementations:
 * `localScopeKeys` (per-scope keys in a key table, wrapped under a local master key) and
 * `awsKmsScopeKeys` (one KMS key or alias per scope).
 *
 * `providerFor` throws `ScopeKeyShreddedError` for a shredded scope; it is called on data-key
 * cache misses only, and may be slow (a database read), so implementations keep their own cache.
 */
export interface ScopeKeys {
  providerFor(scope: string): Promise<KeyProvider>
  /** Zeroes the scope keys held in memory (when the implementation holds any); the object is unusable afterwards. */
  destroy?(): void
  /**
   * Whether this object shredded `scope` (synchronous, in this process): an encryptor then drops
   * the scope's cached data keys and refuses its values at once, without waiting for `forgetScope`.
   */
  shreddedHere?(scope: string): boolean
}

/** The provider id a scope-key lookup that finds no answer in time is reported under. */
export const SCOPE_KEYS_PROVIDER_ID = 'scope-keys'

/**
 * `scopeKeys.providerFor(scope)` under the provider deadline (`timeoutMs`: a key-table read or a
 * KMS key lookup that hangs fails with `KeyProviderError` `unavailable`, as a hung provider call
 * does), a shredded scope's error naming the field that needed its key (`at`). Other errors pass
 * through unchanged.
 */
export async function scopeProviderAt(scopeKeys: ScopeKeys, scope: string, at: FieldLocation, timeoutMs: number): Promise<KeyProvider> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new KeyProviderError(SCOPE_KEYS_PROVIDER_ID, 'unavailable', `the key of scope '${scope}': no answer within ${timeoutMs} ms`),
        ),
      timeoutMs,
    )
    timer.unref()
  })
  try {
    return await Promise.race([scopeKeys.providerFor(scope), deadline])
  } catch (err) {
    if (err instanceof ScopeKeyShreddedError && !err.model) throw new ScopeKeyShreddedError(err.scope, at)
    if (err instanceof ScopeKeyNotFoundError && !err.model) throw new ScopeKeyNotFoundError(err.scope, at)
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/** At most this many UTF-16 units in a scope id (a key-table primary key, a KMS alias suffix). */
export const MAX_SCOPE_LENGTH = 255

// No trailing whitespace: MySQL's PAD SPACE collations compare 'acme' and 'acme ' as equal, so the key
// table would give two scopes one row (shredding one would shred the other).
const SCOPE_RULE = `a non-empty string of at most ${MAX_SCOPE_LENGTH} characters without NUL or trailing whitespace`

function isScope(scope: unknown): scope is string {
  return (
    typeof scope === 'string' && scope.length > 0 && scope.length <= MAX_SCOPE_LENGTH && !scope.includes('\u0000') && !/\s$/.test(scope)
  )
}

/** Checks a scope id: a non-empty string of at most 255 characters, without U+0000 or trailing whitespace. */
export function checkScope(scope: unknown, location: FieldLocation = {}): string {
  if (!isScope(scope)) throw new ScopeRequiredError(location, `a scope must be ${SCOPE_RULE}`)
  return scope
}

/** Checks a client's `scope` option (undefined: unscoped), as a ConfigurationError naming `option`. */
export function checkScopeOption(scope: unknown, option: string): string | undefined {
  if (scope !== undefined && !isScope(scope)) throw new ConfigurationError(`${option} must be ${SCOPE_RULE}`)
  return scope
}
