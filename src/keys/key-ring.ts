import { ConfigurationError, UnknownKeyProviderError, type FieldLocation } from '../errors'
import type { KeyProvider } from './key-provider'

/** The configured providers: the first (primary) wraps new data keys; any of them unwraps by id. */
export class KeyRing {
  readonly primary: KeyProvider
  private readonly byId = new Map<string, KeyProvider>()

  constructor(keys: KeyProvider | readonly KeyProvider[]) {
    const list = Array.isArray(keys) ? (keys as readonly KeyProvider[]) : [keys as KeyProvider]
    if (list.length === 0) throw new ConfigurationError('at least one key provider is required')
    for (const p of list) {
      if (this.byId.has(p.id)) throw new ConfigurationError(`two key providers share the id '${p.id}'`)
      this.byId.set(p.id, p)
    }
    this.primary = list[0]!
  }

  get(id: string, at?: FieldLocation): KeyProvider {
    const p = this.byId.get(id)
    if (!p) throw new UnknownKeyProviderError(id, at)
    return p
  }

  get providers(): KeyProvider[] {
    return [...this.byId.values()]
  }
}
