import { DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, ReEncryptCommand, type KMSClient } from '@aws-sdk/client-kms'
import { ConfigurationError, KeyProviderError } from '../errors'
import {
  DEFAULT_ENCRYPTION_CONTEXT,
  checkEncryptionContext,
  wrappedRootKeyFrom,
  type AwsKmsKeyDescription,
  type AwsKmsKeyProviderOptions,
} from './aws-kms-options'
import { DATA_KEY_BYTES, type GeneratedDataKey, type KeyProvider, type RewrappedDataKey } from './key-provider'
import { makeKmsClient } from './kms-client'
import { isKeyScopedFailure, toKeyProviderError } from './kms-error-mapping'
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
    const key = await this.decryptPinned(wrapped, this.encryptionContext)
    return exactly(this.id, key, 'the wrapped data key')
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
    return (await this.reEncryptReporting(wrapped, destinationKeyId)).wrapped
  }

  /**
   * Re-wraps a data key under the configured key (one ReEncrypt; the plaintext never leaves KMS)
   * and says whether it already was under that key (same key ARN before and after; KMS's own
   * rotation of key material keeps the ARN, so such keys count as current). For `rotate`.
   */
  async rewrapDataKey(wrapped: Buffer): Promise<RewrappedDataKey> {
    const out = await this.reEncryptReporting(wrapped, this.keyId)
    return { wrapped: out.wrapped, wasCurrent: out.sourceKeyArn !== undefined && out.sourceKeyArn === out.destinationKeyArn }
  }

  /**
   * Re-wraps the configured `wrappedBlindIndexRootKey` under the configured key (one ReEncrypt
   * with the root key's own encryption context; the root key never leaves KMS). Undefined when
   * no wrapped root key is configured. For `rotate` (which prints the new value) and `status`.
   */
  async rewrapBlindIndexRootKey(): Promise<RewrappedDataKey | undefined> {
    if (!this.wrappedRootKey) return undefined
    const out = await this.reEncryptReporting(this.wrappedRootKey, this.keyId, this.rootContext())
    return { wrapped: out.wrapped, wasCurrent: out.sourceKeyArn !== undefined && out.sourceKeyArn === out.destinationKeyArn }
  }

  /** ReEncrypt, with the ARNs of the source and destination keys KMS reports. */
  private async reEncryptReporting(
    wrapped: Buffer,
    destinationKeyId: string,
    context: Readonly<Record<string, string>> = this.encryptionContext,
  ): Promise<{ wrapped: Buffer; sourceKeyArn?: string; destinationKeyArn?: string }> {
    const destination = checkKeyRef(destinationKeyId, 'destinationKeyId')
    return this.tryCandidates(async (source) => {
      const out = await this.send('ReEncrypt', source, () =>
        this.client.send(
          new ReEncryptCommand({
            CiphertextBlob: wrapped,
            SourceKeyId: source,
            SourceEncryptionContext: contextOrUndefined(context),
            DestinationKeyId: destination,
            DestinationEncryptionContext: contextOrUndefined(context),
          }),
        ),
      )
      if (!out.CiphertextBlob?.length) throw this.incomplete('ReEncrypt')
      return { wrapped: Buffer.from(out.CiphertextBlob), sourceKeyArn: out.SourceKeyId, destinationKeyArn: out.KeyId }
    })
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
      const pending = this.decryptPinned(wrapped, this.rootContext()).then((key) =>
        exactly(this.id, key, 'the wrapped blind-index root key'),
      )
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
    const out = await this.send('DescribeKey', this.keyId, () => this.client.send(new DescribeKeyCommand({ KeyId: this.keyId })))
    const m = out.KeyMetadata
    if (!m?.Arn) throw this.incomplete('DescribeKey')
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
    this.rootKey?.then(
      (k) => k.fill(0),
      () => undefined,
    )
    this.rootKey = undefined
  }

  private rootContext(): Record<string, string> {
    return { ...this.encryptionContext, ...ROOT_KEY_CONTEXT }
  }

  private async generate(context: Readonly<Record<string, string>>): Promise<GeneratedDataKey> {
    const out = await this.send('GenerateDataKey', this.keyId, () =>
      this.client.send(
        new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: contextOrUndefined(context) }),
      ),
    )
    if (!out.Plaintext || !out.CiphertextBlob?.length) {
      out.Plaintext?.fill(0)
      throw this.incomplete('GenerateDataKey')
    }
    const plaintext = exactly(this.id, takePlaintext(out.Plaintext), 'the generated data key')
    if (out.KeyId) this.lastKeyArn = out.KeyId
    return { plaintext, wrapped: Buffer.from(out.CiphertextBlob) }
  }

  /** Decrypt with KeyId pinned to the configured key, then to each accepted key. */
  private decryptPinned(blob: Buffer, context: Readonly<Record<string, string>>): Promise<Buffer> {
    return this.tryCandidates(async (keyId) => {
      const out = await this.send('Decrypt', keyId, () =>
        this.client.send(
          new DecryptCommand({
            CiphertextBlob: blob,
            KeyId: keyId,
            EncryptionContext: contextOrUndefined(context),
            EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          }),
        ),
      )
      if (!out.Plaintext) throw this.incomplete('Decrypt')
      return takePlaintext(out.Plaintext)
    })
  }

  /**
   * Runs `attempt` with the configured key, then each accepted key. A wrong-key answer means
   * "not this key, try the next". A problem with one key (disabled, deleted, not found, denied)
   * is remembered and the next key tried, since the blob may belong to another; it is thrown
   * if no key succeeds. Anything else (unavailable, invalid ciphertext) is thrown at once.
   */
  private async tryCandidates<T>(attempt: (keyId: string) => Promise<T>): Promise<T> {
    let keyProblem: KeyProviderError | undefined
    for (const keyId of [this.keyId, ...this.acceptedKeyIds]) {
      try {
        return await attempt(keyId)
      } catch (err) {
        if (!(err instanceof KeyProviderError)) throw err
        if (err.reason === 'wrong-key') continue
        if (isKeyScopedFailure(err.reason)) {
          keyProblem ??= err
          continue
        }
        throw err
      }
    }
    if (keyProblem) throw keyProblem
    const tried = [this.keyId, ...this.acceptedKeyIds].map((k) => `'${k}'`).join(', ')
    throw new KeyProviderError(
      this.id,
      'wrong-key',
      `the data key was wrapped by a KMS key that is not configured (tried ${tried}); add that key to acceptedKeyIds`,
    )
  }

  private async send<T>(operation: string, keyRef: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (err) {
      throw toKeyProviderError(this.id, operation, keyRef, err)
    }
  }

  private incomplete(operation: string): KeyProviderError {
    return new KeyProviderError(this.id, 'unavailable', `AWS KMS ${operation} returned an incomplete response`)
  }
}

function contextOrUndefined(context: Readonly<Record<string, string>>): Record<string, string> | undefined {
  return Object.keys(context).length > 0 ? { ...context } : undefined
}

/** Copies the SDK's plaintext into a Buffer the caller owns and zeroes the SDK's array. */
function takePlaintext(bytes: Uint8Array): Buffer {
  const copy = Buffer.from(bytes)
  bytes.fill(0)
  return copy
}

function exactly(providerId: string, key: Buffer, what: string): Buffer {
  if (key.length === DATA_KEY_BYTES) return key
  const length = key.length
  key.fill(0)
  throw new KeyProviderError(providerId, 'invalid-ciphertext', `${what} unwrapped to ${length} bytes, not ${DATA_KEY_BYTES}`)
}
