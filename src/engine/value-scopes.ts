import type { FieldContext } from '../cipher/field-context'
import { checkScope } from '../keys/scope-keys'
import type { FieldValue } from './envelope-encryptor'
import type { ScopeState } from './scoped-data-keys'
import { locate } from './stored-values'

/** Finds a scope's state for a value's scope, checking the scope id first (errors name the value's field). */
export type ScopeLookup = (scope: string, ctx: FieldContext) => ScopeState

export function scopeOfValue(scope: unknown, ctx: FieldContext, lookup: ScopeLookup): ScopeState {
  return lookup(checkScope(scope, locate(ctx)), ctx)
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

/** The id a batch knows a data key by: its header id, prefixed by its scope when scoped (NUL cannot be in a scope). */
export function keyIdIn(state: ScopeState | undefined, headerId: string): string {
  return state ? `${state.scope}\u0000${headerId}` : headerId
}
