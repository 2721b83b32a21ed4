import type { RootKeySource } from '../blind-index/root-key-source'
import { withDeadline } from '../engine/provider-call'
import type { KeyProvider } from '../keys/key-provider'
import { failureOf, isFatal, type RowFailure } from './row-failure'

/** Where the configured blind-index root key stands (`rotate`, `status`). */
export interface BlindIndexRootKeyState {
  /** The key provider that holds the wrapped root key. */
  providerId: string
  /** Whether the configured wrapped root key is wrapped under the provider's current key. */
  current: boolean
  /**
   * When not current: the same root key wrapped under the current key (base64). Deploy it in
   * place of the configured value (`wrappedBlindIndexRootKey`, or KFE_KMS_WRAPPED_ROOT_KEY)
   * before the old key is disabled; the indexes stay as they are (the root key is the same).
   */
  rewrapped?: string
  /**
   * Why the provider could not re-wrap it (the old key disabled or deleted, access denied...):
   * the root key cannot be moved, and lookups fail once no configured key can unwrap it.
   */
  failure?: RowFailure
}

/**
 * Asks the provider of the root key (when it keeps one wrapped, as AWS KMS does) to re-wrap it
 * under its current key. Undefined when the root key is not a wrapped one (given bytes, a
 * function, or a local master key that derives it).
 */
export async function blindIndexRootKeyState(source: RootKeySource, timeoutMs: number): Promise<BlindIndexRootKeyState | undefined> {
  if (typeof source !== 'object' || source instanceof Uint8Array) return undefined
  const provider = source as Partial<KeyProvider>
  if (typeof provider.rewrapBlindIndexRootKey !== 'function') return undefined
  const providerId = provider.id ?? 'unknown'
  let out
  try {
    out = await withDeadline(providerId, timeoutMs, () => provider.rewrapBlindIndexRootKey!())
  } catch (err) {
    if (isFatal(err)) throw err
    return { providerId, current: false, failure: failureOf(err) }
  }
  if (!out) return undefined
  return out.wasCurrent ? { providerId, current: true } : { providerId, current: false, rewrapped: out.wrapped.toString('base64') }
}
