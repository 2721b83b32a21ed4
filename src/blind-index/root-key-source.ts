import { DEFAULT_PROVIDER_TIMEOUT_MS, withDeadline } from '../engine/provider-call'
import { reportProviderCall, type EncryptionEventListener } from '../keys/provider-call-event'
import { ConfigurationError, KeyProviderError } from '../errors'
import { ROOT_KEY_MIN_BYTES } from './blind-index-key'

/**
 * Where a blind-index root key comes from:
 * - bytes (Buffer/Uint8Array) or base64 text, at least 32 bytes;
 * - a key provider (anything with `blindIndexRootKey()`: LocalKeyProvider derives it from its
 *   master key, AwsKmsKeyProvider unwraps its configured wrapped root key);
 * - a function returning the bytes (e.g. read from a secret manager).
 */
export type RootKeySource =
  | Buffer
  | Uint8Array
  | string
  | { readonly id?: string; blindIndexRootKey?(): Promise<Buffer>; forgetBlindIndexRootKey?(): void }
  | (() => Promise<Buffer | Uint8Array> | Buffer | Uint8Array)

/**
 * Loads a root key. `forget`, when present, makes the source drop a copy it keeps itself (the
 * KMS provider keeps the unwrapped root key), so the next load asks the key provider again.
 */
export type RootKeyLoader = (() => Promise<Buffer>) & { forget?: () => void }

/**
 * Turns a configured source into a loader (validating what can be validated without calling it).
 * A key provider's `blindIndexRootKey()` is cut after `timeoutMs` (default {@link DEFAULT_PROVIDER_TIMEOUT_MS}, 10 s), like every
 * other provider call, and reported to `onEvent` as an `unwrapRootKey` event.
 */
export function rootKeyLoader(
  source: RootKeySource,
  label: string,
  timeoutMs = DEFAULT_PROVIDER_TIMEOUT_MS,
  onEvent?: EncryptionEventListener,
): RootKeyLoader {
  if (typeof source === 'string') {
    const key = Buffer.from(source.trim(), 'base64')
    checkLength(key, label)
    return async () => Buffer.from(key)
  }
  if (source instanceof Uint8Array) {
    const key = Buffer.from(source)
    checkLength(key, label)
    return async () => Buffer.from(key)
  }
  if (typeof source === 'function') {
    return async () => checkLength(Buffer.from(await source()), label)
  }
  if (source && typeof source === 'object') {
    const provider = source
    if (typeof provider.blindIndexRootKey !== 'function') {
      throw new ConfigurationError(
        `${label}: key provider '${provider.id ?? '?'}' has no blind-index root key (blindIndexRootKey); pass blindIndex.rootKey explicitly`,
      )
    }
    const id = provider.id ?? 'unknown'
    const load: RootKeyLoader = async () => {
      const key = await reportProviderCall('unwrapRootKey', id, onEvent, () =>
        withDeadline(id, timeoutMs, () => provider.blindIndexRootKey!()),
      )
      if (!(key instanceof Uint8Array) || key.length < ROOT_KEY_MIN_BYTES) {
        throw new KeyProviderError(id, 'misconfigured', `the blind-index root key must have at least ${ROOT_KEY_MIN_BYTES} bytes`)
      }
      return Buffer.from(key)
    }
    if (typeof provider.forgetBlindIndexRootKey === 'function') load.forget = () => provider.forgetBlindIndexRootKey!()
    return load
  }
  throw new ConfigurationError(`${label} must be bytes, base64 text, a key provider or a function`)
}

function checkLength(key: Buffer, label: string): Buffer {
  if (key.length < ROOT_KEY_MIN_BYTES) {
    throw new ConfigurationError(
      `${label} must have at least ${ROOT_KEY_MIN_BYTES} bytes (base64 of 32 random bytes); it has ${key.length}`,
    )
  }
  return key
}
