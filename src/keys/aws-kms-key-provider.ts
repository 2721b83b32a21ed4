import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms'
import { ConfigurationError, KeyProviderError, type KeyProviderFailure } from '../errors'
import type { GeneratedDataKey, KeyProvider, RewrappedDataKey } from './key-provider'

const DATA_KEY_BYTES = 32
const DEFAULT_REQUEST_TIMEOUT_MS = 3_000

/**
 * The encryption context sent with every data-key call unless another is configured. KMS binds
 * it into the wrapped key (and logs it, in clear, in CloudTrail), so a wrapped key only unwraps
 * with the same context: it must never change for the life of the data.
 */
export const DEFAULT_ENCRYPTION_CONTEXT: Readonly<Record<string, string>> = Object.freeze({ purpose: 'kms-field-encryption' })

/**
 * Added to the encryption context of the blind-index root key, so that a wrapped data key can
 * never be passed off as the root key or the other way round.
 */
const ROOT_KEY_CONTEXT = { 'kfe-key-use': 'blind-index-root' }

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
   * Default 3,000 ms: with the SDK's 3 attempts this stays under the encryptor's default 10 s
   * deadline. Not allowed with `client` or `clientConfig.requestHandler` (configure those yourself).
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
    this.acceptedKeyIds = [...new Set((options.acceptedKeyIds ?? []).map((k, i) => checkKeyRef(k, `AwsKmsKeyProvider acceptedKeyIds[${i}]`)))]
      .filter((k) => k !== this.keyId)
    this.encryptionContext = Object.freeze({ ...checkContext(options.encryptionContext ?? DEFAULT_ENCRYPTION_CONTEXT) })
    this.id = options.id ?? 'aws-kms'
    if (!/^[\x21-\x7e]{1,255}$/.test(this.id)) throw new ConfigurationError('AwsKmsKeyProvider id must be 1 to 255 printable ASCII characters')
    this.wrappedRootKey = options.wrappedBlindIndexRootKey === undefined ? undefined : toBlob(options.wrappedBlindIndexRootKey)

    if (options.client) {
      if (options.clientConfig || options.requestTimeoutMs !== undefined) {
        throw new ConfigurationError('AwsKmsKeyProvider: clientConfig and requestTimeoutMs apply only to the client the provider makes; configure your own KMSClient instead')
      }
      this.client = options.client
      this.ownsClient = false
    } else {
      this.client = makeClient(this.keyId, options.clientConfig, options.requestTimeoutMs)
      this.ownsClient = true
    }
  }

  /**
   * A new blind-index root key (32 random bytes made by KMS), returned only wrapped, as base64,
   * for `wrappedBlindIndexRootKey`. The plaintext copy is zeroed at once.
   */
  static async generateWrappedRootKey(options: Omit<AwsKmsKeyProviderOptions, 'wrappedBlindIndexRootKey' | 'acceptedKeyIds'>): Promise<string> {
    const provider = new AwsKmsKeyProvider(options)
    try {
      const { plaintext, wrapped } = await provider.generate(provider.rootContext())
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

  /** ReEncrypt, with the ARNs of the source and destination keys KMS reports. */
  private async reEncryptReporting(wrapped: Buffer, destinationKeyId: string): Promise<{ wrapped: Buffer; sourceKeyArn?: string; destinationKeyArn?: string }> {
    const destination = checkKeyRef(destinationKeyId, 'destinationKeyId')
    return this.tryCandidates(async (source) => {
      const out = await this.send('ReEncrypt', source, () =>
        this.client.send(
          new ReEncryptCommand({
            CiphertextBlob: wrapped,
            SourceKeyId: source,
            SourceEncryptionContext: contextOrUndefined(this.encryptionContext),
            DestinationKeyId: destination,
            DestinationEncryptionContext: contextOrUndefined(this.encryptionContext),
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
      throw new KeyProviderError(this.id, 'misconfigured', 'no wrappedBlindIndexRootKey is configured; create one with `kms-field-encryption keygen` and pass it to the provider')
    }
    if (!this.rootKey) {
      const pending = this.decryptPinned(wrapped, this.rootContext()).then((key) => exactly(this.id, key, 'the wrapped blind-index root key'))
      this.rootKey = pending
      pending.catch(() => {
        if (this.rootKey === pending) this.rootKey = undefined
      })
    }
    return Buffer.from(await this.rootKey)
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
    this.rootKey?.then((k) => k.fill(0), () => undefined)
    this.rootKey = undefined
  }

  private rootContext(): Record<string, string> {
    return { ...this.encryptionContext, ...ROOT_KEY_CONTEXT }
  }

  private async generate(context: Readonly<Record<string, string>>): Promise<GeneratedDataKey> {
    const out = await this.send('GenerateDataKey', this.keyId, () =>
      this.client.send(new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: contextOrUndefined(context) })),
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
        if (KEY_SCOPED.has(err.reason)) {
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

/** Failures that concern one KMS key rather than the blob: another accepted key may still work. */
const KEY_SCOPED = new Set<KeyProviderFailure>(['disabled', 'pending-deletion', 'not-found', 'access-denied', 'aws-managed-key'])

const UNAVAILABLE = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'LimitExceededException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'AbortError',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])

const CREDENTIALS_REJECTED = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ExpiredToken',
])

const MISCONFIGURED = new Set([
  'InvalidKeyUsageException',
  'ValidationException',
  'InvalidArnException',
  'UnsupportedOperationException',
  'InvalidGrantTokenException',
  'CredentialsProviderError',
])

interface AwsLikeError {
  name?: string
  code?: string
  message?: string
  $metadata?: { httpStatusCode?: number; attempts?: number }
}

/** Maps an SDK or network error to a KeyProviderError. Messages carry key ids, never key bytes. */
export function toKeyProviderError(providerId: string, operation: string, keyRef: string, err: unknown): KeyProviderError {
  if (err instanceof KeyProviderError) return err
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsLikeError
  const name = e.name && e.name !== 'Error' ? e.name : e.code ?? 'Error'
  const status = e.$metadata?.httpStatusCode
  const attempts = e.$metadata?.attempts
  const key = `KMS key '${keyRef}'`
  const fail = (reason: KeyProviderFailure, message: string): KeyProviderError =>
    new KeyProviderError(providerId, reason, `${message} (kms:${operation}, ${name})`, { cause: err })

  switch (name) {
    case 'IncorrectKeyException':
      return fail('wrong-key', `${key} did not wrap this data key`)
    case 'DisabledException':
      return fail('disabled', `${key} is disabled; enable it to use it`)
    case 'KMSInvalidStateException':
      return fail('pending-deletion', `${key} is disabled or pending deletion (or otherwise not in a usable state); cancel the deletion and enable it`)
    case 'InvalidCiphertextException':
      return fail('invalid-ciphertext', 'KMS rejected the wrapped data key: it is damaged, or was wrapped with a different encryption context')
    case 'NotFoundException':
      return fail('not-found', `${key} was not found; check the key id or alias, the account and the region`)
    case 'AccessDeniedException':
      if (isAwsManagedAlias(keyRef)) {
        return fail('aws-managed-key', `${key} is an AWS managed key; AWS managed keys can only be used by the AWS services they belong to, not by applications; create a customer managed key and use it (or its alias)`)
      }
      return fail('access-denied', `not allowed to use ${key}; allow kms:${operation} for this principal in the key policy or IAM policy`)
  }
  if (CREDENTIALS_REJECTED.has(name)) return fail('access-denied', 'AWS rejected the credentials (unknown, expired or wrongly signed)')
  if (MISCONFIGURED.has(name) || /region is missing/i.test(e.message ?? '')) {
    return fail('misconfigured', `the KMS request for ${key} is misconfigured (missing region or credentials, or a key that cannot encrypt)`)
  }
  if (UNAVAILABLE.has(name) || (status !== undefined && status >= 500) || status === undefined) {
    const tries = attempts && attempts > 1 ? ` after ${attempts} attempts` : ''
    return fail('unavailable', `AWS KMS is unavailable or throttling${tries}`)
  }
  return fail('misconfigured', `AWS KMS refused the request for ${key} with HTTP ${status}`)
}

function isAwsManagedAlias(keyRef: string): boolean {
  return keyRef.startsWith('alias/aws/') || /^arn:[^:]+:kms:[^:]*:[^:]*:alias\/aws\//.test(keyRef)
}

function makeClient(keyId: string, config: KMSClientConfig | undefined, requestTimeoutMs: number | undefined): KMSClient {
  if (requestTimeoutMs !== undefined && (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0)) {
    throw new ConfigurationError('AwsKmsKeyProvider requestTimeoutMs must be a positive number')
  }
  if (config?.requestHandler && requestTimeoutMs !== undefined) {
    throw new ConfigurationError('AwsKmsKeyProvider: set requestTimeoutMs or clientConfig.requestHandler, not both')
  }
  const timeout = requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const region = /^arn:[^:]+:kms:([^:]+):/.exec(keyId)?.[1]
  return new KMSClient({
    ...(region ? { region } : {}),
    ...config,
    requestHandler: config?.requestHandler ?? { requestTimeout: timeout, connectionTimeout: timeout, throwOnRequestTimeout: true },
  })
}

function checkKeyRef(ref: unknown, label: string): string {
  if (typeof ref !== 'string' || ref.trim() === '' || ref.trim() !== ref) {
    throw new ConfigurationError(`${label} must be a KMS key id, key ARN, alias name (alias/...) or alias ARN`)
  }
  return ref
}

function checkContext(context: Readonly<Record<string, string>>): Record<string, string> {
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new ConfigurationError('AwsKmsKeyProvider encryptionContext must be an object of strings')
  }
  for (const [k, v] of Object.entries(context)) {
    if (k === '' || typeof v !== 'string') throw new ConfigurationError('AwsKmsKeyProvider encryptionContext must map non-empty keys to strings')
  }
  return { ...context }
}

function contextOrUndefined(context: Readonly<Record<string, string>>): Record<string, string> | undefined {
  return Object.keys(context).length > 0 ? { ...context } : undefined
}

function toBlob(input: string | Buffer): Buffer {
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
