import type { KMSClient } from '@aws-sdk/client-kms'
import { ConfigurationError, KeyProviderError } from '../errors'
import {
  DEFAULT_ENCRYPTION_CONTEXT,
  checkEncryptionContext,
  wrappedRootKeyFrom,
  type AwsKmsKeyDescription,
  type AwsKmsKeyProviderOptions,
} from './aws-kms-options'
import type { GeneratedDataKey, KeyProvider, RewrappedDataKey } from './key-provider'
import { makeKmsClient } from './kms-client'
import { KmsKeyCalls } from './kms-key-calls'
import { checkKeyRef } from './kms-key-ref'
import { reportProviderCall, type EncryptionEventListener } from './provider-call-event'

export { DEFAULT_ENCRYPTION_CONTEXT, type AwsKmsKeyDescription, type AwsKmsKeyProviderOptions } from './aws-kms-options'

/**
 * Added to the encryption context of the blind-index root key, so that a wrapped data key can
 * never be passed off as the root key or the other way round.
 */
const ROOT_KEY_CONTEXT = { 'kfe-key-use': 'blind-index-root' }

/**
 * Data keys from AWS KMS: GenerateDataKey (AES_256) under the configured key, Decrypt pinned to
 * the configured key and the accepted older keys, with a fixed encryption context on both.
 * Every AWS failure becomes a KeyProviderError with a `reason`; retries are the SDK's
 * (standard mode, 3 attempts by default), and the encryptor adds its own deadline on top.
 *
 * Plaintext key bytes returned by the SDK are copied once into the Buffer handed to the caller
 * and the SDK's copy is zeroed. (The SDK's intermediate base64 JSON text cannot be zeroed.)
 */
export class AwsKmsKeyProvider implements KeyProvider {
  readonly id: string
  readonly keyId: string
  readonly acceptedKeyIds: readonly string[]
  readonly encryptionContext: Readonly<Record<string, string>>
  private readonly client: KMSClient
  private readonly ownsClient: boolean
  private readonly calls: KmsKeyCalls
  private readonly wrappedRootKey: Buffer | undefined
  private rootKey: Promise<Buffer> | undefined
  private lastKeyArn: string | undefined

  constructor(options: AwsKmsKeyProviderOptions) {
    this.keyId = checkKeyRef(options.keyId, 'AwsKmsKeyProvider keyId')
    const accepted = (options.acceptedKeyIds ?? []).map((k, i) => checkKeyRef(k, `AwsKmsKeyProvider acceptedKeyIds[${i}]`))
    this.acceptedKeyIds = [...new Set(accepted)].filter((k) => k !== this.keyId)
    this.encryptionContext = Object.freeze({ ...checkEncryptionContext(options.encryptionContext ?? DEFAULT_ENCRYPTION_CONTEXT) })
    this.id = options.id ?? 'aws-kms'
    if (!/^[\x21-\x7e]{1,255}$/.test(this.id)) {
      throw new ConfigurationError('AwsKmsKeyProvider id must be 1 to 255 printable ASCII characters')
    }
    this.wrappedRootKey = options.wrappedBlindIndexRootKey === undefined ? undefined : wrappedRootKeyFrom(options.wrappedBlindIndexRootKey)

    if (options.client) {
      if (options.clientConfig || options.requestTimeoutMs !== undefined) {
        throw new ConfigurationError(
          'AwsKmsKeyProvider: clientConfig and requestTimeoutMs apply only to the client the provider makes; ' +
            'configure your own KMSClient instead',
        )
      }
      this.client = options.client
      this.ownsClient = false
    } else {
      this.client = makeKmsClient(this.keyId, options.clientConfig, options.requestTimeoutMs)
      this.ownsClient = true
    }
    this.calls = new KmsKeyCalls(this.id, this.client, this.keyId, this.acceptedKeyIds)
  }

  /**
   * A new blind-index root key (32 random bytes made by KMS), returned only wrapped, as base64,
   * for `wrappedBlindIndexRootKey`. The plaintext copy is zeroed at once.
   */
  static async generateWrappedRootKey(
    options: Omit<AwsKmsKeyProviderOptions, 'wrappedBlindIndexRootKey' | 'acceptedKeyIds'>,
    onEvent?: EncryptionEventListener,
  ): Promise<string> {
    const provider = new AwsKmsKeyProvider(options)
    try {
      const { plaintext, wrapped } = await reportProviderCall('generateRootKey', provider.id, onEvent, () =>
        provider.generate(provider.rootContext()),
      )
      plaintext.fill(0)
      return wrapped.toString('base64')
    } finally {
      provider.destroy()
    }
  }

  async generateDataKey(): Promise<GeneratedDataKey> {
    return this.generate(this.encryptionContext)
  }

  async unwrapDataKey(wrapped: Buffer): Promise<Buffer> {
    return this.calls.decrypt(wrapped, this.encryptionContext, 'the wrapped data key')
  }

  /**
   * Always true: a KMS ciphertext blob is opaque, so which key (or key version) wrapped it
   * cannot be told without calling KMS. Use `reEncrypt` to move values to the current key.
   */
  isCurrent(_wrapped: Buffer): boolean {
    return true
  }

  /**
   * Re-wraps a data key under `destinationKeyId` (default: the configured key) with KMS
   * ReEncrypt; the plaintext never leaves KMS. The source is pinned like `unwrapDataKey`.
   */
  async reEncrypt(wrapped: Buffer, destinationKeyId: string = this.keyId): Promise<Buffer> {
    return (await this.calls.reEncrypt(wrapped, destinationKeyId, this.encryptionContext)).wrapped
  }

  /**
   * Re-wraps a data key under the configured key (one ReEncrypt; the plaintext never leaves KMS)
   * and says whether it already was under that key (same key ARN before and after; KMS's own
   * rotation of key material keeps the ARN, so such keys count as current). For `rotate`.
   */
  async rewrapDataKey(wrapped: Buffer): Promise<RewrappedDataKey> {
    return this.calls.rewrap(wrapped, this.encryptionContext)
  }

  /**
   * Re-wraps the configured `wrappedBlindIndexRootKey` under the configured key (one ReEncrypt
   * with the root key's own encryption context; the root key never leaves KMS). Undefined when
   * no wrapped root key is configured. For `rotate` (which prints the new value) and `status`.
   */
  async rewrapBlindIndexRootKey(): Promise<RewrappedDataKey | undefined> {
    if (!this.wrappedRootKey) return undefined
    return this.calls.rewrap(this.wrappedRootKey, this.rootContext())
  }

  /**
   * The blind-index root key, unwrapped by KMS once and then kept in memory (a failed unwrap is
   * not kept, so the next call tries again). Each call returns a fresh copy the caller may zero.
   */
  async blindIndexRootKey(): Promise<Buffer> {
    const wrapped = this.wrappedRootKey
    if (!wrapped) {
      throw new KeyProviderError(
        this.id,
        'misconfigured',
        'no wrappedBlindIndexRootKey is configured; create one with `kms-field-encryption keygen` and pass it to the provider',
      )
    }
    if (!this.rootKey) {
      const pending = this.calls.decrypt(wrapped, this.rootContext(), 'the wrapped blind-index root key')
      this.rootKey = pending
      pending.catch(() => {
        if (this.rootKey === pending) this.rootKey = undefined
      })
    }
    return Buffer.from(await this.rootKey)
  }

  /**
   * Zeroes and drops the unwrapped blind-index root key this provider keeps, so the next
   * `blindIndexRootKey()` calls KMS again (`BlindIndexer.clear()` calls it).
   */
  forgetBlindIndexRootKey(): void {
    this.rootKey?.then(
      (k) => k.fill(0),
      () => undefined,
    )
    this.rootKey = undefined
  }

  /** DescribeKey on the configured key: a cheap check of access and key state (for `status`). */
  async describe(): Promise<AwsKmsKeyDescription> {
    const m = await this.calls.describeKey()
    return {
      providerId: this.id,
      keyId: this.keyId,
      keyArn: m.Arn,
      keyState: m.KeyState ?? 'Unknown',
      enabled: m.Enabled ?? false,
      keyManager: m.KeyManager ?? 'Unknown',
      keySpec: m.KeySpec,
      keyUsage: m.KeyUsage,
      description: m.Description,
      acceptedKeyIds: [...this.acceptedKeyIds],
    }
  }

  /** The ARN KMS reported for the last data key generated here (undefined before the first). */
  get currentKeyArn(): string | undefined {
    return this.lastKeyArn
  }

  /** Closes the client's sockets if the provider made the client; a client you passed is left alone. */
  destroy(): void {
    if (this.ownsClient) this.client.destroy()
    this.forgetBlindIndexRootKey()
  }

  private rootContext(): Record<string, string> {
    return { ...this.encryptionContext, ...ROOT_KEY_CONTEXT }
  }

  private async generate(context: Readonly<Record<string, string>>): Promise<GeneratedDataKey> {
    const { plaintext, wrapped, keyArn } = await this.calls.generate(context, 'the generated data key')
    if (keyArn) this.lastKeyArn = keyArn
    return { plaintext, wrapped }
  }
}
