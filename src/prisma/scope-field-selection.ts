import { isPlainObject } from '../engine/unknown-value'
import type { ModelRegistry, ModelView } from '../model/model-registry'

type Obj = Record<string, unknown>

/** Where the scope field was added to a read only for decryption: removed from those records afterwards. */
export interface ScopeStrip {
  /** The records of this level lose their scope field. */
  strip: boolean
  /** Relation name -> what to strip in the records under it. */
  relations: Map<string, ScopeStrip>
}

/**
 * A read of a row-scoped model must return each row's scope field to decrypt its values. Where a
 * `select` (or `omit`) at any level would return an encrypted field of such a model but not its
 * scope field, the scope field is added, and `stripScopeFields` removes it from the result after
 * decryption: the caller gets exactly the shape asked for. Returns the args unchanged when nothing is added.
 */
export function withScopeFields(registry: ModelRegistry, view: ModelView, args: Obj): { args: Obj; strip?: ScopeStrip } {
  const strip: ScopeStrip = { strip: false, relations: new Map() }
  const next = level(registry, view, args, strip)
  return next === args ? { args } : { args: next, strip }
}

function level(registry: ModelRegistry, view: ModelView, args: Obj, strip: ScopeStrip): Obj {
  let out: Obj | undefined
  const scopeField = view.description.scopeField?.name
  const select = args.select
  const tree = isPlainObject(select) ? select : isPlainObject(args.include) ? args.include : undefined
  const treeKey = isPlainObject(select) ? 'select' : 'include'
  let nextTree: Obj | undefined
  if (scopeField !== undefined) {
    if (isPlainObject(select)) {
      const returnsEncrypted = [...view.encrypted.keys()].some((f) => select[f])
      if (returnsEncrypted && !select[scopeField]) {
        nextTree = { ...select, [scopeField]: true }
        strip.strip = true
      }
    } else if (isPlainObject(args.omit) && args.omit[scopeField]) {
      const omit = args.omit
      if ([...view.encrypted.keys()].some((f) => !omit[f])) {
        const nextOmit = { ...omit }
        delete nextOmit[scopeField]
        out = { ...args, omit: nextOmit }
        strip.strip = true
      }
    }
  }
  if (tree) {
    for (const [key, value] of Object.entries(tree)) {
      const relation = view.relations.get(key)
      if (!relation || !isPlainObject(value)) continue
      const target = registry.get(relation.target)!
      if (!target.reachesEncryption) continue
      const inner: ScopeStrip = { strip: false, relations: new Map() }
      const nested = level(registry, target, value, inner)
      if (nested !== value) {
        ;(nextTree ??= { ...tree })[key] = nested
        strip.relations.set(key, inner)
      }
    }
  }
  if (nextTree) out = { ...(out ?? args), [treeKey]: nextTree }
  return out ?? args
}

/** Removes the scope fields added by {@link withScopeFields} from the records of a result (a record, a list, or null). */
export function stripScopeFields(registry: ModelRegistry, view: ModelView, strip: ScopeStrip, result: unknown): void {
  if (Array.isArray(result)) {
    for (const r of result) stripScopeFields(registry, view, strip, r)
    return
  }
  if (result === null || typeof result !== 'object') return
  const record = result as Obj
  if (strip.strip) delete record[view.description.scopeField!.name]
  for (const [name, inner] of strip.relations) {
    const target = registry.get(view.relations.get(name)!.target)!
    stripScopeFields(registry, target, inner, record[name])
  }
}

/** The strip plan of what a Fluent API call returns: the plan along its select path. */
export function stripAlong<S extends { relations: Map<string, S> }>(
  strip: S | undefined,
  dataPath: readonly string[] | undefined,
): S | undefined {
  let current = strip
  for (const step of dataPath ?? []) {
    if (!current) return undefined
    if (step === 'select' || step === 'include') continue
    current = current.relations.get(step)
  }
  return current
}
