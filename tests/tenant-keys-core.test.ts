/**
 * Per-tenant keys (scopes) in the core: a scope is bound into each value's AAD and blind index,
 * its data keys come from its own key (local key table or one KMS key per tenant), and shredding
 * a scope's key makes exactly its values unreadable.
 */
import { CreateAliasCommand, CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { BlindIndexer } from '../src/blind-index/blind-indexer'
import type { BlindIndexField } from '../src/blind-index/blind-index-field'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor, type FieldValue } from '../src/engine/envelope-encryptor'
import { DecryptionFailedError, ScopeKeyShreddedError, ScopeRequiredError, UnknownKeyProviderError } from '../src/errors'
import { decodeHeader } from '../src/format/envelope-format'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { awsKmsScopeKeys } from '../src/keys/aws-kms-scope-keys'
import { KeyRing } from '../src/keys/key-ring'
import { localScopeKeys } from '../src/keys/local-scope-keys'
import { MemoryScopeKeyStore } from '../src/keys/scope-key-store'
import { ScopedDataKeyCurrency } from '../src/migration/scoped-data-key-currency'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { takeApart } from './support/envelope-surgery'
import { testLocalKeys } from './support/keys'

const email = fieldContext('User', 'email', 'users', 'email')
const avatar = fieldContext('User', 'avatar', 'users', 'avatar', 'bytes')

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

function localSetup() {
  const master = testLocalKeys()
  const store = new MemoryScopeKeyStore()
  const scopeKeys = localScopeKeys({ master, store })
  const encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
  return { master, store, scopeKeys, encryptor }
}

describe('scoped values with local scope keys', () => {
  it('round-trips text and bytes per scope; unscoped values are as before', async () => {
    const { master, store, encryptor } = localSetup()
    const items: FieldValue[] = [
      { value: 'a@x.io', ctx: email, scope: 'A' },
      { value: 'b@x.io', ctx: email, scope: 'B' },
      { value: 'plain@x.io', ctx: email },
      { value: new Uint8Array([1, 2, 3]), ctx: avatar, scope: 'A' },
    ]
    const stored = await encryptor.encryptMany(items)
    expect(await encryptor.decryptMany(items.map((it, i) => ({ ...it, value: stored[i] })))).toEqual([
      'a@x.io',
      'b@x.io',
      'plain@x.io',
      new Uint8Array([1, 2, 3]),
    ])
    // A fresh encryptor (another process) reads them from the key table.
    const fresh = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store }) })
    expect(await fresh.decrypt(stored[0], email, 'A')).toBe('a@x.io')
    // Each scope has its own data key: the headers differ.
    expect((stored[0] as string).slice(0, 80)).not.toBe((stored[1] as string).slice(0, 80))
  })

  it('a value copied to another scope fails with DecryptionFailedError, and never decrypts unscoped', async () => {
    const { encryptor } = localSetup()
    const a = await encryptor.encrypt('a@x.io', email, 'A')
    await encryptor.encrypt('b@x.io', email, 'B') // B has a key too
    const err = await rejection(encryptor.decrypt(a, email, 'B'))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect(err).toMatchObject({ code: 'KFE_DECRYPTION_FAILED', model: 'User', field: 'email' })
    // Read without a scope: its provider ('local-scope') is none of the encryptor's.
    expect(await rejection(encryptor.decrypt(a, email))).toBeInstanceOf(UnknownKeyProviderError)
    const settled = await encryptor.decryptManySettled([
      { value: a, ctx: email, scope: 'B' },
      { value: a, ctx: email, scope: 'A' },
    ])
    expect(settled[0]).toMatchObject({ ok: false, error: expect.any(DecryptionFailedError) })
    expect(settled[1]).toEqual({ ok: true, value: 'a@x.io' })
    // And an unscoped value is not readable as a scope's.
    const plain = await encryptor.encrypt('p@x.io', email)
    expect(await rejection(encryptor.decrypt(plain, email, 'A'))).toBeInstanceOf(DecryptionFailedError)
  })

  it('with the same key for two scopes (shared KMS key case), the AAD still tells them apart', async () => {
    const master = testLocalKeys()
    const shared = testLocalKeys()
    const encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys: { providerFor: async () => shared } })
    const a = await encryptor.encrypt('a@x.io', email, 'A')
    expect(await encryptor.decrypt(a, email, 'A')).toBe('a@x.io')
    const err = await rejection(encryptor.decrypt(a, email, 'B'))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect((err as Error).message).toMatch(/authentication failed/)
  })

  it('a scoped value without scopeKeys, or with a malformed scope, is refused before anything is encrypted', async () => {
    const encryptor = new EnvelopeEncryptor({ keys: testLocalKeys() })
    const err = await rejection(
      encryptor.encryptMany([
        { value: 'x', ctx: email },
        { value: 'y', ctx: email, scope: 'A' },
      ]),
    )
    expect(err).toBeInstanceOf(ScopeRequiredError)
    expect(err).toMatchObject({ code: 'KFE_SCOPE_REQUIRED', model: 'User', field: 'email' })
    expect(encryptor.stats().dataKeysGenerated).toBe(0)
    const { encryptor: scoped } = localSetup()
    for (const bad of ['', 'a\u0000b', 'x'.repeat(256), 'acme ', 'acme\t']) {
      expect(await rejection(scoped.encrypt('x', email, bad))).toBeInstanceOf(ScopeRequiredError)
    }
  })

  it('one scope’s data key never encrypts another scope’s value (per-scope cache)', async () => {
    const { encryptor } = localSetup()
    const items: FieldValue[] = []
    for (let i = 0; i < 30; i++) items.push({ value: `u${i}@x.io`, ctx: email, scope: `s${i % 3}` })
    const stored = (await encryptor.encryptMany(items)) as string[]
    const headers = new Map<string, Set<string>>()
    stored.forEach((v, i) => {
      const set = headers.get(items[i]!.scope!) ?? new Set()
      set.add(v.slice(0, 100))
      headers.set(items[i]!.scope!, set)
    })
    expect(encryptor.stats().dataKeysGenerated).toBe(3)
    const all = [...headers.values()].flatMap((s) => [...s])
    expect(new Set(all).size).toBe(3) // one header per scope, none shared
    // A second batch reuses each scope's key: no new data key.
    await encryptor.encryptMany(items)
    expect(encryptor.stats().dataKeysGenerated).toBe(3)
  })
})

describe('shredding a local scope key', () => {
  it('A becomes unreadable with ScopeKeyShreddedError (naming model, field and scope), B is intact, A cannot be written again', async () => {
    const { master, store, scopeKeys, encryptor } = localSetup()
    const a = await encryptor.encrypt('a@x.io', email, 'A')
    const b = await encryptor.encrypt('b@x.io', email, 'B')
    const captured = a // a copy taken before the shred (a backup of the data table)
    await scopeKeys.shred('A')
    encryptor.forgetScope('A')
    const err = await rejection(encryptor.decrypt(a, email, 'A'))
    expect(err).toBeInstanceOf(ScopeKeyShreddedError)
    expect(err).toMatchObject({ code: 'KFE_SCOPE_KEY_SHREDDED', model: 'User', field: 'email', scope: 'A' })
    expect((err as Error).message).toBe(
      "User.email: the key of scope 'A' was shredded; its values cannot be read and nothing is written for it",
    )
    expect(await encryptor.decrypt(b, email, 'B')).toBe('b@x.io')
    // Writes for A are refused: the tombstone stops a silent re-creation.
    expect(await rejection(encryptor.encrypt('new@x.io', email, 'A'))).toBeInstanceOf(ScopeKeyShreddedError)
    expect((await store.get('A'))?.wrappedKey).toBeNull()
    // Another process, with the same master key and key table: A unreadable, B readable.
    const other = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store }) })
    expect(await rejection(other.decrypt(captured, email, 'A'))).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await rejection(other.encrypt('again@x.io', email, 'A'))).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await other.decrypt(b, email, 'B')).toBe('b@x.io')
    // A batch mixing both: settled gives A its error and B its value.
    const settled = await other.decryptManySettled([
      { value: captured, ctx: email, scope: 'A' },
      { value: b, ctx: email, scope: 'B' },
    ])
    expect(settled[0]).toMatchObject({ ok: false, error: expect.any(ScopeKeyShreddedError) })
    expect(settled[1]).toEqual({ ok: true, value: 'b@x.io' })
  })

  it('the process that shreds refuses the scope at once, cached data keys included, before any forgetScope', async () => {
    const { scopeKeys, encryptor } = localSetup()
    const a = await encryptor.encrypt('a@x.io', email, 'A') // A's data key is now cached, for reads and writes
    const b = await encryptor.encrypt('b@x.io', email, 'B')
    expect(await encryptor.decrypt(a, email, 'A')).toBe('a@x.io')
    await scopeKeys.shred('A') // no forgetScope
    expect(await rejection(encryptor.encrypt('after@x.io', email, 'A'))).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await rejection(encryptor.decrypt(a, email, 'A'))).toMatchObject({ code: 'KFE_SCOPE_KEY_SHREDDED', field: 'email' })
    const settled = await encryptor.decryptManySettled([
      { value: a, ctx: email, scope: 'A' },
      { value: b, ctx: email, scope: 'B' },
    ])
    expect(settled[0]).toMatchObject({ ok: false, error: expect.any(ScopeKeyShreddedError) })
    expect(settled[1]).toEqual({ ok: true, value: 'b@x.io' })
    expect(encryptor.stats().scopes?.held).toBe(1) // A's data keys were dropped, B's remain
  })

  it('a scope shredded before it was ever used is never created', async () => {
    const { scopeKeys, encryptor } = localSetup()
    await scopeKeys.shred('never')
    expect(await rejection(encryptor.encrypt('x', email, 'never'))).toBeInstanceOf(ScopeKeyShreddedError)
  })

  it('a key lookup in flight when shred() starts, or a provider held from before, writes nothing for the shredded scope', async () => {
    const master = testLocalKeys()
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    class SlowStore extends MemoryScopeKeyStore {
      slow = false
      override async get(scope: string) {
        const row = await super.get(scope)
        if (this.slow) await gate
        return row
      }
    }
    const store = new SlowStore()
    const scopeKeys = localScopeKeys({ master, store })
    const encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
    const early = await encryptor.encrypt('a@x.io', email, 'A') // scope A's key exists; its provider is cached
    const provider = await scopeKeys.providerFor('A')
    // A second process whose lookup of A reads the live row, then waits while A is shredded.
    const other = localScopeKeys({ master, store })
    store.slow = true
    const inFlight = other.providerFor('A')
    await scopeKeys.shred('A')
    store.slow = false
    release()
    // The other process read the row before the tombstone: its lookup still yields a provider
    // (another process cannot know), which is the providerTtlMs window the README describes.
    await inFlight
    // In this process, every call through a provider of A is refused once shred() started, even
    // through a provider object obtained before, and after forgetScope no data key is made for A.
    expect(await rejection(provider.generateDataKey())).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await rejection(provider.unwrapDataKey(Buffer.alloc(68)))).toBeInstanceOf(ScopeKeyShreddedError)
    encryptor.forgetScope('A')
    expect(await rejection(encryptor.encrypt('late@x.io', email, 'A'))).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await rejection(encryptor.decrypt(early, email, 'A'))).toBeInstanceOf(ScopeKeyShreddedError)
  })

  it('a lookup in flight in this process when shred() starts is refused when it completes', async () => {
    const master = testLocalKeys()
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    class SlowStore extends MemoryScopeKeyStore {
      override async get(scope: string) {
        const row = await super.get(scope)
        await gate
        return row
      }
    }
    const store = new SlowStore()
    await store.putIfAbsent('A', {
      ...(await (async () => {
        const { wrapped, plaintext } = await master.generateDataKey()
        plaintext.fill(0)
        return { providerId: master.id, wrappedKey: wrapped, shreddedAt: null }
      })()),
    })
    const scopeKeys = localScopeKeys({ master, store })
    const encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
    const write = encryptor.encrypt('a@x.io', email, 'A') // its provider lookup reads the live row, then waits
    await new Promise((resolve) => setImmediate(resolve))
    const shred = scopeKeys.shred('A')
    release()
    await shred
    expect(await rejection(write)).toBeInstanceOf(ScopeKeyShreddedError)
  })

  it('concurrent first uses of a scope in two processes agree on one key (insert-if-absent, the winner re-read)', async () => {
    const master = testLocalKeys()
    const store = new MemoryScopeKeyStore()
    const one = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store }) })
    const two = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store }) })
    const [x, y] = await Promise.all([one.encrypt('x', email, 'T'), two.encrypt('y', email, 'T')])
    expect(await two.decrypt(x, email, 'T')).toBe('x')
    expect(await one.decrypt(y, email, 'T')).toBe('y')
  })
})

describe('scoped blind indexes', () => {
  const field: BlindIndexField = {
    model: 'User',
    source: 'email',
    index: 'emailIndex',
    table: 'users',
    sourceColumn: 'email',
    column: 'email_index',
    normalize: ['lowercase'],
    unique: true,
  }

  it('equal emails in two scopes get unrelated indexes; unscoped differs from both; stable per scope', async () => {
    const indexer = new BlindIndexer([field], { rootKey: testLocalKeys() })
    await indexer.load()
    const a = indexer.compute(field, 'Same@x.io', 'A')
    const b = indexer.compute(field, 'same@x.io', 'B')
    const none = indexer.compute(field, 'same@x.io')
    expect(a).not.toBe(b)
    expect(none).not.toBe(a)
    expect(none).not.toBe(b)
    expect(indexer.compute(field, 'SAME@x.io', 'A')).toBe(a)
    expect(indexer.candidates(field, 'same@x.io', 'B')).toEqual([b])
    expect(() => indexer.compute(field, 'x', '')).toThrow(ScopeRequiredError)
  })
})

describe('KMS: one key per tenant', () => {
  const server = new KmsTestServer()
  let client: KMSClient
  beforeAll(async () => {
    const { endpoint } = await server.start()
    client = kmsClientFor(endpoint)
    for (const alias of ['alias/tenant-even', 'alias/tenant-odd']) {
      const { KeyMetadata } = await client.send(new CreateKeyCommand({}))
      await client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: KeyMetadata!.KeyId! }))
    }
  })
  afterAll(async () => {
    client.destroy()
    await server.stop()
  })

  const scopeKeysOf = () => awsKmsScopeKeys({ keyIdFor: (s) => `alias/tenant-${Number(s.slice(1)) % 2 ? 'odd' : 'even'}`, client })
  const kmsCalls = () => ({ generate: server.calls.GenerateDataKey, decrypt: server.calls.Decrypt })

  it('1,000 scopes × 10 values cost one GenerateDataKey and one Decrypt per scope; the cache stays bounded', async () => {
    const SCOPES = 1000
    const items: FieldValue[] = []
    for (let s = 0; s < SCOPES; s++) for (let v = 0; v < 10; v++) items.push({ value: `u${v}@t${s}.io`, ctx: email, scope: `t${s}` })
    server.resetCounts()
    const writer = new EnvelopeEncryptor({ keys: testLocalKeys(), scopeKeys: scopeKeysOf() })
    const stored = await writer.encryptMany(items)
    expect(kmsCalls()).toEqual({ generate: SCOPES, decrypt: 0 })
    // The writer reads its own values from its cache: no KMS call.
    expect(await writer.decryptMany(items.map((it, i) => ({ ...it, value: stored[i] })))).toEqual(items.map((it) => it.value))
    expect(kmsCalls()).toEqual({ generate: SCOPES, decrypt: 0 })
    // Another process, with a cache of 100 scopes: one Decrypt per scope, at most 100 scopes held.
    const reader = new EnvelopeEncryptor({ keys: testLocalKeys(), scopeKeys: scopeKeysOf(), cache: { maxScopes: 100 } })
    server.resetCounts()
    const read = await reader.decryptMany(items.map((it, i) => ({ ...it, value: stored[i] })))
    expect(read).toEqual(items.map((it) => it.value))
    expect(kmsCalls()).toEqual({ generate: 0, decrypt: SCOPES })
    expect(reader.stats().scopes!.held).toBeLessThanOrEqual(100)
    expect(reader.stats().scopes!.providerLookups).toBe(SCOPES)
    console.log(
      `KMS calls, 1,000 scopes × 10 values: write ${SCOPES} GenerateDataKey, cold read ${SCOPES} Decrypt; scopes held ${reader.stats().scopes!.held}`,
    )
    // A value of tenant t1 copied into t3's row (same KMS key, other scope) does not decrypt.
    expect(await rejection(reader.decrypt(stored[10]!, email, 't3'))).toBeInstanceOf(DecryptionFailedError)
  })

  it('scoped values carry the provider id aws-kms-scope, so a scoped run tells unscoped KMS values (aws-kms) from the scope’s', async () => {
    const unscopedKms = new AwsKmsKeyProvider({ keyId: 'alias/tenant-odd', client })
    const scopeKeys = scopeKeysOf()
    const encryptor = new EnvelopeEncryptor({ keys: [unscopedKms], scopeKeys })
    const before = await encryptor.encrypt('old@t1.io', email)
    const scoped = await encryptor.encrypt('new@t1.io', email, 't1')
    const headerOf = (value: string | Uint8Array) => decodeHeader(takeApart(value).header, {})
    expect(headerOf(before).providerId).toBe('aws-kms')
    expect(headerOf(scoped).providerId).toBe('aws-kms-scope')
    const currency = new ScopedDataKeyCurrency(new KeyRing([unscopedKms]), scopeKeys, 't1')
    const at = { model: 'User', field: 'email' }
    expect(await currency.holds(headerOf(before), at)).toBe(false)
    expect(await currency.of('', headerOf(before), at)).toEqual({ state: 'older' })
    expect(await currency.holds(headerOf(scoped), at)).toBe(true)
    expect(await currency.of('', headerOf(scoped), at)).toEqual({ state: 'current' })
    // Both still read: the unscoped one without the scope, the scoped one with it.
    expect(await encryptor.decrypt(before, email)).toBe('old@t1.io')
    expect(await encryptor.decrypt(scoped, email, 't1')).toBe('new@t1.io')
    // An explicit id still wins.
    const named = await new EnvelopeEncryptor({
      keys: [unscopedKms],
      scopeKeys: awsKmsScopeKeys({ keyIdFor: () => 'alias/tenant-odd', client, id: 'kms-t' }),
    }).encrypt('x', email, 't1')
    expect(headerOf(named).providerId).toBe('kms-t')
  })
})
