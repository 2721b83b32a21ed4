import { UnsupportedEncryptedFieldQueryError } from '../errors'
import type { ModelRegistry, ModelView } from '../model/model-registry'

/** What `prisma.user.fields.email` is at run time (Prisma's FieldRef: model and field name). */
interface FieldReference {
  modelName: string
  name: string
}

/**
 * Prisma's field references (`prisma.user.fields.email`) are instances of an internal class with
 * `modelName`, `name` and `typeName`; any such object counts (fail closed: a look-alike is refused
 * rather than let through).
 */
function isFieldReference(v: unknown): v is FieldReference {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  if (proto === Object.prototype || proto === null) return false
  const r = v as Record<string, unknown>
  return typeof r.modelName === 'string' && typeof r.name === 'string' && typeof r.typeName === 'string'
}

/**
 * Refuses a filter of column `key` that compares it with a field reference to an encrypted field
 * or a blind index column (`{ name: { lt: prisma.user.fields.email } }`): the database would
 * compare the column with ciphertext or with index values, and answer wrongly without an error.
 */
export function checkFieldReferences(registry: ModelRegistry, view: ModelView, key: string, value: unknown, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return
  if (isFieldReference(value)) {
    const target = registry.get(value.modelName)
    const encrypted = target?.encrypted.has(value.name)
    if (!encrypted && !target?.blindIndexes.has(value.name)) return
    throw new UnsupportedEncryptedFieldQueryError(
      { model: target!.description.name, field: value.name },
      'field reference',
      `${view.description.name}.${key} would be compared with ${encrypted ? 'ciphertext' : 'blind index values'}`,
    )
  }
  if (ArrayBuffer.isView(value) || value instanceof Date) return
  for (const inner of Array.isArray(value) ? value : Object.values(value)) checkFieldReferences(registry, view, key, inner, depth + 1)
}
