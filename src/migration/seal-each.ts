import type { EnvelopeEncryptor, FieldValue, StoredValue } from '../engine/envelope-encryptor'
import { isFatal } from './row-failure'

/** One value sealed, with its key header when its field is written in the short form (format version 2). */
export type SealResult = { ok: true; value: StoredValue; keyHeader?: string } | { ok: false; error: unknown }

/**
 * Encrypts a batch one scope at a time, telling which values could not be sealed and why: a batch
 * of a row-scoped model mixes tenants, and one tenant whose key cannot seal (shredded, no key)
 * fails its own rows, not the run. Errors that concern the whole run (the key provider is
 * unreachable, misconfigured) are thrown. A short-form field's value comes with its key header,
 * to be written with it in the same statement.
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
  const settled = await Promise.allSettled(
    [...groups.values()].map((indices) => encryptor.encryptManyWithKeyHeaders(indices.map((i) => items[i]!))),
  )
  const fatal = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && isFatal(s.reason))
  if (fatal) throw fatal.reason
  ;[...groups.values()].forEach((indices, g) => {
    const s = settled[g]!
    indices.forEach((i, k) => {
      if (s.status === 'rejected') results[i] = { ok: false, error: s.reason }
      else {
        const keyHeader = s.value.keyHeaders[k]
        results[i] = keyHeader === undefined ? { ok: true, value: s.value.values[k]! } : { ok: true, value: s.value.values[k]!, keyHeader }
      }
    })
  })
  return results
}
