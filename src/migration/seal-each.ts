import type { EnvelopeEncryptor, FieldValue, StoredValue } from '../engine/envelope-encryptor'
import { isFatal } from './row-failure'

export type SealResult = { ok: true; value: StoredValue } | { ok: false; error: unknown }

/**
 * Encrypts a batch one scope at a time, telling which values could not be sealed and why: a batch
 * of a row-scoped model mixes tenants, and one tenant whose key cannot seal (shredded, no key)
 * fails its own rows, not the run. Errors that concern the whole run (the key provider is
 * unreachable, misconfigured) are thrown.
 */
export async function sealEach(encryptor: EnvelopeEncryptor, items: readonly FieldValue[]): Promise<SealResult[]> {
  if (items.length === 0) return []
  const groups = new Map<string | undefined, number[]>()
  items.forEach((item, i) => {
    let group = groups.get(item.scope)
    if (!group) groups.set(item.scope, (group = []))
    group.push(i)
  })
  const results: SealResult[] = new Array(items.length)
  // Scopes side by side, as one encryptMany would fetch their keys.
  const settled = await Promise.allSettled([...groups.values()].map((indices) => encryptor.encryptMany(indices.map((i) => items[i]!))))
  const fatal = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && isFatal(s.reason))
  if (fatal) throw fatal.reason
  ;[...groups.values()].forEach((indices, g) => {
    const s = settled[g]!
    indices.forEach((i, k) => (results[i] = s.status === 'fulfilled' ? { ok: true, value: s.value[k]! } : { ok: false, error: s.reason }))
  })
  return results
}
