/**
 * AwsKmsKeyProvider against a KMS on the wire, through the real @aws-sdk/client-kms: always
 * against the in-process test server, and also against LocalStack when KMS_ENDPOINT is set.
 * Keys are made through the SDK, so the same suite runs on both.
 */
import { randomUUID } from 'node:crypto'
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { KeyProviderError } from '../src/errors'
import { AwsKmsKeyProvider, type AwsKmsKeyProviderOptions } from '../src/keys/aws-kms-key-provider'
import { KmsTestServer, TEST_CREDENTIALS, kmsClientFor } from './support/kms-test-server'

interface KmsTarget {
  client: KMSClient
  close(): Promise<void>
}

interface TestKey {
  id: string
  arn: string
  alias: string
  aliasArn: string
}

function providerSuite(name: string, open: () => Promise<KmsTarget>): void {
  describe(name, () => {
    let target: KmsTarget
    let client: KMSClient
    let keyA: TestKey
    let keyB: TestKey

    beforeAll(async () => {
      target = await open()
      client = target.client
      keyA = await newKey()
      keyB = await newKey()
    })
    afterAll(async () => {
      await target?.close()
    })

    async function newKey(): Promise<TestKey> {
      const made = await client.send(new CreateKeyCommand({ Description: 'kms-field-encryption test key' }))
      const id = made.KeyMetadata!.KeyId!
      const arn = made.KeyMetadata!.Arn!
      const alias = `alias/kfe-test-${randomUUID()}`
      await client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: id }))
      return { id, arn, alias, aliasArn: arn.replace(/:key\/.*$/, `:${alias}`) }
    }

    function provider(keyId: string, more: Omit<AwsKmsKeyProviderOptions, 'keyId' | 'client'> = {}): AwsKmsKeyProvider {
      return new AwsKmsKeyProvider({ keyId, client, ...more })
    }

    async function failure(promise: Promise<unknown>): Promise<KeyProviderError> {
      const err = await promise.then(
        () => undefined,
        (e: unknown) => e,
      )
      if (!(err instanceof KeyProviderError)) throw new Error(`expected a KeyProviderError, got ${String(err)}`)
      return err
    }

    it('generates a 256-bit data key and unwraps it again', async () => {
      const p = provider(keyA.id)
      const { plaintext, wrapped } = await p.generateDataKey()
      expect(plaintext).toHaveLength(32)
      expect(wrapped.length).toBeGreaterThan(32)
      expect(wrapped.includes(plaintext)).toBe(false)
      expect(await p.unwrapDataKey(wrapped)).toEqual(plaintext)
      expect(p.id).toBe('aws-kms')
      expect(p.currentKeyArn).toBe(keyA.arn)
      const second = await p.generateDataKey()
      expect(second.plaintext.equals(plaintext)).toBe(false)
    })

    it('accepts the key as key id, key ARN, alias name or alias ARN, interchangeably', async () => {
      const refs = [keyA.id, keyA.arn, keyA.alias, keyA.aliasArn]
      for (const writer of refs) {
        const { plaintext, wrapped } = await provider(writer).generateDataKey()
        for (const reader of refs) {
          expect(await provider(reader).unwrapDataKey(wrapped)).toEqual(plaintext)
        }
      }
    })

    it('refuses a data key wrapped by another KMS key (wrong-key), unless that key is accepted', async () => {
      const { plaintext, wrapped } = await provider(keyA.alias).generateDataKey()
      const pinned = await failure(provider(keyB.alias).unwrapDataKey(wrapped))
      expect(pinned.reason).toBe('wrong-key')
      expect(pinned.code).toBe('KFE_KEY_WRONG_KEY')
      expect(pinned.message).toContain('acceptedKeyIds')

      const rotated = provider(keyB.alias, { acceptedKeyIds: [keyA.arn] })
      expect(await rotated.unwrapDataKey(wrapped)).toEqual(plaintext)
      // new data keys are wrapped under the new key only
      const fresh = await rotated.generateDataKey()
      expect(await provider(keyB.id).unwrapDataKey(fresh.wrapped)).toEqual(fresh.plaintext)
      expect((await failure(provider(keyA.id).unwrapDataKey(fresh.wrapped))).reason).toBe('wrong-key')
    })

    it('still unwraps under an accepted key when the configured key is unusable, and names the real problem', async () => {
      const old = await newKey()
      const { plaintext, wrapped } = await provider(old.id).generateDataKey()
      // the new alias is not created yet: new data keys fail, old ones still unwrap
      const p = provider(`alias/kfe-not-yet-${randomUUID()}`, { acceptedKeyIds: [old.arn] })
      expect((await failure(p.generateDataKey())).reason).toBe('not-found')
      expect(await p.unwrapDataKey(wrapped)).toEqual(plaintext)
      // the old key disabled: the answer is 'disabled', not 'wrong-key'
      await client.send(new DisableKeyCommand({ KeyId: old.id }))
      const err = await failure(provider(keyB.id, { acceptedKeyIds: [old.alias] }).unwrapDataKey(wrapped))
      expect(err.reason).toBe('disabled')
    })

    it('reports a disabled key as disabled, for new and existing data keys, until it is enabled', async () => {
      const key = await newKey()
      const p = provider(key.alias)
      const { plaintext, wrapped } = await p.generateDataKey()
      await client.send(new DisableKeyCommand({ KeyId: key.id }))
      for (const err of [await failure(p.generateDataKey()), await failure(p.unwrapDataKey(wrapped))]) {
        expect(err.reason).toBe('disabled')
        expect(err.code).toBe('KFE_KEY_DISABLED')
        expect(err.message).toContain('disabled')
      }
      await client.send(new EnableKeyCommand({ KeyId: key.id }))
      expect(await p.unwrapDataKey(wrapped)).toEqual(plaintext)
    })

    it('reports a key scheduled for deletion as pending-deletion', async () => {
      const key = await newKey()
      const p = provider(key.arn)
      const { wrapped } = await p.generateDataKey()
      await client.send(new ScheduleKeyDeletionCommand({ KeyId: key.id, PendingWindowInDays: 7 }))
      for (const err of [await failure(p.generateDataKey()), await failure(p.unwrapDataKey(wrapped))]) {
        expect(err.reason).toBe('pending-deletion')
        expect(err.code).toBe('KFE_KEY_PENDING_DELETION')
        expect(err.message).toMatch(/disabled or pending deletion/)
      }
    })

    it('reports a mangled wrapped key as invalid-ciphertext', async () => {
      const p = provider(keyA.id)
      const { wrapped } = await p.generateDataKey()
      const mangled = Buffer.from(wrapped)
      mangled[mangled.length - 1]! ^= 0x01
      const err = await failure(p.unwrapDataKey(mangled))
      expect(err.reason).toBe('invalid-ciphertext')
      expect(err.code).toBe('KFE_KEY_INVALID_CIPHERTEXT')
    })

    it('binds the encryption context: another context cannot unwrap (invalid-ciphertext)', async () => {
      const writer = provider(keyA.id, { encryptionContext: { app: 'billing', purpose: 'kms-field-encryption' } })
      const { plaintext, wrapped } = await writer.generateDataKey()
      expect(await writer.unwrapDataKey(wrapped)).toEqual(plaintext)
      const err = await failure(provider(keyA.id).unwrapDataKey(wrapped))
      expect(err.reason).toBe('invalid-ciphertext')
      expect(err.message).toContain('encryption context')
    })

    it('reports an unknown key or alias as not-found', async () => {
      const err = await failure(provider(`alias/kfe-missing-${randomUUID()}`).generateDataKey())
      expect(err.reason).toBe('not-found')
      expect(err.code).toBe('KFE_KEY_NOT_FOUND')
    })

    it('keeps data keys wrapped before RotateKeyOnDemand unwrappable', async () => {
      const key = await newKey()
      const p = provider(key.alias)
      const before = await p.generateDataKey()
      await client.send(new RotateKeyOnDemandCommand({ KeyId: key.id }))
      const after = await p.generateDataKey()
      expect(await p.unwrapDataKey(before.wrapped)).toEqual(before.plaintext)
      expect(await p.unwrapDataKey(after.wrapped)).toEqual(after.plaintext)
    })

    it('re-wraps a data key under another KMS key with ReEncrypt', async () => {
      const old = provider(keyA.alias)
      const { plaintext, wrapped } = await old.generateDataKey()
      const current = provider(keyB.alias, { acceptedKeyIds: [keyA.alias] })
      const rewrapped = await current.reEncrypt(wrapped) // destination: the configured key
      expect(rewrapped.equals(wrapped)).toBe(false)
      expect(await provider(keyB.id).unwrapDataKey(rewrapped)).toEqual(plaintext)
      expect((await failure(old.unwrapDataKey(rewrapped))).reason).toBe('wrong-key')
      // and back, naming the destination explicitly
      const back = await current.reEncrypt(rewrapped, keyA.arn)
      expect(await old.unwrapDataKey(back)).toEqual(plaintext)
    })

    it('rewrapDataKey moves a data key to the configured key and says whether it already was there', async () => {
      const { plaintext, wrapped } = await provider(keyA.id).generateDataKey()
      const current = provider(keyB.alias, { acceptedKeyIds: [keyA.alias] })
      const moved = await current.rewrapDataKey(wrapped)
      expect(moved.wasCurrent).toBe(false)
      expect(await provider(keyB.arn).unwrapDataKey(moved.wrapped)).toEqual(plaintext)
      const again = await current.rewrapDataKey(moved.wrapped)
      expect(again.wasCurrent).toBe(true)
      expect(await provider(keyB.arn).unwrapDataKey(again.wrapped)).toEqual(plaintext)
    })

    it('unwraps the blind-index root key made by generateWrappedRootKey, and keeps it apart from data keys', async () => {
      const wrappedRoot = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId: keyA.alias, client })
      expect(wrappedRoot).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)
      const p = provider(keyA.alias, { wrappedBlindIndexRootKey: wrappedRoot })
      const root = await p.blindIndexRootKey()
      expect(root).toHaveLength(32)
      expect(await provider(keyA.id, { wrappedBlindIndexRootKey: Buffer.from(wrappedRoot, 'base64') }).blindIndexRootKey()).toEqual(root)
      // the caller may zero its copy
      root.fill(0)
      expect((await p.blindIndexRootKey()).equals(Buffer.alloc(32))).toBe(false)
      // a different encryption context: the root blob is not a data key
      expect((await failure(p.unwrapDataKey(Buffer.from(wrappedRoot, 'base64')))).reason).toBe('invalid-ciphertext')
      const none = await failure(provider(keyA.alias).blindIndexRootKey())
      expect(none.reason).toBe('misconfigured')
    })

    it('describes the configured key', async () => {
      const d = await provider(keyA.alias, { acceptedKeyIds: [keyB.id] }).describe()
      expect(d).toMatchObject({
        providerId: 'aws-kms',
        keyId: keyA.alias,
        keyArn: keyA.arn,
        keyState: 'Enabled',
        enabled: true,
        keyManager: 'CUSTOMER',
        acceptedKeyIds: [keyB.id],
      })
    })

    it('never puts key bytes in error messages', async () => {
      const { plaintext, wrapped } = await provider(keyA.id).generateDataKey()
      const errors = [
        await failure(provider(keyB.id).unwrapDataKey(wrapped)),
        await failure(provider(keyA.id, { encryptionContext: { x: 'y' } }).unwrapDataKey(wrapped)),
      ]
      for (const err of errors) {
        const text = `${err.message} ${err.stack ?? ''}`
        for (const secret of [plaintext, wrapped]) {
          for (const encoding of ['base64', 'base64url', 'hex'] as const) expect(text).not.toContain(secret.toString(encoding))
        }
      }
    })

    it('encrypts and decrypts field values through EnvelopeEncryptor', async () => {
      const ctx = fieldContext('User', 'email', 'users', 'email')
      const writer = new EnvelopeEncryptor({ keys: provider(keyA.alias) })
      const stored = await writer.encrypt('ada@example.com', ctx)
      expect(stored).not.toContain('ada')
      const reader = new EnvelopeEncryptor({ keys: provider(keyA.arn) })
      expect(await reader.decrypt(stored, ctx)).toBe('ada@example.com')
    })
  })
}

providerSuite('AwsKmsKeyProvider on the KMS test server', async () => {
  const server = new KmsTestServer()
  const { endpoint } = await server.start()
  const client = kmsClientFor(endpoint)
  return {
    client,
    async close() {
      client.destroy()
      await server.stop()
    },
  }
})

const localstackEndpoint = process.env.KMS_ENDPOINT
if (!localstackEndpoint) {
  console.info(
    'LocalStack KMS suite skipped: KMS_ENDPOINT is not set. Run `docker compose up -d localstack` and `KMS_ENDPOINT=http://127.0.0.1:4566 npx jest tests/kms` to run it.',
  )
}
const describeOnLocalstack = localstackEndpoint
  ? providerSuite
  : (name: string, open: () => Promise<KmsTarget>) =>
      describe['skip'](`${name} (skipped: set KMS_ENDPOINT to run)`, () => providerSuite(name, open))

describeOnLocalstack('AwsKmsKeyProvider on LocalStack (KMS_ENDPOINT)', async () => {
  const client = new KMSClient({
    endpoint: localstackEndpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: TEST_CREDENTIALS,
  })
  return {
    client,
    async close() {
      client.destroy()
    },
  }
})
