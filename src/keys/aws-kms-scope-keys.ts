import type { KMSClient } from '@aws-sdk/client-kms'
import { LRUCache } from 'lru-cache'
import { ConfigurationError } from '../errors'
import { AwsKmsKeyProvider, DEFAULT_ENCRYPTION_CONTEXT, type AwsKmsKeyProviderOptions } from './aws-kms-key-provider'
import type { KeyProvider } from './key-provider'
import { makeKmsClient } from './kms-client'
import { checkScope, type ScopeKeys } from './scope-keys'

/**
 * The provider id of scoped KMS values unless `id` is given: not the unscoped `aws-kms`, so a
 * scoped run (`rotate --scope`, `status --scope`) tells values written before scopes from the scope's.
 */
const DEFAULT_SCOPE_PROVIDER_ID = 'aws-kms-scope'

export interface AwsKmsScopeKeysOptions extends Omit<AwsKmsKeyProviderOptions, 'keyId' | 'acceptedKeyIds' | 'wrappedBlindIndexRootKey'> {
  /** The KMS key (id, ARN, alias) of a scope, e.g. `scope => 'alias/tenant-' + scope`; undefined for `defaultKeyId`. */
  keyIdFor: (scope: string) => string | undefined
  /** The key of scopes `keyIdFor` gives none (a shared key: such scopes cannot be shredded by deleting a key). */
  defaultKeyId?: string
  /** How many scopes' providers are kept (LRU). Default 1,000. */
  maxScopes?: number
  /** Provider id written into scoped values. Default `aws-kms-scope` (the unscoped provider's is `aws-kms`). */
  id?: string
}

/** `awsKmsScopeKeys`: the scope keys, and the client they share (destroy it on shutdown). */
export interface AwsKmsScopeKeys extends ScopeKeys {
  readonly client: KMSClient
  /**
   * The KMS key of a scope as configured (`keyIdFor`, else `defaultKeyId`, then `shared`: other
   * scopes use it too), or undefined when there is none. What `shred --scope` schedules for deletion.
   */
  keyOf(scope: string): { keyId: string; shared: boolean } | undefined
  destroy(): void
}

/**
 * One KMS key (or alias) per scope: a scope's data keys are made by GenerateDataKey under its key
 * and unwrapped by Decrypt pinned to it, with the scope added to the encryption context
 * (`kfe-scope`, logged by CloudTrail), so a data key of one scope never unwraps for another even
 * when they share a key. The providers share one KMS client. Shredding a scope is scheduling its
 * key's deletion (ScheduleKeyDeletion); meanwhile its values fail with `KFE_KEY_PENDING_DELETION`.
 */
export function awsKmsScopeKeys(options: AwsKmsScopeKeysOptions): AwsKmsScopeKeys {
  if (typeof options?.keyIdFor !== 'function') throw new ConfigurationError('awsKmsScopeKeys: keyIdFor must be a function of the scope')
  const { keyIdFor, defaultKeyId, maxScopes, client: given, clientConfig, requestTimeoutMs, encryptionContext, ...rest } = options
  if (given && (clientConfig || requestTimeoutMs !== undefined)) {
    throw new ConfigurationError(
      'awsKmsScopeKeys: clientConfig and requestTimeoutMs apply only to the client it makes; configure your own KMSClient instead',
    )
  }
  const client = given ?? makeKmsClient(defaultKeyId ?? '', clientConfig, requestTimeoutMs)
  const context = encryptionContext ?? DEFAULT_ENCRYPTION_CONTEXT
  if ('kfe-scope' in context)
    throw new ConfigurationError("awsKmsScopeKeys: encryptionContext must not set 'kfe-scope' (the scope is added)")
  const providers = new LRUCache<string, KeyProvider>({ max: maxScopes ?? 1000 })
  return {
    client,
    keyOf(scope: string): { keyId: string; shared: boolean } | undefined {
      const own = keyIdFor(checkScope(scope))
      if (own !== undefined) return { keyId: own, shared: false }
      return defaultKeyId === undefined ? undefined : { keyId: defaultKeyId, shared: true }
    },
    async providerFor(scope: string): Promise<KeyProvider> {
      checkScope(scope)
      let provider = providers.get(scope)
      if (!provider) {
        const keyId = keyIdFor(scope) ?? defaultKeyId
        if (keyId === undefined)
          throw new ConfigurationError(`awsKmsScopeKeys: no KMS key for scope '${scope}' (keyIdFor gave none, and no defaultKeyId)`)
        const id = rest.id ?? DEFAULT_SCOPE_PROVIDER_ID
        provider = new AwsKmsKeyProvider({ ...rest, id, keyId, client, encryptionContext: { ...context, 'kfe-scope': scope } })
        providers.set(scope, provider)
      }
      return provider
    },
    destroy(): void {
      providers.clear()
      if (!given) client.destroy()
    },
  }
}
