import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  ReEncryptCommand,
  type KeyMetadata,
  type KMSClient,
} from '@aws-sdk/client-kms'
import { KeyProviderError } from '../errors'
import { DATA_KEY_BYTES, type GeneratedDataKey, type RewrappedDataKey } from './key-provider'
import { isKeyScopedFailure, toKeyProviderError } from './kms-error-mapping'
import { checkKeyRef } from './kms-key-ref'

type EncryptionContext = Readonly<Record<string, string>>

/** A ReEncrypt's result, with the ARNs of the source and destination keys KMS reports. */
export interface ReEncrypted {
  wrapped: Buffer
  sourceKeyArn?: string
  destinationKeyArn?: string
}

/**
 * The KMS calls of one `AwsKmsKeyProvider`: GenerateDataKey under the configured key, Decrypt and
 * ReEncrypt pinned to the configured key and then each accepted key, DescribeKey. Every failure
 * becomes a KeyProviderError naming the provider; plaintext key bytes are copied once out of the
 * SDK's array, which is zeroed, and a key of the wrong length is zeroed and refused.
 */
export class KmsKeyCalls {
  constructor(
    private readonly providerId: string,
    private readonly client: KMSClient,
    private readonly keyId: string,
    private readonly acceptedKeyIds: readonly string[],
  ) {}

  /** GenerateDataKey (AES_256) under the configured key; `keyArn` is the key KMS used. */
  async generate(context: EncryptionContext, what: string): Promise<GeneratedDataKey & { keyArn?: string }> {
    const out = await this.send('GenerateDataKey', this.keyId, () =>
      this.client.send(
        new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: contextOrUndefined(context) }),
      ),
    )
    if (!out.Plaintext || !out.CiphertextBlob?.length) {
      out.Plaintext?.fill(0)
      throw this.incomplete('GenerateDataKey')
    }
    const plaintext = this.exactly(takePlaintext(out.Plaintext), what)
    return { plaintext, wrapped: Buffer.from(out.CiphertextBlob), keyArn: out.KeyId }
  }

  /** Decrypt with KeyId pinned to the configured key, then to each accepted key; `what` names the key in errors. */
  async decrypt(blob: Buffer, context: EncryptionContext, what: string): Promise<Buffer> {
    const key = await this.tryCandidates(async (keyId) => {
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
    return this.exactly(key, what)
  }

  /** ReEncrypt under `destinationKeyId`, the source pinned like `decrypt`; the plaintext never leaves KMS. */
  async reEncrypt(wrapped: Buffer, destinationKeyId: string, context: EncryptionContext): Promise<ReEncrypted> {
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
   * ReEncrypt under the configured key, saying whether the source already was under it (same key
   * ARN before and after; KMS's own rotation of key material keeps the ARN, so it counts as current).
   */
  async rewrap(wrapped: Buffer, context: EncryptionContext): Promise<RewrappedDataKey> {
    const out = await this.reEncrypt(wrapped, this.keyId, context)
    return { wrapped: out.wrapped, wasCurrent: out.sourceKeyArn !== undefined && out.sourceKeyArn === out.destinationKeyArn }
  }

  /** DescribeKey on the configured key; the metadata always has the key's ARN. */
  async describeKey(): Promise<KeyMetadata & { Arn: string }> {
    const out = await this.send('DescribeKey', this.keyId, () => this.client.send(new DescribeKeyCommand({ KeyId: this.keyId })))
    const m = out.KeyMetadata
    if (!m?.Arn) throw this.incomplete('DescribeKey')
    return { ...m, Arn: m.Arn }
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
      this.providerId,
      'wrong-key',
      `the data key was wrapped by a KMS key that is not configured (tried ${tried}); add that key to acceptedKeyIds`,
    )
  }

  private async send<T>(operation: string, keyRef: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (err) {
      throw toKeyProviderError(this.providerId, operation, keyRef, err)
    }
  }

  private incomplete(operation: string): KeyProviderError {
    return new KeyProviderError(this.providerId, 'unavailable', `AWS KMS ${operation} returned an incomplete response`)
  }

  private exactly(key: Buffer, what: string): Buffer {
    if (key.length === DATA_KEY_BYTES) return key
    const length = key.length
    key.fill(0)
    throw new KeyProviderError(this.providerId, 'invalid-ciphertext', `${what} unwrapped to ${length} bytes, not ${DATA_KEY_BYTES}`)
  }
}

function contextOrUndefined(context: EncryptionContext): Record<string, string> | undefined {
  return Object.keys(context).length > 0 ? { ...context } : undefined
}

/** Copies the SDK's plaintext into a Buffer the caller owns and zeroes the SDK's array. */
function takePlaintext(bytes: Uint8Array): Buffer {
  const copy = Buffer.from(bytes)
  bytes.fill(0)
  return copy
}
