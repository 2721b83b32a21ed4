import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import { ConfigurationError } from '../errors'
import { positiveNumber } from '../option-checks'
import { regionOfKeyArn } from './kms-key-ref'

/**
 * Timeout of each HTTP attempt (connect and response) of a client the provider makes: with the
 * SDK's 3 attempts this stays under the default provider-call deadline (DEFAULT_PROVIDER_TIMEOUT_MS).
 */
export const DEFAULT_KMS_REQUEST_TIMEOUT_MS = 3_000

/**
 * The client settings named by a region and an endpoint (CLI flags, environment), or undefined
 * when neither is given (the SDK's default chain and the key ARN's region then apply).
 */
export function kmsClientConfig(region: string | undefined, endpoint: string | undefined): KMSClientConfig | undefined {
  if (!region && !endpoint) return undefined
  return { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) }
}

/**
 * The client an AwsKmsKeyProvider makes when it is not given one: the region of a key ARN unless
 * `config` names one, and an HTTP handler with `requestTimeoutMs` (default 3 s) per attempt.
 */
export function makeKmsClient(keyId: string, config: KMSClientConfig | undefined, requestTimeoutMs: number | undefined): KMSClient {
  if (requestTimeoutMs !== undefined) positiveNumber(requestTimeoutMs, 'AwsKmsKeyProvider requestTimeoutMs')
  if (config?.requestHandler && requestTimeoutMs !== undefined) {
    throw new ConfigurationError('AwsKmsKeyProvider: set requestTimeoutMs or clientConfig.requestHandler, not both')
  }
  const timeout = requestTimeoutMs ?? DEFAULT_KMS_REQUEST_TIMEOUT_MS
  const region = regionOfKeyArn(keyId)
  return new KMSClient({
    ...(region ? { region } : {}),
    ...config,
    requestHandler: config?.requestHandler ?? { requestTimeout: timeout, connectionTimeout: timeout, throwOnRequestTimeout: true },
  })
}
