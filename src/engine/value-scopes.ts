import type { FieldContext } from '../cipher/field-context'
import type { FieldLocation } from '../errors'
import { checkScope } from '../keys/scope-keys'
import type { FieldValue } from './envelope-encryptor'
import type { ScopeState } from './scoped-data-keys'
import { locate } from './stored-values'

/** Finds a scope's state by its (checked) id; the field names the value in errors. */
export type ScopeLookup = (scope: string, at: FieldLocation) => ScopeState

/**
 * A decryption batch's scopes: each value's scope state and the id the batch knows its data key
 * by (the header id, prefixed by the scope when scoped: NUL cannot be in a scope). Values of a
 * batch mostly share one scope and one data key, so both are worked out once per run of such
 * values, not per value (no scope check, cache lookup or id string per value on that path).
 */
export class BatchScopes {
  private lastScope: string | undefined
  private lastState: ScopeState | undefined
  private lastHeaderId: string | undefined
  private lastIdState: ScopeState | undefined
  private lastId = ''

  constructor(private readonly lookup: ScopeLookup) {}

  /** The state of a value's scope (undefined when unscoped), the scope id checked. */
  stateOf(scope: string | undefined, ctx: FieldContext): ScopeState | undefined {
    if (scope === undefined) return undefined
    if (scope !== this.lastScope || this.lastState === undefined) {
      const at = locate(ctx)
      this.lastState = this.lookup(checkScope(scope, at), at)
      this.lastScope = scope
    }
    return this.lastState
  }

  /** The batch's id of a value's data key. */
  keyId(state: ScopeState | undefined, headerId: string): string {
    if (state === undefined) return headerId
    if (headerId !== this.lastHeaderId || state !== this.lastIdState) {
      this.lastId = `${state.scope}\u0000${headerId}`
      this.lastHeaderId = headerId
      this.lastIdState = state
    }
    return this.lastId
  }
}

/**
 * The indices of a batch's values by scope (unscoped values under `undefined`), every scope id
 * checked; or undefined when no value has a scope (the unscoped path, unchanged).
 */
export function groupByScope(items: readonly FieldValue[]): Map<string | undefined, number[]> | undefined {
  let groups: Map<string | undefined, number[]> | undefined
  for (let i = 0; i < items.length; i++) {
    const { scope, ctx } = items[i]!
    if (scope === undefined && !groups) continue
    if (!groups) groups = new Map([[undefined, Array.from({ length: i }, (_, k) => k)]])
    const key = scope === undefined ? undefined : checkScope(scope, locate(ctx))
    let list = groups.get(key)
    if (!list) groups.set(key, (list = []))
    list.push(i)
  }
  if (groups && groups.get(undefined)!.length === 0) groups.delete(undefined)
  return groups
}
