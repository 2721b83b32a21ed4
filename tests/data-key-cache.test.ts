import { ConfigurationError, EnvelopeEncryptor, fieldContext, KeyProviderError } from '../src'
import { DataKeyCache } from '../src/keys/data-key-cache'
import { DataKeyEntry } from '../src/engine/data-key-entry'
import { TEXT_PREFIX } from '../src/format/envelope-format'
import { CountingKeyProvider } from './support/counting-key-provider'

/**
 * The data-key cache, through the engine (EnvelopeEncryptor) with a real local provider that
 * counts its calls, and on its own with real DataKeyEntry objects: how many provider calls a
 * workload costs, rotation by uses and age, single flight, failures, and that every key the
 * cache lets go of is zeroed.
 */
const ctx = fieldContext('User', 'email', 'users', 'email')
const isZero = (b: Buffer) => b.every((x) => x === 0)
/** The header text of a stored text value: which data key encrypted it. */
const headerOf = (value: unknown) => String(value).slice(TEXT_PREFIX.length, TEXT_PREFIX.length + 148)

/** Every DataKeyEntry the engine uses for a value, caught as it is used. */
function watchEntries(): { entries: Set<DataKeyEntry>; stop: () => void } {
  const entries = new Set<DataKeyEntry>()
  const original = DataKeyEntry.prototype.aadFor
  const spy = jest.spyOn(DataKeyEntry.prototype, 'aadFor').mockImplementation(function (this: DataKeyEntry, c) {
    entries.add(this)
    return original.call(this, c)
  })
  return { entries, stop: () => spy.mockRestore() }
}
const keyBytesOf = (entry: DataKeyEntry) => Reflect.get(entry, 'encryptionKey') as Buffer

afterEach(() => jest.restoreAllMocks())

describe('one data key serves many values', () => {
  test('many encrypts, one generateDataKey; decrypting them needs no unwrap', async () => {
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys })
    const single: unknown[] = []
    for (let i = 0; i < 200; i++) single.push(await enc.encrypt(`v${i}`, ctx))
    const batch = await enc.encryptMany(Array.from({ length: 300 }, (_, i) => ({ value: `b${i}`, ctx })))
    expect(keys.generateCalls).toBe(1)
    expect(new Set([...single, ...batch].map(headerOf)).size).toBe(1)
    const back = await enc.decryptMany(batch.map((value) => ({ value, ctx })))
    expect(back).toEqual(Array.from({ length: 300 }, (_, i) => `b${i}`))
    expect(keys.unwrapCalls).toBe(0)
    expect(enc.stats()).toMatchObject({ dataKeysGenerated: 1, dataKeysUnwrapped: 0, valuesEncrypted: 500, valuesDecrypted: 300 })
  })

  test('another process (a cold encryptor) unwraps each data key once', async () => {
    const keys = new CountingKeyProvider()
    const values = await new EnvelopeEncryptor({ keys, cache: { maxUses: 10 } }).encryptMany(
      Array.from({ length: 30 }, (_, i) => ({ value: `${i}`, ctx })),
    )
    const cold = new EnvelopeEncryptor({ keys })
    for (const v of values) await cold.decrypt(v, ctx)
    expect(await cold.decryptMany(values.map((value) => ({ value, ctx })))).toEqual(Array.from({ length: 30 }, (_, i) => `${i}`))
    expect(keys.unwrapCalls).toBe(3)
  })
})

describe('rotation', () => {
  test('maxUses: a data key encrypts at most maxUses values, in single calls and in batches', async () => {
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys, cache: { maxUses: 3 } })
    const single: unknown[] = []
    for (let i = 0; i < 7; i++) single.push(await enc.encrypt(`s${i}`, ctx))
    expect(keys.generateCalls).toBe(3)
    const headers = single.map(headerOf)
    expect(headers.map((h) => headers.indexOf(h))).toEqual([0, 0, 0, 3, 3, 3, 6])

    const fresh = new EnvelopeEncryptor({ keys: new CountingKeyProvider(keys.inner), cache: { maxUses: 3 } })
    const batch = await fresh.encryptMany(Array.from({ length: 7 }, (_, i) => ({ value: `m${i}`, ctx })))
    const batchHeaders = batch.map(headerOf)
    expect(batchHeaders.map((h) => batchHeaders.indexOf(h))).toEqual([0, 0, 0, 3, 3, 3, 6])
    expect(await new EnvelopeEncryptor({ keys }).decryptMany([...single, ...batch].map((value) => ({ value, ctx })))).toEqual([
      ...Array.from({ length: 7 }, (_, i) => `s${i}`),
      ...Array.from({ length: 7 }, (_, i) => `m${i}`),
    ])
  })

  test('maxAgeMs: a data key stops encrypting once it is that old', async () => {
    let now = 1_000_000
    jest.spyOn(Date, 'now').mockImplementation(() => now)
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys, cache: { maxAgeMs: 60_000 } })
    const a = await enc.encrypt('a', ctx)
    now += 59_999
    const b = await enc.encrypt('b', ctx)
    expect(keys.generateCalls).toBe(1)
    now += 1
    const c = await enc.encrypt('c', ctx)
    expect(keys.generateCalls).toBe(2)
    expect(headerOf(a)).toBe(headerOf(b))
    expect(headerOf(c)).not.toBe(headerOf(a))
    expect(await enc.decryptMany([a, b, c].map((value) => ({ value, ctx })))).toEqual(['a', 'b', 'c'])
  })

  test('limits are validated', () => {
    const keys = new CountingKeyProvider()
    expect(() => new EnvelopeEncryptor({ keys, cache: { maxUses: 2 ** 32 + 1 } })).toThrow(ConfigurationError)
    expect(() => new EnvelopeEncryptor({ keys, cache: { maxUses: 0 } })).toThrow(ConfigurationError)
    expect(() => new EnvelopeEncryptor({ keys, cache: { maxAgeMs: -1 } })).toThrow(ConfigurationError)
    expect(() => new EnvelopeEncryptor({ keys, cache: { maxDecryptionKeys: Number.NaN } })).toThrow(ConfigurationError)
  })
})

describe('single flight', () => {
  test('100 concurrent encrypts on a cold encryptor make one generateDataKey', async () => {
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys })
    const release = keys.hold()
    const pending = Array.from({ length: 100 }, (_, i) => enc.encrypt(`c${i}`, ctx))
    await new Promise((r) => setImmediate(r))
    expect(keys.generateCalls).toBe(1)
    release()
    const values = await Promise.all(pending)
    expect(keys.generateCalls).toBe(1)
    expect(new Set(values.map(headerOf)).size).toBe(1)
    expect(await enc.decryptMany(values.map((value) => ({ value, ctx })))).toEqual(Array.from({ length: 100 }, (_, i) => `c${i}`))
  })

  test('100 concurrent decrypts of one data key on a cold encryptor make one unwrap', async () => {
    const keys = new CountingKeyProvider()
    const values = await new EnvelopeEncryptor({ keys }).encryptMany(Array.from({ length: 100 }, (_, i) => ({ value: `d${i}`, ctx })))
    const cold = new EnvelopeEncryptor({ keys })
    const release = keys.hold()
    const pending = values.map((v) => cold.decrypt(v, ctx))
    await new Promise((r) => setImmediate(r))
    release()
    expect(await Promise.all(pending)).toEqual(Array.from({ length: 100 }, (_, i) => `d${i}`))
    expect(keys.unwrapCalls).toBe(1)
    expect(cold.stats().cache).toMatchObject({ decryptionMisses: 1, decryptionHits: 99 })
  })

  test('a failed provider call is not cached, and every waiter gets its error', async () => {
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys })
    keys.failNext(new KeyProviderError(keys.id, 'unavailable', 'throttled'))
    const release = keys.hold()
    const pending = Array.from({ length: 100 }, (_, i) =>
      enc.encrypt(`f${i}`, ctx).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    )
    release()
    const outcomes = await Promise.all(pending)
    expect(outcomes.every((o) => o instanceof KeyProviderError && o.reason === 'unavailable')).toBe(true)
    expect(keys.generateCalls).toBe(1)
    const value = await enc.encrypt('after', ctx)
    expect(keys.generateCalls).toBe(2)

    const cold = new EnvelopeEncryptor({ keys, cache: { failedKeyTtlMs: 0 } }) // the default keeps a failed unwrap 5 s
    keys.failNext(new Error('socket hang up'))
    const holdUnwrap = keys.hold()
    const decrypts = Array.from({ length: 100 }, () =>
      cold.decrypt(value, ctx).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    )
    holdUnwrap()
    const decryptOutcomes = await Promise.all(decrypts)
    expect(keys.unwrapCalls).toBe(1)
    for (const o of decryptOutcomes) {
      expect(o).toBeInstanceOf(KeyProviderError)
      expect(o).toMatchObject({ reason: 'unavailable', model: 'User', field: 'email' })
    }
    expect(await cold.decrypt(value, ctx)).toBe('after')
    expect(keys.unwrapCalls).toBe(2)
    expect(cold.stats().providerFailures).toBe(1)
  })

  test('a batch holding more data keys than the cache keeps still decrypts', async () => {
    const keys = new CountingKeyProvider()
    const values = await new EnvelopeEncryptor({ keys, cache: { maxUses: 1 } }).encryptMany(
      ['x', 'y', 'z', 'w'].map((value) => ({ value, ctx })),
    )
    expect(new Set(values.map(headerOf)).size).toBe(4)
    const small = new EnvelopeEncryptor({ keys, cache: { maxDecryptionKeys: 1 } })
    expect(await small.decryptMany(values.map((value) => ({ value, ctx })))).toEqual(['x', 'y', 'z', 'w'])
    expect(await Promise.all(values.map((v) => small.decrypt(v, ctx)))).toEqual(['x', 'y', 'z', 'w'])
  })
})

describe('key material is zeroed', () => {
  test('the engine zeroes every plaintext data key from the provider right after deriving from it', async () => {
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys, cache: { maxUses: 2 } })
    const values = await enc.encryptMany(['a', 'b', 'c'].map((value) => ({ value, ctx })))
    await new EnvelopeEncryptor({ keys }).decryptMany(values.map((value) => ({ value, ctx })))
    expect(keys.handedOut).toHaveLength(4) // 2 generated, 2 unwrapped
    expect(keys.handedOut.every(isZero)).toBe(true)
  })

  test('clearCache zeroes every derived key, and a zeroed key is never used again', async () => {
    const watch = watchEntries()
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys, cache: { maxUses: 2 } })
    const values = await enc.encryptMany(['a', 'b', 'c', 'd', 'e'].map((value) => ({ value, ctx })))
    const cold = new EnvelopeEncryptor({ keys })
    await cold.decryptMany(values.map((value) => ({ value, ctx })))
    watch.stop()
    expect(watch.entries.size).toBe(6)
    expect([...watch.entries].some((e) => isZero(keyBytesOf(e)))).toBe(false)
    enc.clearCache()
    cold.clearCache()
    for (const e of watch.entries) {
      expect(isZero(keyBytesOf(e))).toBe(true)
      expect(() => e.key).toThrow('used after release')
    }
    expect(await cold.decryptMany(values.map((value) => ({ value, ctx })))).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(await enc.encrypt('f', ctx)).toMatch(/^\$kfe\$/)
  })

  test('keys evicted from the decryption cache (LRU) are zeroed; others are kept', async () => {
    const keys = new CountingKeyProvider()
    const values = await new EnvelopeEncryptor({ keys, cache: { maxUses: 1 } }).encryptMany(
      ['a', 'b', 'c'].map((value) => ({ value, ctx })),
    )
    const watch = watchEntries()
    const cold = new EnvelopeEncryptor({ keys, cache: { maxDecryptionKeys: 2 } })
    const used: DataKeyEntry[] = []
    for (const v of values) {
      await cold.decrypt(v, ctx)
      used.push([...watch.entries].find((e) => !used.includes(e))!)
    }
    watch.stop()
    expect(used.map((e) => isZero(keyBytesOf(e)))).toEqual([true, false, false])
    expect(cold.stats().cache.decryptionKeysHeld).toBe(2)
    await cold.decrypt(values[0], ctx)
    expect(keys.unwrapCalls).toBe(4)
  })

  test('with cache: false, every operation makes or unwraps its own key and zeroes it when done', async () => {
    const watch = watchEntries()
    const keys = new CountingKeyProvider()
    const enc = new EnvelopeEncryptor({ keys, cache: false })
    const a = await enc.encrypt('a', ctx)
    const b = await enc.encrypt('b', ctx)
    const batch = await enc.encryptMany(['c', 'd', 'e'].map((value) => ({ value, ctx })))
    expect(keys.generateCalls).toBe(3)
    expect(headerOf(a)).not.toBe(headerOf(b))
    expect(new Set(batch.map(headerOf)).size).toBe(1)
    expect(await enc.decrypt(a, ctx)).toBe('a')
    expect(await enc.decrypt(a, ctx)).toBe('a')
    expect(await enc.decryptMany([...batch, ...batch].map((value) => ({ value, ctx })))).toEqual(['c', 'd', 'e', 'c', 'd', 'e'])
    expect(keys.unwrapCalls).toBe(3)
    watch.stop()
    expect(watch.entries.size).toBe(6)
    for (const e of watch.entries) expect(isZero(keyBytesOf(e))).toBe(true)
    expect(keys.handedOut.every(isZero)).toBe(true)
    expect(enc.stats().cache.decryptionKeysHeld).toBe(0)
  })
})

describe('DataKeyCache on its own, with real entries', () => {
  const entry = (fill: number) => {
    const key = Buffer.alloc(32, fill)
    return { key, entry: new DataKeyEntry('local', Buffer.alloc(1), Buffer.alloc(3), `h${fill}`, key) }
  }

  test('an evicted key still held by a caller is zeroed only when the caller releases it', async () => {
    const cache = new DataKeyCache<DataKeyEntry>({ maxDecryptionKeys: 1 })
    const one = entry(1)
    const held = await cache.forDecryption('one', async () => one.entry)
    await (await cache.forDecryption('two', async () => entry(2).entry)).release()
    expect(isZero(one.key)).toBe(false) // evicted, but still held
    held.release()
    expect(isZero(one.key)).toBe(true)
  })

  test('the active encryption key is zeroed once rotated out and released', async () => {
    const cache = new DataKeyCache<DataKeyEntry>({ maxUses: 2 })
    const made = [entry(1), entry(2)]
    let next = 0
    const create = async () => made[next++]!.entry
    for (let i = 0; i < 2; i++) (await cache.forEncryption(1, create)).release()
    expect(isZero(made[0]!.key)).toBe(false)
    const second = await cache.forEncryption(1, create)
    expect(second).toBe(made[1]!.entry)
    expect(isZero(made[0]!.key)).toBe(true)
    second.release()
    cache.clear()
    expect(isZero(made[1]!.key)).toBe(true)
  })

  test('a key past its decryption TTL is reloaded and the old one zeroed', async () => {
    const cache = new DataKeyCache<DataKeyEntry>({ decryptionKeyTtlMs: 20 })
    const first = entry(1)
    let loads = 0
    const load = async () => (++loads === 1 ? first.entry : entry(2).entry)
    ;(await cache.forDecryption('id', load)).release()
    ;(await cache.forDecryption('id', load)).release()
    expect(loads).toBe(1)
    await new Promise((r) => setTimeout(r, 60))
    ;(await cache.forDecryption('id', load)).release()
    expect(loads).toBe(2)
    expect(isZero(first.key)).toBe(true)
  })
})

describe('remember', () => {
  /** A key that counts its references (the cache's and its callers'). */
  const countedKey = () => {
    const key = { refs: 1, retain: () => void key.refs++, release: () => void key.refs-- }
    return key
  }

  test('the same key under the same id is one reference, also over its own entry past the TTL', async () => {
    const cache = new DataKeyCache<ReturnType<typeof countedKey>>({ decryptionKeyTtlMs: 10 })
    const key = countedKey()
    cache.remember('a', key)
    cache.remember('a', key)
    expect(key.refs).toBe(2)
    await new Promise((resolve) => setTimeout(resolve, 30)) // 'a' is stale, not yet purged
    cache.remember('a', key)
    expect(key.refs).toBe(2)
    const hit = cache.tryForDecryption('a') // remembered again: fresh
    expect(hit).toBe(key)
    hit!.release()
    cache.clear()
    expect(key.refs).toBe(1) // only the creator's own reference is left
  })
})
