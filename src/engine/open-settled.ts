import type { FieldContext } from '../cipher/field-context'
import type { SplitEnvelope } from '../format/envelope-format'
import { loadBatchKey } from './batch-key-load'
import { DataKeyEntry } from './data-key-entry'
import type { DataKeySource } from './data-key-source'
import type { DecryptResult, FieldValue } from './envelope-encryptor'
import type { ForeignValueReader } from './foreign-values'
import { scopedContext, type ScopeState } from './scoped-data-keys'
import { openValue, relocated } from './stored-values'
import type { BatchScopes } from './value-scopes'

/** What `openSettled` needs of the encryptor. */
export interface SettledOpenDeps {
  split(value: unknown, ctx: FieldContext): SplitEnvelope | undefined
  foreign: ForeignValueReader
  keys: DataKeySource
  scopes: BatchScopes
}

/**
 * The encryptor's `decryptManySettled`: each value's outcome on its own (a value that cannot be
 * read gets its error), each distinct data key (per scope) resolved once. Returns the outcomes
 * and how many values were opened.
 */
export async function openSettled(items: readonly FieldValue[], deps: SettledOpenDeps): Promise<{ out: DecryptResult[]; opened: number }> {
  const out: DecryptResult[] = new Array(items.length)
  const splits: Array<SplitEnvelope | undefined> = new Array(items.length)
  const states: Array<ScopeState | undefined> = new Array(items.length)
  const ids: string[] = new Array(items.length)
  const wanted = new Map<string, number>() // key id -> index of a value that has it
  for (let i = 0; i < items.length; i++) {
    const { value, ctx, scope } = items[i]!
    try {
      const state = deps.scopes.stateOf(scope, ctx)
      const split = deps.split(value, ctx)
      if (split === undefined) out[i] = { ok: true, value: deps.foreign.read(value as string | Uint8Array, ctx) }
      else {
        states[i] = state
        ids[i] = deps.scopes.keyId(state, split.headerId)
        if (!wanted.has(ids[i]!)) wanted.set(ids[i]!, i)
      }
      splits[i] = split
    } catch (error) {
      out[i] = { ok: false, error }
    }
  }
  const keys = new Map<string, DataKeyEntry | { error: unknown }>()
  const batch = { items, splits, states, ids }
  await Promise.all(
    [...wanted].map(async ([id, i]) => {
      const split = splits[i]!
      try {
        keys.set(id, deps.keys.tryForDecryption(split.headerId, states[i]) ?? (await loadBatchKey(deps.keys, batch, i)))
      } catch (error) {
        keys.set(id, { error })
      }
    }),
  )
  let opened = 0
  try {
    for (let i = 0; i < items.length; i++) {
      const split = splits[i]
      if (!split) continue
      const key = keys.get(ids[i]!)!
      if (!(key instanceof DataKeyEntry)) {
        out[i] = { ok: false, error: relocated(key.error, items[i]!.ctx) }
        continue
      }
      try {
        const state = states[i]
        out[i] = { ok: true, value: openValue(key, split, state ? scopedContext(state, items[i]!.ctx) : items[i]!.ctx) }
        opened++
      } catch (error) {
        out[i] = { ok: false, error }
      }
    }
  } finally {
    for (const key of keys.values()) if (key instanceof DataKeyEntry) key.release()
  }
  return { out, opened }
}
