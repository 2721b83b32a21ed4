import { LRUCache } from 'lru-cache'
import { isFatal, KeyProviderError, type FieldLocation } from '../errors'
import type { EnvelopeHeader } from '../format/envelope-format'
import { rewrappedHeader } from '../format/header-rewrite'
import type { KeyRing } from '../keys/key-ring'
import { DEFAULT_PROVIDER_TIMEOUT_MS, withDeadline } from './provider-call'

/**
 * Where one data key stands against the primary provider:
 * - `current`: wrapped by the primary provider under its current key; nothing to do;
 * - `older` with `rewrapped`: the primary provider re-wrapped it (KMS ReEncrypt, no plaintext
 *   here): rewriting the value's header is enough;
 * - `older` without: another provider, or an older key the provider cannot re-wrap (a local
 *   master key): the value must be decrypted and encrypted again under a new data key.
 */
export type DataKeyState = { state: 'current' } | { state: 'older'; rewrapped?: Buffer }

/**
 * The one place that decides whether a data key is current: `EnvelopeEncryptor.classify`,
 * `status` and `rotate` all ask it. Answers `DataKeyState` once per data key (by header),
 * however many values share it: one KMS ReEncrypt per data key at most (nothing is stored; the
 * answer says whether the key already was under the current KMS key). A definite failure
 * (wrong key, disabled, denied...) is remembered, so a key that cannot be re-wrapped costs one
 * call, not one per value; a run-stopping one (provider unreachable) is not.
 */
export class DataKeyCurrency {
  private readonly known = new LRUCache<string, Promise<DataKeyState>>({ max: 10_000 })

  constructor(
    private readonly keyRing: KeyRing,
    readonly timeoutMs = DEFAULT_PROVIDER_TIMEOUT_MS,
  ) {}

  of(headerId: string, header: EnvelopeHeader, at: FieldLocation): Promise<DataKeyState> {
    let pending = this.known.get(headerId)
    if (!pending) {
      pending = this.resolve(header, at)
      this.known.set(headerId, pending)
      pending.catch((err: unknown) => {
        if (isFatal(err) && this.known.get(headerId) === pending) this.known.delete(headerId)
      })
    }
    return pending
  }

  private async resolve(header: EnvelopeHeader, at: FieldLocation): Promise<DataKeyState> {
    const provider = this.keyRing.get(header.providerId, at) // unknown provider: UnknownKeyProviderError
    if (provider !== this.keyRing.primary) return { state: 'older' }
    if (provider.rewrapDataKey) {
      let out
      try {
        out = await withDeadline(provider.id, this.timeoutMs, () => provider.rewrapDataKey!(header.wrappedKey))
      } catch (err) {
        throw err instanceof KeyProviderError ? err.at(at) : err
      }
      return out.wasCurrent
        ? { state: 'current' }
        : {
            state: 'older',
            rewrapped: rewrappedHeader(header, out.wrapped),
          }
    }
    return provider.isCurrent?.(header.wrappedKey) === false ? { state: 'older' } : { state: 'current' }
  }
}
