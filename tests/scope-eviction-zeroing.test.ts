/**
 * A scope evicted from the encryptor's scope LRU (more than `maxScopes` in use) while one of its
 * data keys is still loading: the key, when it arrives, must still be zeroed once its callers are
 * done, not land in the evicted scope's cache (unreachable, its key bytes left to the GC).
 */
import { fieldContext } from '../src/cipher/field-context'
import { DataKeyEntry } from '../src/engine/data-key-entry'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { localScopeKeys } from '../src/keys/local-scope-keys'
import { MemoryScopeKeyStore } from '../src/keys/scope-key-store'
import type { ScopeKeys } from '../src/keys/scope-keys'
import { testLocalKeys } from './support/keys'

const email = fieldContext('User', 'email', 'users', 'email')

function keyBytes(entry: DataKeyEntry): Buffer {
  return (entry as unknown as { encryptionKey: Buffer }).encryptionKey
}

/** Scope keys whose scope 'A' answers only when the gate opens (a slow KMS or key table). */
function gatedScopeKeys(inner: ScopeKeys): { scopeKeys: ScopeKeys; open: () => void } {
  let open!: () => void
  const gate = new Promise<void>((resolve) => (open = resolve))
  return {
    open,
    scopeKeys: {
      providerFor: async (scope: string) => {
        const provider = await inner.providerFor(scope)
        if (scope === 'A') await gate
        return provider
      },
    },
  }
}

describe('a scope evicted while its data key loads', () => {
  const seen = new Set<DataKeyEntry>()
  const originalRetain = DataKeyEntry.prototype.retain
  const originalRelease = DataKeyEntry.prototype.release
  beforeEach(() => {
    seen.clear()
    DataKeyEntry.prototype.retain = function (this: DataKeyEntry) {
      seen.add(this)
      originalRetain.call(this)
    }
    DataKeyEntry.prototype.release = function (this: DataKeyEntry) {
      seen.add(this)
      originalRelease.call(this)
    }
  })
  afterEach(() => {
    DataKeyEntry.prototype.retain = originalRetain
    DataKeyEntry.prototype.release = originalRelease
  })

  function setup() {
    const master = testLocalKeys()
    const store = new MemoryScopeKeyStore()
    const writer = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store }) })
    const gated = gatedScopeKeys(localScopeKeys({ master, store }))
    const reader = new EnvelopeEncryptor({ keys: master, scopeKeys: gated.scopeKeys, cache: { maxScopes: 1 } })
    return { writer, reader, open: gated.open }
  }

  it('an unwrapped key that arrives after its scope left is zeroed (decryption)', async () => {
    const { writer, reader, open } = setup()
    const stored = await writer.encrypt('a@x.io', email, 'A')
    writer.clearCache()
    seen.clear()
    const reading = reader.decrypt(stored, email, 'A')
    await new Promise((resolve) => setImmediate(resolve))
    await reader.encrypt('b@x.io', email, 'B') // scope B in, scope A (still loading) out
    expect(reader.stats().scopes?.held).toBe(1)
    open()
    expect(await reading).toBe('a@x.io')
    reader.clearCache()
    const keys = [...seen]
    expect(keys.length).toBeGreaterThanOrEqual(2) // A's unwrapped key and B's new one
    for (const entry of keys) expect(keyBytes(entry).every((b) => b === 0)).toBe(true)
  })

  it('a new data key made after its scope left is zeroed (encryption), and the value is still readable', async () => {
    const { writer, reader, open } = setup()
    const writing = reader.encrypt('a@x.io', email, 'A')
    await new Promise((resolve) => setImmediate(resolve))
    await reader.encrypt('b@x.io', email, 'B')
    open()
    const stored = await writing
    reader.clearCache()
    const keys = [...seen]
    expect(keys.length).toBeGreaterThanOrEqual(2)
    for (const entry of keys) expect(keyBytes(entry).every((b) => b === 0)).toBe(true)
    writer.clearCache()
    expect(await writer.decrypt(stored, email, 'A')).toBe('a@x.io')
  })

  it('forgetScope while a key of that scope loads (shredding) zeroes the key when it arrives', async () => {
    const { writer, reader, open } = setup()
    const stored = await writer.encrypt('a@x.io', email, 'A')
    writer.clearCache()
    seen.clear()
    const reading = reader.decrypt(stored, email, 'A')
    await new Promise((resolve) => setImmediate(resolve))
    reader.forgetScope('A')
    open()
    expect(await reading).toBe('a@x.io')
    expect(reader.stats().scopes?.held).toBe(0)
    const keys = [...seen]
    expect(keys.length).toBeGreaterThanOrEqual(1)
    for (const entry of keys) expect(keyBytes(entry).every((b) => b === 0)).toBe(true)
  })
})
