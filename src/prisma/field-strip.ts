import type { ModelRegistry, ModelView } from '../model/model-registry'

type Obj = Record<string, unknown>

/**
 * Fields a query read only for decryption (a row-scoped model's scope field, key headers), to be
 * removed from the result's records afterwards, so that the caller gets the shape it asked for.
 */
export interface FieldStrip {
  /** Fields the records of this level lose. */
  fields: string[]
  /** Relation name -> what to strip in the records under it. */
  relations: Map<string, FieldStrip>
}

export function emptyStrip(): FieldStrip {
  return { fields: [], relations: new Map() }
}

export function hasStrip(s: FieldStrip): boolean {
  return s.fields.length > 0 || s.relations.size > 0
}

/** Removes the planned fields from the records of a result (a record, a list, or null). */
export function stripFields(registry: ModelRegistry, view: ModelView, strip: FieldStrip, result: unknown): void {
  if (Array.isArray(result)) {
    for (const r of result) stripFields(registry, view, strip, r)
    return
  }
  if (result === null || typeof result !== 'object') return
  const record = result as Obj
  for (const f of strip.fields) delete record[f]
  for (const [name, inner] of strip.relations) {
    const target = registry.get(view.relations.get(name)!.target)!
    stripFields(registry, target, inner, record[name])
  }
}

/** The strip plan of what a Fluent API call returns: the plan along its select path. */
export function stripAlong(strip: FieldStrip | undefined, dataPath: readonly string[] | undefined): FieldStrip | undefined {
  let current = strip
  for (const step of dataPath ?? []) {
    if (!current) return undefined
    if (step === 'select' || step === 'include') continue
    current = current.relations.get(step)
  }
  return current
}
