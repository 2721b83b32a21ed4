import { DataKeyCurrency, type DataKeyState } from '../engine/data-key-currency'
import { libraryCodeOf, type FieldLocation } from '../errors'
import type { EnvelopeHeader } from '../format/envelope-format'
import type { KeyProvider } from '../keys/key-provider'
import type { KeyRing } from '../keys/key-ring'
import { scopeProviderAt, type ScopeKeys } from '../keys/scope-keys'

/**
 * Where a data key stands in a run bound to one scope (`--scope`): `current` when it is wrapped by
 * the scope's key provider (the provider id in the header is the scope provider's, and the
 * provider does not call it older), else `older` (e.g. a value written without the scope, which
 * `rotate` moves into the scope with `adoptUnscoped`; a scope a read-only view has no key for holds no value). A shredded scope throws
 * `ScopeKeyShreddedError` naming the field, so `status` counts its values as shredded.
 */
export class ScopedDataKeyCurrency extends DataKeyCurrency {
  constructor(
    keyRing: KeyRing,
    private readonly scopeKeys: ScopeKeys,
    private readonly scope: string,
    timeoutMs?: number,
  ) {
    super(keyRing, timeoutMs)
  }

  override async of(_headerId: string, header: EnvelopeHeader, at: FieldLocation): Promise<DataKeyState> {
    const provider = await this.provider(at)
    if (!provider || provider.id !== header.providerId) return { state: 'older' }
    return provider.isCurrent?.(header.wrappedKey) === false ? { state: 'older' } : { state: 'current' }
  }

  /** Whether a data key is wrapped by this scope's provider (a value written with the scope), not by an unscoped one. */
  async holds(header: EnvelopeHeader, at: FieldLocation): Promise<boolean> {
    return (await this.provider(at))?.id === header.providerId
  }

  /** The scope's provider; undefined when a read-only view knows no key for it (then no value is the scope's). */
  private async provider(at: FieldLocation): Promise<KeyProvider | undefined> {
    try {
      return await scopeProviderAt(this.scopeKeys, this.scope, at, this.timeoutMs)
    } catch (err) {
      if (libraryCodeOf(err) === 'KFE_SCOPE_KEY_NOT_FOUND') return undefined
      throw err
    }
  }
}

/**
 * Whether a value read in a scoped run was written without a scope (its data key is not the
 * scope provider's): it is then opened unscoped, to be moved into the scope (`rotate`) or
 * verified (`status`). False in an unscoped run.
 */
export async function writtenOutsideScope(currency: DataKeyCurrency, header: EnvelopeHeader, at: FieldLocation): Promise<boolean> {
  return currency instanceof ScopedDataKeyCurrency && !(await currency.holds(header, at))
}
