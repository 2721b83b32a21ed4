/**
 * AwsKmsKeyProvider when KMS misbehaves: throttling, 5xx, dropped and hung connections, AWS
 * managed keys, and how many KMS calls each path costs. The faults are injected by the test
 * server; retries are the real SDK's.
 */
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { randomUUID } from 'node:crypto'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { ConfigurationError, KeyProviderError } from '../src/errors'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { KmsTestServer, REGION, TEST_CREDENTIALS, kmsClientFor } from './support/kms-test-server'

const server = new KmsTestServer()
let endpoint: string
let admin: KMSClient
let keyArn: string
let keyAlias: string
let otherKeyArn: string
const clients: KMSClient[] = []
const providers: AwsKmsKeyProvider[] = []

beforeAll(async () => {
  ;({ endpoint } = await server.start())
  admin = kmsClientFor(endpoint)
  keyArn = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!
  otherKeyArn = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!
  keyAlias = `alias/faults-${randomUUID()}`
  await admin.send(new CreateAliasCommand({ AliasName: keyAlias, TargetKeyId: keyArn }))
})

afterEach(() => {
  server.clearFaults()
  server.resetCounts()
  for (const p of providers.splice(0)) p.destroy()
  for (const c of clients.splice(0)) c.destroy()
})

afterAll(async () => {
  admin.destroy()
  await server.stop()
})

function client(options: { maxAttempts?: number; requestTimeoutMs?: number } = {}): KMSClient {
  const c = kmsClientFor(endpoint, options)
  clients.push(c)
  return c
}

function provider(options: Partial<ConstructorParameters<typeof AwsKmsKeyProvider>[0]> = {}): AwsKmsKeyProvider {
  const p = new AwsKmsKeyProvider({ keyId: keyAlias, ...(options.clientConfig ? {} : { client: options.client ?? client() }), ...options })
  providers.push(p)
  return p
}

async function failure(promise: Promise<unknown>): Promise<KeyProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof KeyProviderError)) throw new Error(`expected a KeyProviderError, got ${String(err)}`)
  return err
}

describe('AWS managed keys', () => {
  it.each(['alias/aws/rds', `arn:aws:kms:${REGION}:111122223333:alias/aws/s3`])('refuses %s with reason aws-managed-key', async (keyId) => {
    const err = await failure(provider({ keyId }).generateDataKey())
    expect(err.reason).toBe('aws-managed-key')
    expect(err.code).toBe('KFE_KEY_AWS_MANAGED_KEY')
    expect(err.message).toMatch(/AWS managed key/)
    expect(err.message).toMatch(/customer managed key/)
  })
})

describe('retries (the SDK standard mode, 3 attempts)', () => {
  it.each(['ThrottlingException', 'KMSInternalException'] as const)('survives two %s answers on GenerateDataKey', async (fault) => {
    const p = provider()
    server.failNext(2, fault)
    const { plaintext } = await p.generateDataKey()
    expect(plaintext).toHaveLength(32)
    expect(server.calls.GenerateDataKey).toBe(3)
  })

  it('survives a throttled Decrypt', async () => {
    const p = provider()
    const { plaintext, wrapped } = await p.generateDataKey()
    server.failNext(1, 'ThrottlingException')
    expect(await p.unwrapDataKey(wrapped)).toEqual(plaintext)
    expect(server.calls.Decrypt).toBe(2)
  })

  it('survives two dropped connections', async () => {
    const p = provider()
    server.dropConnections(2)
    await p.generateDataKey()
    expect(server.calls.GenerateDataKey).toBe(3)
  })

  it.each(['ThrottlingException', 'KMSInternalException'] as const)(
    'gives up after maxAttempts with reason unavailable (%s)',
    async (fault) => {
      const p = provider({ client: client({ maxAttempts: 2 }) })
      server.failNext(2, fault)
      const err = await failure(p.generateDataKey())
      expect(err.reason).toBe('unavailable')
      expect(err.code).toBe('KFE_KEY_UNAVAILABLE')
      expect(err.message).toContain(fault)
      expect(err.message).toContain('after 2 attempts')
      expect(server.calls.GenerateDataKey).toBe(2)
      // the fault was transient: the next call goes through
      await p.generateDataKey()
    },
  )

  it('gives up on connections that keep dropping with reason unavailable', async () => {
    const p = provider({ client: client({ maxAttempts: 2 }) })
    server.dropConnections(2)
    expect((await failure(p.generateDataKey())).reason).toBe('unavailable')
    expect(server.calls.GenerateDataKey).toBe(2)
  })

  it('does not retry a definite answer (wrong key, not found)', async () => {
    const p = provider()
    const { wrapped } = await p.generateDataKey()
    server.resetCounts()
    expect((await failure(provider({ keyId: otherKeyArn }).unwrapDataKey(wrapped))).reason).toBe('wrong-key')
    expect(server.calls.Decrypt).toBe(1)
    expect((await failure(provider({ keyId: 'alias/nope' }).generateDataKey())).reason).toBe('not-found')
    expect(server.calls.GenerateDataKey).toBe(1)
  })
})

describe('a hung KMS', () => {
  it('is cut by the encryptor deadline (providerTimeoutMs)', async () => {
    const encryptor = new EnvelopeEncryptor({ keys: provider({ client: client({ maxAttempts: 1 }) }), providerTimeoutMs: 300 })
    server.hang = true
    const started = Date.now()
    const err = await failure(encryptor.encrypt('x', fieldContext('User', 'email', 'users', 'email')))
    const elapsed = Date.now() - started
    expect(err.reason).toBe('unavailable')
    expect(err.message).toContain('no answer within 300 ms')
    expect(elapsed).toBeGreaterThanOrEqual(290)
    expect(elapsed).toBeLessThan(2_000)
    expect(server.calls.GenerateDataKey).toBe(1)
  })

  it("is cut by the provider's own request timeout, each SDK attempt in turn", async () => {
    const p = provider({
      keyId: keyArn, // the region comes from the ARN
      clientConfig: { endpoint, credentials: TEST_CREDENTIALS, maxAttempts: 2 },
      requestTimeoutMs: 200,
    })
    server.hang = true
    const started = Date.now()
    const err = await failure(p.generateDataKey())
    const elapsed = Date.now() - started
    expect(err.reason).toBe('unavailable')
    expect(err.message).toContain('TimeoutError')
    expect(server.calls.GenerateDataKey).toBe(2)
    expect(elapsed).toBeGreaterThanOrEqual(400)
    expect(elapsed).toBeLessThan(3_000)
    server.hang = false
    await p.generateDataKey()
  })
})

describe('KMS calls per operation', () => {
  it('tries the configured key first, then each accepted key, once each', async () => {
    const current = provider({ keyId: otherKeyArn, acceptedKeyIds: [keyAlias] })
    const own = await current.generateDataKey()
    const older = await provider().generateDataKey()
    server.resetCounts()
    await current.unwrapDataKey(own.wrapped)
    expect(server.calls.Decrypt).toBe(1)
    expect(await current.unwrapDataKey(older.wrapped)).toEqual(older.plaintext)
    expect(server.calls.Decrypt).toBe(3)

    const stranger = provider({ keyId: (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId! })
    const foreign = await stranger.generateDataKey()
    server.resetCounts()
    const err = await failure(current.unwrapDataKey(foreign.wrapped))
    expect(err.reason).toBe('wrong-key')
    expect(err.message).toContain(otherKeyArn)
    expect(err.message).toContain(keyAlias)
    expect(server.calls.Decrypt).toBe(2)
  })

  it('unwraps the blind-index root key once, even for concurrent callers', async () => {
    const wrappedRoot = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId: keyAlias, client: client() })
    const p = provider({ wrappedBlindIndexRootKey: wrappedRoot })
    server.resetCounts()
    const keys = await Promise.all(Array.from({ length: 20 }, () => p.blindIndexRootKey()))
    await p.blindIndexRootKey()
    expect(server.calls.Decrypt).toBe(1)
    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(1)
  })

  it('does not keep a failed root-key unwrap', async () => {
    const wrappedRoot = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId: keyAlias, client: client() })
    const p = provider({ client: client({ maxAttempts: 1 }), wrappedBlindIndexRootKey: wrappedRoot })
    server.failNext(1, 'KMSInternalException')
    expect((await failure(p.blindIndexRootKey())).reason).toBe('unavailable')
    expect(await p.blindIndexRootKey()).toHaveLength(32)
  })
})

describe('configuration', () => {
  it('rejects contradictory or malformed options', () => {
    const c = client()
    expect(() => new AwsKmsKeyProvider({ keyId: '' })).toThrow(ConfigurationError)
    expect(() => new AwsKmsKeyProvider({ keyId: ' alias/x' })).toThrow(ConfigurationError)
    expect(() => new AwsKmsKeyProvider({ keyId: 'alias/x', client: c, requestTimeoutMs: 100 })).toThrow(/requestTimeoutMs/)
    expect(() => new AwsKmsKeyProvider({ keyId: 'alias/x', requestTimeoutMs: 0 })).toThrow(ConfigurationError)
    expect(() => new AwsKmsKeyProvider({ keyId: 'alias/x', client: c, wrappedBlindIndexRootKey: 'not base64!' })).toThrow(
      ConfigurationError,
    )
    expect(() => new AwsKmsKeyProvider({ keyId: 'alias/x', client: c, encryptionContext: { a: 1 as unknown as string } })).toThrow(
      ConfigurationError,
    )
    expect(() => new AwsKmsKeyProvider({ keyId: 'alias/x', client: c, id: '' })).toThrow(ConfigurationError)
  })

  it('uses the default encryption context and id', () => {
    const p = provider()
    expect(p.id).toBe('aws-kms')
    expect(p.encryptionContext).toEqual({ purpose: 'kms-field-encryption' })
    expect(p.isCurrent(Buffer.alloc(10))).toBe(true)
  })

  it('leaves a client it was given open, and closes one it made', async () => {
    const own = client()
    const p = new AwsKmsKeyProvider({ keyId: keyAlias, client: own })
    p.destroy()
    await p.generateDataKey() // the caller's client still works
    const made = new AwsKmsKeyProvider({ keyId: keyAlias, clientConfig: { endpoint, region: REGION, credentials: TEST_CREDENTIALS } })
    await made.generateDataKey()
    made.destroy()
  })
})
