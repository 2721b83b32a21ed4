import { isPlainObject } from '../engine/unknown-value'
import type { ModelRegistry, ModelView } from '../model/model-registry'
import { emptyStrip, type FieldStrip } from './field-strip'

type Obj = Record<string, unknown>

/**
 * A read of a row-scoped model must return each row's scope field to decrypt its values. Where a
 * `select` (or `omit`) at any level would return an encrypted field of such a model but not its
 * scope field, the scope field is added, and `stripFields` removes it from the result after
 * decryption: the caller gets exactly the shape asked for. Returns the args unchanged when nothing is added.
 */
export function withScopeFields(registry: ModelRegistry, view: ModelView, args: Obj): { args: Obj; strip?: FieldStrip } {
  const strip = emptyStrip()
  const next = level(registry, view, args, strip)
  return next === args ? { args } : { args: next, strip }
}

function level(registry: ModelRegistry, view: ModelView, args: Obj, strip: FieldStrip): Obj {
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
        strip.fields.push(scopeField)
      }
    } else if (isPlainObject(args.omit) && args.omit[scopeField]) {
      const omit = args.omit
      if ([...view.encrypted.keys()].some((f) => !omit[f])) {
        const nextOmit = { ...omit }
        delete nextOmit[scopeField]
        out = { ...args, omit: nextOmit }
        strip.fields.push(scopeField)
      }
    }
  }
  if (tree) {
    for (const [key, value] of Object.entries(tree)) {
      const relation = view.relations.get(key)
      if (!relation || !isPlainObject(value)) continue
      const target = registry.get(relation.target)!
      if (!target.reachesEncryption) continue
      const inner = emptyStrip()
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
