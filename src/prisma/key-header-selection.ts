import { isPlainObject } from '../engine/unknown-value'
import type { ModelRegistry, ModelView } from '../model/model-registry'
import { emptyStrip, hasStrip, type FieldStrip } from './field-strip'

type Obj = Record<string, unknown>

/**
 * Key-header fields (format version 2, `/// @keyHeader(field)`) in a query's selection. They hold
 * each value's encrypted data key, needed only when that key is not in the cache, and are never
 * returned to the caller unless it selects them by name.
 *
 * - `omit` (reads: findUnique, findFirst, findMany...): the key headers are left out of the query
 *   (`omit` where nothing is selected, nothing added to a `select`), so a warm read transfers only
 *   the short values. A cold read then fails with KeyHeaderMissingError, and is run again with:
 * - `read` (writes, which cannot be run again, and a cold read's second run): every selected
 *   encrypted field's key header is read too, and removed from the result after decryption
 *   (`stripFields`) where the caller did not select it.
 */
export type KeyHeaderMode = 'omit' | 'read'

/** The args with key headers left out or read (see {@link KeyHeaderMode}); the same args when the models have none. */
export function withKeyHeaders(
  registry: ModelRegistry,
  view: ModelView,
  args: Obj,
  mode: KeyHeaderMode,
): { args: Obj; strip?: FieldStrip } {
  const strip = emptyStrip()
  const next = level(registry, view, args, mode, strip)
  return next === args ? { args, strip: hasStrip(strip) ? strip : undefined } : { args: next, strip: hasStrip(strip) ? strip : undefined }
}

const reaches = new WeakMap<ModelView, boolean>()

/** Whether a model, or one it reaches through relations, has key-header fields (worked out once per model). */
function reachesKeyHeaders(registry: ModelRegistry, view: ModelView): boolean {
  let known = reaches.get(view)
  if (known === undefined) {
    const seen = new Set<ModelView>([view])
    const queue = [view]
    known = false
    while (queue.length > 0 && !known) {
      const v = queue.pop()!
      if (v.keyHeaders.size > 0) known = true
      for (const r of v.relations.values()) {
        const t = registry.get(r.target)!
        if (seen.has(t)) continue
        seen.add(t)
        queue.push(t)
      }
    }
    reaches.set(view, known)
  }
  return known
}

function level(registry: ModelRegistry, view: ModelView, args: Obj, mode: KeyHeaderMode, strip: FieldStrip): Obj {
  if (!reachesKeyHeaders(registry, view)) return args
  let out: Obj | undefined
  const select = isPlainObject(args.select) ? args.select : undefined
  const headers = view.keyHeaders
  if (select) {
    if (mode === 'read') {
      let nextSelect: Obj | undefined
      for (const [header, field] of headers) {
        if (select[field] && !select[header]) {
          ;(nextSelect ??= { ...select })[header] = true
          strip.fields.push(header)
        }
      }
      if (nextSelect) out = { ...args, select: nextSelect }
    }
  } else if (headers.size > 0) {
    const omit = isPlainObject(args.omit) ? args.omit : undefined
    if (mode === 'omit') {
      let nextOmit: Obj | undefined
      for (const header of headers.keys()) if (omit?.[header] === undefined) (nextOmit ??= { ...omit })[header] = true
      if (nextOmit) out = { ...args, omit: nextOmit }
    } else {
      // Every scalar field not omitted is returned: the key headers are, and go after decryption.
      let nextOmit: Obj | undefined
      for (const [header, field] of headers) {
        if (omit?.[field] || omit?.[header] === false) continue // not returned, or asked for by name
        // `false`, not absent: read even where the client's own `omit` option leaves it out.
        ;(nextOmit ??= { ...omit })[header] = false
        strip.fields.push(header)
      }
      if (nextOmit) out = { ...args, omit: nextOmit }
    }
  }
  const treeKey = select ? 'select' : isPlainObject(args.include) ? 'include' : undefined
  if (treeKey) {
    const tree = (out ?? args)[treeKey] as Obj
    let nextTree: Obj | undefined
    for (const [key, value] of Object.entries(tree)) {
      const relation = view.relations.get(key)
      if (!relation || !value) continue
      const target = registry.get(relation.target)!
      const inner = emptyStrip()
      const nested = level(registry, target, isPlainObject(value) ? value : {}, mode, inner)
      if (hasStrip(inner)) strip.relations.set(key, inner)
      if (isPlainObject(value) ? nested !== value : Object.keys(nested).length > 0) (nextTree ??= { ...tree })[key] = nested
    }
    if (nextTree) out = { ...(out ?? args), [treeKey]: nextTree }
  }
  return out ?? args
}
