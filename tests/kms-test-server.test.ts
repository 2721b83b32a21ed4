/**
 * The KMS test server answers the real SDK the way AWS KMS does (the provider tests are only as
 * good as this fake): wire format, key references, key states, authenticated context, faults.
 */
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'

const server = new KmsTestServer()
let endpoint: string
let client: KMSClient
let once: KMSClient
let keyA: { id: string; arn: string }
let keyB: { id: string; arn: string }

beforeAll(async () => {
  ;({ endpoint } = await server.start())
  client = kmsClientFor(endpoint)
  once = kmsClientFor(endpoint, { maxAttempts: 1 })
  for (const assign of [(k: typeof keyA) => (keyA = k), (k: typeof keyA) => (keyB = k)]) {
    const { KeyMetadata } = await client.send(new CreateKeyCommand({ Description: 'server test' }))
    assign({ id: KeyMetadata!.KeyId!, arn: KeyMetadata!.Arn! })
  }
  await client.send(new CreateAliasCommand({ AliasName: 'alias/a', TargetKeyId: keyA.arn }))
})

afterEach(() => {
  server.clearFaults()
  server.resetCounts()
})

afterAll(async () => {
  client.destroy()
  once.destroy()
  await server.stop()
})

async function awsError(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  const err = (await promise.then(
    () => {
      throw new Error('expected an AWS error')
    },
    (e: unknown) => e,
  )) as { name: string; $metadata?: { httpStatusCode?: number } }
  return { name: err.name, status: err.$metadata?.httpStatusCode }
}

/** The message of a failure below HTTP. (Under Jest the SDK re-wraps Node's cross-realm errors, losing name and code.) */
async function networkFailure(promise: Promise<unknown>): Promise<string> {
  const err = (await promise.then(
    () => {
      throw new Error('expected a network failure')
    },
    (e: unknown) => e,
  )) as { message: string; $metadata?: { httpStatusCode?: number } }
  expect(err.$metadata?.httpStatusCode).toBeUndefined()
  return err.message
}

it('names keys by ARN and dates in epoch seconds', async () => {
  expect(keyA.arn).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\/[0-9a-f-]{36}$/)
  expect(keyA.arn.endsWith(keyA.id)).toBe(true)
  const { KeyMetadata } = await client.send(new DescribeKeyCommand({ KeyId: 'alias/a' }))
  expect(KeyMetadata).toMatchObject({
    KeyId: keyA.id,
    Arn: keyA.arn,
    KeyState: 'Enabled',
    Enabled: true,
    KeyManager: 'CUSTOMER',
    Description: 'server test',
  })
  expect(KeyMetadata!.CreationDate).toBeInstanceOf(Date)
  expect(Math.abs(KeyMetadata!.CreationDate!.getTime() - Date.now())).toBeLessThan(60_000)
})

it('GenerateDataKey takes exactly one of KeySpec and NumberOfBytes', async () => {
  expect((await client.send(new GenerateDataKeyCommand({ KeyId: keyA.id, KeySpec: 'AES_128' }))).Plaintext).toHaveLength(16)
  expect((await client.send(new GenerateDataKeyCommand({ KeyId: keyA.id, NumberOfBytes: 64 }))).Plaintext).toHaveLength(64)
  expect(await awsError(client.send(new GenerateDataKeyCommand({ KeyId: keyA.id })))).toEqual({ name: 'ValidationException', status: 400 })
  expect(await awsError(client.send(new GenerateDataKeyCommand({ KeyId: keyA.id, KeySpec: 'AES_256', NumberOfBytes: 32 })))).toEqual({
    name: 'ValidationException',
    status: 400,
  })
})

it('Decrypt finds the key in the blob, and a pinned KeyId in any form must match it', async () => {
  const { CiphertextBlob, KeyId } = await client.send(new EncryptCommand({ KeyId: 'alias/a', Plaintext: Buffer.from('hello') }))
  expect(KeyId).toBe(keyA.arn)
  const aliasArn = keyA.arn.replace(/key\/.*/, 'alias/a')
  for (const ref of [undefined, keyA.id, keyA.arn, 'alias/a', aliasArn]) {
    const out = await client.send(new DecryptCommand({ CiphertextBlob, KeyId: ref }))
    expect(Buffer.from(out.Plaintext!).toString()).toBe('hello')
    expect(out.KeyId).toBe(keyA.arn)
  }
  expect(await awsError(client.send(new DecryptCommand({ CiphertextBlob, KeyId: keyB.id })))).toEqual({
    name: 'IncorrectKeyException',
    status: 400,
  })
  expect((await awsError(client.send(new DecryptCommand({ CiphertextBlob, KeyId: 'alias/none' })))).name).toBe('NotFoundException')
})

it('authenticates the blob and its encryption context', async () => {
  const EncryptionContext = { table: 'users' }
  const { CiphertextBlob } = await client.send(new EncryptCommand({ KeyId: keyA.id, Plaintext: Buffer.from('x'), EncryptionContext }))
  await client.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { table: 'users' } }))
  const others: Array<Record<string, string> | undefined> = [undefined, { table: 'orders' }, { table: 'users', extra: '1' }]
  for (const context of others) {
    expect((await awsError(client.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context })))).name).toBe(
      'InvalidCiphertextException',
    )
  }
  for (const at of [0, 10, CiphertextBlob!.length - 1]) {
    const mangled = Buffer.from(CiphertextBlob!)
    mangled[at]! ^= 0x40
    expect((await awsError(client.send(new DecryptCommand({ CiphertextBlob: mangled, EncryptionContext })))).name).toBe(
      'InvalidCiphertextException',
    )
  }
  expect((await awsError(client.send(new DecryptCommand({ CiphertextBlob: CiphertextBlob!.subarray(0, 20) })))).name).toBe(
    'InvalidCiphertextException',
  )
})

it('ReEncrypt moves a blob to another key and names both keys by ARN', async () => {
  const { CiphertextBlob } = await client.send(
    new EncryptCommand({ KeyId: keyA.id, Plaintext: Buffer.from('moved'), EncryptionContext: { a: '1' } }),
  )
  const out = await client.send(
    new ReEncryptCommand({
      CiphertextBlob,
      SourceKeyId: 'alias/a',
      SourceEncryptionContext: { a: '1' },
      DestinationKeyId: keyB.id,
      DestinationEncryptionContext: { b: '2' },
    }),
  )
  expect(out).toMatchObject({ KeyId: keyB.arn, SourceKeyId: keyA.arn })
  const back = await client.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob, KeyId: keyB.arn, EncryptionContext: { b: '2' } }))
  expect(Buffer.from(back.Plaintext!).toString()).toBe('moved')
})

it('refuses AWS managed aliases and keys pending deletion', async () => {
  expect(await awsError(client.send(new GenerateDataKeyCommand({ KeyId: 'alias/aws/ebs', KeySpec: 'AES_256' })))).toEqual({
    name: 'AccessDeniedException',
    status: 400,
  })
  const { KeyMetadata } = await client.send(new CreateKeyCommand({}))
  const out = await client.send(new ScheduleKeyDeletionCommand({ KeyId: KeyMetadata!.Arn, PendingWindowInDays: 7 }))
  expect(out.KeyState).toBe('PendingDeletion')
  expect(out.DeletionDate!.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000)
  expect((await awsError(client.send(new GenerateDataKeyCommand({ KeyId: KeyMetadata!.KeyId, KeySpec: 'AES_256' })))).name).toBe(
    'KMSInvalidStateException',
  )
})

it('injects throttling (400) and internal errors (500), and counts every request', async () => {
  server.failNext(1, 'ThrottlingException')
  expect(await awsError(once.send(new DescribeKeyCommand({ KeyId: keyA.id })))).toEqual({ name: 'ThrottlingException', status: 400 })
  server.failNext(1, 'KMSInternalException')
  expect(await awsError(once.send(new DescribeKeyCommand({ KeyId: keyA.id })))).toEqual({ name: 'KMSInternalException', status: 500 })
  await once.send(new DescribeKeyCommand({ KeyId: keyA.id }))
  expect(server.calls.DescribeKey).toBe(3)
  server.resetCounts()
  expect(server.calls.DescribeKey).toBe(0)
})

it('drops connections on demand', async () => {
  server.dropConnections(1)
  expect(await networkFailure(once.send(new DescribeKeyCommand({ KeyId: keyA.id })))).toMatch(/socket hang up/)
  expect((await once.send(new DescribeKeyCommand({ KeyId: keyA.id }))).KeyMetadata!.Arn).toBe(keyA.arn)
  expect(server.calls.DescribeKey).toBe(2)
})

it('hangs on demand, and stop() still closes promptly, ending requests in flight', async () => {
  const hung = new KmsTestServer()
  hung.hang = true
  const waiting = kmsClientFor((await hung.start()).endpoint, { maxAttempts: 1 })
  const inFlight = networkFailure(waiting.send(new DescribeKeyCommand({ KeyId: 'x' })))
  while (hung.calls.DescribeKey === 0) await new Promise((r) => setTimeout(r, 5))
  const started = Date.now()
  await hung.stop()
  expect(Date.now() - started).toBeLessThan(1_000)
  expect(await inFlight).toMatch(/socket hang up/)
  waiting.destroy()
})
