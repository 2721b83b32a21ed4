import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms'
import { ConfigurationError } from '../errors'

// What an AwsKmsKeyProvider is configured with, what it reports, and the checks of the options
// that are not KMS key references (those are in kms-key-ref.ts).

/**
 * The encryption context sent with every data-key call unless another is configured. KMS binds
 * it into the wrapped key (and logs it, in clear, in CloudTrail), so a wrapped key only unwraps
 * with the same context: it must never change for the life of the data.
 */
export const DEFAULT_ENCRYPTION_CONTEXT: Readonly<Record<string, string>> = Object.freeze({ purpose: 'kms-field-encryption' })

export interface AwsKmsKeyProviderOptions {
  /**
   * The KMS key that wraps new data keys: key id, key ARN, alias name (`alias/...`) or alias ARN.
   * Unwrapping is pinned to it (and to `acceptedKeyIds`). An alias lets you re-point to a new
   * key without a deploy; keep the old key in `acceptedKeyIds` when you do.
   */
  keyId: string
  /** Earlier KMS keys whose wrapped data keys are still accepted for unwrapping (key rotation). */
  acceptedKeyIds?: readonly string[]
  /**
   * Fixed encryption context for every GenerateDataKey and Decrypt. Default
   * `{ purpose: 'kms-field-encryption' }`. Not secret (CloudTrail logs it); changing it makes
   * existing values unreadable (reason `invalid-ciphertext`).
   */
  encryptionContext?: Readonly<Record<string, string>>
  /** Your own client. Otherwise one is made with the SDK's default credential and region chain. */
  client?: KMSClient
  /**
   * Settings for the client the provider makes (endpoint, region, credentials, maxAttempts...).
   * Without `region`, a key ARN's region is used, else the SDK default chain (AWS_REGION...).
   */
  clientConfig?: KMSClientConfig
  /**
   * Timeout for each HTTP attempt (connect and response) of the client the provider makes.
   * With the SDK's 3 attempts the default stays under the encryptor's default deadline
   * (`DEFAULT_PROVIDER_TIMEOUT_MS`, 10 s). Not allowed with `client` or
   * `clientConfig.requestHandler` (configure those yourself).
   * @default DEFAULT_KMS_REQUEST_TIMEOUT_MS (3,000 ms)
   */
  requestTimeoutMs?: number
  /**
   * The blind-index root key wrapped by KMS (base64 or bytes), from `generateWrappedRootKey`
   * (what `keygen` prints). Unwrapped once, on first use.
   */
  wrappedBlindIndexRootKey?: string | Buffer | undefined
  /** Provider id stored in each value. Default `aws-kms`. */
  id?: string
}

/** What `describe()` reports about the configured key (no secrets). */
export interface AwsKmsKeyDescription {
  providerId: string
  /** As configured (id, ARN or alias). */
  keyId: string
  keyArn: string
  keyState: string
  enabled: boolean
  /** `AWS` for AWS managed keys (which applications cannot use), `CUSTOMER` otherwise. */
  keyManager: string
  keySpec?: string
  keyUsage?: string
  description?: string
  acceptedKeyIds: string[]
}

/** A copy of a configured encryption context, or a ConfigurationError. */
export function checkEncryptionContext(context: Readonly<Record<string, string>>): Record<string, string> {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new ConfigurationError('AwsKmsKeyProvider encryptionContext must be an object of strings')
  }
  for (const [k, v] of Object.entries(context)) {
    if (k === '' || typeof v !== 'string') {
      throw new ConfigurationError('AwsKmsKeyProvider encryptionContext must map non-empty keys to strings')
    }
  }
  return { ...context }
}

/** The configured wrapped root key as bytes (a copy), from a Buffer or base64 text. */
export function wrappedRootKeyFrom(input: string | Buffer): Buffer {
  if (Buffer.isBuffer(input)) {
    if (input.length === 0) throw new ConfigurationError('AwsKmsKeyProvider wrappedBlindIndexRootKey is empty')
    return Buffer.from(input)
  }
  const text = input.trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new ConfigurationError('AwsKmsKeyProvider wrappedBlindIndexRootKey must be base64 (as printed by keygen)')
  }
  return Buffer.from(text, 'base64')
}
