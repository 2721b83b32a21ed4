import { KeyHeaderMissingError } from '../errors'
import type { SplitEnvelope } from '../format/envelope-format'
import type { DataKeyEntry } from './data-key-entry'
import type { DataKeySource } from './data-key-source'
import type { FieldValue } from './envelope-encryptor'
import type { ScopeState } from './scoped-data-keys'
import { locate } from './stored-values'

/** A decryption batch as split: per value its split (undefined when not ours), scope state and data-key id. */
export interface SplitBatch {
  items: readonly FieldValue[]
  splits: ReadonlyArray<SplitEnvelope | undefined>
  states: ReadonlyArray<ScopeState | undefined>
  ids: readonly string[]
}

/**
 * The data key, not in the cache, of the batch's values with the id of value `first` (the first
 * of them). Version 1: from that value's header. Version 2 (short values): from the key header of
 * the first of those values whose key header pairs with its value and loads, each distinct key
 * header tried once, in order: one row's missing, moved or tampered key header does not make the
 * other rows of its data key unreadable, and the outcome does not depend on the rows' order (a
 * key loaded from any of them opens all of them, as when it is cached). When none loads: the
 * first failure of a key header that was given, else KeyHeaderMissingError.
 */
export async function loadBatchKey(keys: DataKeySource, batch: SplitBatch, first: number): Promise<DataKeyEntry> {
  const { items, splits, states, ids } = batch
  const split = splits[first]!
  if (!split.short) return keys.keyFor(split.headerId, split, items[first]!.ctx, states[first])
  const id = ids[first]
  const tried = new Set<string>()
  let failure: { error: unknown } | undefined
  for (let j = first; j < items.length; j++) {
    if (ids[j] !== id) continue
    const { keyHeader, ctx } = items[j]!
    if (typeof keyHeader !== 'string' || keyHeader === '' || tried.has(keyHeader)) continue
    tried.add(keyHeader)
    try {
      return await keys.shortKeyFor(splits[j]!, keyHeader, ctx, states[j])
    } catch (error) {
      failure ??= { error }
    }
  }
  if (failure) throw failure.error
  throw new KeyHeaderMissingError(locate(items[first]!.ctx))
}
