import { isPlainObject } from '../engine/unknown-value'
import type { ModelRegistry, ModelView } from '../model/model-registry'

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
 *   (`stripKeyHeaders`) where the caller did not select it.
 */
export type KeyHeaderMode = 'omit' | 'read'

/** Where key headers were read only for decryption: removed from those records afterwards. */
export interface KeyHeaderStrip {
  /** Key-header fields the records of this level lose. */
  fields: string[]
  /** Relation name -> what to strip in the records under it. */
  relations: Map<string, KeyHeaderStrip>
}

/** The args with key headers left out or read (see {@link KeyHeaderMode}); the same args when the models have none. */
export function withKeyHeaders(
  registry: ModelRegistry,
  view: ModelView,
  args: Obj,
  mode: KeyHeaderMode,
): { args: Obj; strip?: KeyHeaderStrip } {
  const strip: KeyHeaderStrip = { fields: [], relations: new Map() }
  const next = level(registry, view, args, mode, strip)
  return next === args ? { args, strip: hasStrip(strip) ? strip : undefined } : { args: next, strip: hasStrip(strip) ? strip : undefined }
}

function hasStrip(s: KeyHeaderStrip): boolean {
  return s.fields.length > 0 || s.relations.size > 0
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

function level(registry: ModelRegistry, view: ModelView, args: Obj, mode: KeyHeaderMode, strip: KeyHeaderStrip): Obj {
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
      for (const header of headers.keys()) if (!omit?.[header]) (nextOmit ??= { ...omit })[header] = true
      if (nextOmit) out = { ...args, omit: nextOmit }
    } else {
      // Every scalar field not omitted is returned: the key headers are, and go after decryption.
      let nextOmit: Obj | undefined
      for (const [header, field] of headers) {
        if (omit?.[field]) continue
        if (omit?.[header]) {
          nextOmit ??= { ...omit }
          delete nextOmit[header]
        }
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
      const inner: KeyHeaderStrip = { fields: [], relations: new Map() }
      const nested = level(registry, target, isPlainObject(value) ? value : {}, mode, inner)
      if (hasStrip(inner)) strip.relations.set(key, inner)
      if (isPlainObject(value) ? nested !== value : Object.keys(nested).length > 0) (nextTree ??= { ...tree })[key] = nested
    }
    if (nextTree) out = { ...(out ?? args), [treeKey]: nextTree }
  }
  return out ?? args
}

/** Removes the key headers read by {@link withKeyHeaders} from the records of a result (a record, a list, or null). */
export function stripKeyHeaders(registry: ModelRegistry, view: ModelView, strip: KeyHeaderStrip, result: unknown): void {
  if (Array.isArray(result)) {
    for (const r of result) stripKeyHeaders(registry, view, strip, r)
    return
  }
  if (result === null || typeof result !== 'object') return
  const record = result as Obj
  for (const f of strip.fields) delete record[f]
  for (const [name, inner] of strip.relations) {
    const target = registry.get(view.relations.get(name)!.target)!
    stripKeyHeaders(registry, target, inner, record[name])
  }
}
