import { KeyProviderError, type KeyProviderFailure } from '../errors'
import { isAwsManagedKeyRef } from './kms-key-ref'

// How AWS KMS failures become KeyProviderErrors: each SDK or network error gets a `reason` the
// caller can act on, and a message naming the key and the KMS operation, never key bytes.

/** Failures that concern one KMS key rather than the blob: another accepted key may still work. */
const KEY_SCOPED: ReadonlySet<KeyProviderFailure> = new Set<KeyProviderFailure>([
  'disabled',
  'pending-deletion',
  'not-found',
  'access-denied',
  'aws-managed-key',
])

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
  const name = e.name && e.name !== 'Error' ? e.name : (e.code ?? 'Error')
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
      return fail(
        'pending-deletion',
        `${key} is disabled or pending deletion (or otherwise not in a usable state); cancel the deletion and enable it`,
      )
    case 'InvalidCiphertextException':
      return fail(
        'invalid-ciphertext',
        'KMS rejected the wrapped data key: it is damaged, or was wrapped with a different encryption context',
      )
    case 'NotFoundException':
      return fail('not-found', `${key} was not found; check the key id or alias, the account and the region`)
    case 'AccessDeniedException':
      if (isAwsManagedKeyRef(keyRef)) {
        return fail(
          'aws-managed-key',
          `${key} is an AWS managed key; AWS managed keys can only be used by the AWS services they belong to, ` +
            'not by applications; create a customer managed key and use it (or its alias)',
        )
      }
      return fail('access-denied', `not allowed to use ${key}; allow kms:${operation} for this principal in the key policy or IAM policy`)
  }
  if (CREDENTIALS_REJECTED.has(name)) return fail('access-denied', 'AWS rejected the credentials (unknown, expired or wrongly signed)')
  if (MISCONFIGURED.has(name) || /region is missing/i.test(e.message ?? '')) {
    return fail(
      'misconfigured',
      `the KMS request for ${key} is misconfigured (missing region or credentials, or a key that cannot encrypt)`,
    )
  }
  if (UNAVAILABLE.has(name) || (status !== undefined && status >= 500) || status === undefined) {
    const tries = attempts && attempts > 1 ? ` after ${attempts} attempts` : ''
    return fail('unavailable', `AWS KMS is unavailable or throttling${tries}`)
  }
  return fail('misconfigured', `AWS KMS refused the request for ${key} with HTTP ${status}`)
}

/** Whether a failure concerns one KMS key (another accepted key may still unwrap the blob). */
export function isKeyScopedFailure(reason: KeyProviderFailure): boolean {
  return KEY_SCOPED.has(reason)
}
