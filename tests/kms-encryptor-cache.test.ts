/**
 * EnvelopeEncryptor with AwsKmsKeyProvider: what the data-key cache saves in KMS calls, counted
 * on the KMS test server (real SDK on the wire).
 */
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor, type EncryptorOptions, type StoredValue } from '../src/engine/envelope-encryptor'
import { KeyProviderError } from '../src/errors'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'

const N = 10_000
const ctx = fieldContext('User', 'email', 'users', 'email')
const server = new KmsTestServer()
let client: KMSClient
let oneShotClient: KMSClient // maxAttempts 1: an injected fault fails the call at once

beforeAll(async () => {
  const { endpoint } = await server.start()
  client = kmsClientFor(endpoint)
  oneShotClient = kmsClientFor(endpoint, { maxAttempts: 1 })
  const { KeyMetadata } = await client.send(new CreateKeyCommand({}))
  await client.send(new CreateAliasCommand({ AliasName: 'alias/users', TargetKeyId: KeyMetadata!.KeyId! }))
})

afterEach(() => {
  server.clearFaults()
  server.resetCounts()
})

afterAll(async () => {
  client.destroy()
  oneShotClient.destroy()
  await server.stop()
})

function encryptor(options: Omit<EncryptorOptions, 'keys'> = {}, kms: KMSClient = client): EnvelopeEncryptor {
  return new EnvelopeEncryptor({ keys: new AwsKmsKeyProvider({ keyId: 'alias/users', client: kms }), ...options })
}

const kmsCalls = (): number => server.calls.GenerateDataKey + server.calls.Decrypt

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

/** Runs `task(i)` for i < n, `width` at a time. */
async function inWaves<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n)
  for (let start = 0; start < n; start += width) {
    const wave = Array.from({ length: Math.min(width, n - start) }, (_, k) => task(start + k).then((v) => (out[start + k] = v)))
    await Promise.all(wave)
  }
  return out
}

describe('with the default cache', () => {
  it(`encrypts ${N} values and decrypts them elsewhere with at most 2 KMS calls`, async () => {
    const writer = encryptor()
    const stored: StoredValue[] = []
    for (let i = 0; i < N; i++) stored.push(await writer.encrypt(`user${i}@example.com`, ctx))
    expect(server.calls.GenerateDataKey).toBe(1)

    const reader = encryptor() // another process: cold cache
    for (let i = 0; i < N; i++) expect(await reader.decrypt(stored[i], ctx)).toBe(`user${i}@example.com`)
    expect(server.calls.Decrypt).toBe(1)
    expect(kmsCalls()).toBeLessThanOrEqual(2)

    // the writer already knows its own key
    expect(await writer.decrypt(stored[N - 1], ctx)).toBe(`user${N - 1}@example.com`)
    expect(kmsCalls()).toBe(2)
    expect(reader.stats()).toMatchObject({ dataKeysUnwrapped: 1, valuesDecrypted: N })
  })

  it('makes ONE GenerateDataKey for 100 concurrent encrypts on a cold cache', async () => {
    server.latencyMs = 20
    const e = encryptor()
    const stored = await Promise.all(Array.from({ length: 100 }, (_, i) => e.encrypt(`v${i}`, ctx)))
    expect(server.calls.GenerateDataKey).toBe(1)
    expect(new Set(stored).size).toBe(100)
  })

  it('makes ONE Decrypt for 100 concurrent decrypts of values from another encryptor', async () => {
    const values = Array.from({ length: 100 }, (_, i) => `v${i}`)
    const writer = encryptor()
    const stored = await Promise.all(values.map((v) => writer.encrypt(v, ctx)))
    server.resetCounts()
    server.latencyMs = 20
    const reader = encryptor() // cold cache
    expect(await Promise.all(stored.map((v) => reader.decrypt(v, ctx)))).toEqual(values)
    expect(server.calls.Decrypt).toBe(1)
  })

  it('replaces a data key that has encrypted maxUses values', async () => {
    const e = encryptor({ cache: { maxUses: 10 } })
    const stored: StoredValue[] = []
    for (let i = 0; i < 25; i++) stored.push(await e.encrypt(`v${i}`, ctx))
    expect(server.calls.GenerateDataKey).toBe(3)
    expect(e.stats().dataKeysGenerated).toBe(3)
    const reader = encryptor()
    expect(await reader.decryptMany(stored.map((value) => ({ value, ctx })))).toEqual(stored.map((_, i) => `v${i}`))
    expect(server.calls.Decrypt).toBe(3)
  })

  it('replaces a data key older than maxAgeMs', async () => {
    const e = encryptor({ cache: { maxAgeMs: 50 } })
    await e.encrypt('a', ctx)
    await e.encrypt('b', ctx)
    expect(server.calls.GenerateDataKey).toBe(1)
    await new Promise((r) => setTimeout(r, 80))
    await e.encrypt('c', ctx)
    expect(server.calls.GenerateDataKey).toBe(2)
  })

  it('does not keep a failed GenerateDataKey: every concurrent waiter gets the error, the next call succeeds', async () => {
    const e = encryptor({}, oneShotClient)
    server.latencyMs = 20
    server.failNext(1, 'KMSInternalException')
    const errors = await Promise.all(Array.from({ length: 20 }, () => rejection(e.encrypt('x', ctx))))
    expect(server.calls.GenerateDataKey).toBe(1)
    for (const err of errors) {
      expect(err).toBeInstanceOf(KeyProviderError)
      expect((err as KeyProviderError).reason).toBe('unavailable')
    }
    expect(await e.decrypt(await e.encrypt('x', ctx), ctx)).toBe('x')
    expect(server.calls.GenerateDataKey).toBe(2)
  })

  it('with failedKeyTtlMs: 0, does not keep a failed Decrypt: every concurrent waiter gets the error, the next call succeeds', async () => {
    const stored = await encryptor().encrypt('secret', ctx)
    const reader = encryptor({ cache: { failedKeyTtlMs: 0 } }, oneShotClient) // the default keeps it 5 s: tests/kms-failed-unwraps.test.ts
    server.resetCounts()
    server.latencyMs = 20
    server.failNext(1, 'ThrottlingException')
    const errors = await Promise.all(Array.from({ length: 20 }, () => rejection(reader.decrypt(stored, ctx))))
    expect(server.calls.Decrypt).toBe(1)
    for (const err of errors) {
      expect(err).toBeInstanceOf(KeyProviderError)
      expect(err).toMatchObject({ reason: 'unavailable', model: 'User', field: 'email' })
    }
    expect(await reader.decrypt(stored, ctx)).toBe('secret')
    expect(server.calls.Decrypt).toBe(2)
  })

  it('keeps reading and writing with cached keys while KMS fails every call', async () => {
    const other = await encryptor().encrypt('from elsewhere', ctx)
    const unseen = await encryptor().encrypt('never unwrapped here', ctx)
    const e = encryptor({}, oneShotClient)
    const own = await e.encrypt('mine', ctx)
    expect(await e.decrypt(other, ctx)).toBe('from elsewhere')
    server.resetCounts()

    server.failNext(Number.POSITIVE_INFINITY, 'KMSInternalException')
    for (let i = 0; i < 100; i++) {
      expect(await e.decrypt(own, ctx)).toBe('mine')
      expect(await e.decrypt(other, ctx)).toBe('from elsewhere')
      expect(await e.decrypt(await e.encrypt(`new ${i}`, ctx), ctx)).toBe(`new ${i}`)
    }
    expect(kmsCalls()).toBe(0)
    // a key it has not seen needs KMS, which is down
    expect(await rejection(e.decrypt(unseen, ctx))).toMatchObject({ reason: 'unavailable' })
    expect(server.calls.Decrypt).toBe(1)
  })
})

describe('with cache: false', () => {
  it(`costs one KMS call per value: ${N} GenerateDataKey + ${N} Decrypt`, async () => {
    const e = encryptor({ cache: false })
    const stored = await inWaves(N, 50, (i) => e.encrypt(`user${i}@example.com`, ctx))
    expect(server.calls.GenerateDataKey).toBe(N)
    const plain = await inWaves(N, 50, (i) => e.decrypt(stored[i], ctx))
    expect(plain[0]).toBe('user0@example.com')
    expect(plain[N - 1]).toBe(`user${N - 1}@example.com`)
    expect(server.calls.Decrypt).toBe(N)
    expect(kmsCalls()).toBe(2 * N)
    expect(e.stats()).toMatchObject({ dataKeysGenerated: N, dataKeysUnwrapped: N })
  }, 180_000) // ~20 s: 20,000 real SDK round trips
})
