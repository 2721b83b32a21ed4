import type { ScopeKeyRecord, ScopeKeyStore } from './scope-key-store'

/**
 * A scope key store for a dry run: reads `inner`, and keeps the keys it makes in this process's
 * memory only (lost when it ends), so a dry run can seal a new scope's values to decide them and
 * still write nothing, not even a key. Shredding is refused.
 */
export function dryRunScopeKeyStore(inner: ScopeKeyStore): ScopeKeyStore {
  const made = new Map<string, ScopeKeyRecord>()
  return {
    async get(scope) {
      return made.get(scope) ?? inner.get(scope)
    },
    async putIfAbsent(scope, record) {
      if (made.has(scope) || (await inner.get(scope))) return false
      made.set(scope, record)
      return true
    },
    async delete() {
      throw new Error('a dry run does not shred')
    },
  }
}
