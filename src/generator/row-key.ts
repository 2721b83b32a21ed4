import type { DMMF } from '@prisma/generator-helper'
import { parseAnnotations } from './parse-annotations'

/**
 * The fields that identify a row, for the migration's keyset pagination: the primary key
 * (`@id`, `@@id`), else the first `@unique`/`@@unique` whose fields are all required (NOT NULL:
 * NULLs do not collide, so a nullable unique does not identify a row) and neither encrypted nor
 * a blind index (their values change while the migration runs). Empty when there is none: the
 * migration then refuses the model.
 */
export function rowKeyFields(model: DMMF.Model): string[] {
  const primaryKey = [...(model.primaryKey?.fields ?? [])]
  if (primaryKey.length === 0) primaryKey.push(...model.fields.filter((f) => f.isId).map((f) => f.name))
  if (primaryKey.length > 0) return primaryKey
  const byName = new Map(model.fields.map((f) => [f.name, f]))
  const usable = (name: string): boolean => {
    const field = byName.get(name)
    if (!field || field.kind !== 'scalar' || !field.isRequired || field.isList) return false
    const notes = parseAnnotations(field.documentation)
    return !notes.encrypted && !notes.blindIndex
  }
  const candidates = [...model.fields.filter((f) => f.isUnique).map((f) => [f.name]), ...model.uniqueFields.map((u) => [...u])]
  return candidates.find((fields) => fields.length > 0 && fields.every(usable)) ?? []
}
