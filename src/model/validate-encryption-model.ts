import { ConfigurationError } from '../errors'
import type { EncryptionModel } from './encryption-model'

const HOW = "pass the encryptionModel that `prisma generate` wrote (import { encryptionModel } from './generated/encryption')"

/**
 * Checks that `model` is a generated encryption model (of this format version), so a mistake in
 * the options is a `ConfigurationError` at construction, not a TypeError on the first query.
 * `name` is how the caller names the option (e.g. `fieldEncryption options.model`).
 */
export function validateEncryptionModel(model: unknown, name = 'model'): EncryptionModel {
  if (model === undefined || model === null) throw new ConfigurationError(`${name} is required: ${HOW}`)
  if (typeof model !== 'object' || Array.isArray(model)) throw new ConfigurationError(`${name} is not an encryption model: ${HOW}`)
  const m = model as Record<string, unknown>
  if ('encryptionModel' in m || (isObject(m.default) && 'encryptionModel' in m.default)) {
    throw new ConfigurationError(`${name} is the generated module, not its encryptionModel: ${HOW}`)
  }
  if (m.version !== 1 || !isObject(m.models)) {
    throw new ConfigurationError(`${name} is not an encryption model of format version 1: ${HOW}, and run \`prisma generate\` again`)
  }
  for (const [key, description] of Object.entries(m.models)) {
    const d = description as Record<string, unknown> | null
    const ok =
      isObject(d) &&
      typeof d.name === 'string' &&
      typeof d.table === 'string' &&
      Array.isArray(d.primaryKey) &&
      isObject(d.encryptedFields) &&
      isObject(d.relations) &&
      (d.blindIndexes === undefined || isObject(d.blindIndexes))
    if (!ok) throw new ConfigurationError(`${name}.models.${key} is not a model description: run \`prisma generate\` again`)
    if (d.scopeField !== undefined) checkScopeField(d, `${name}.models.${key}`)
    checkKeyHeaders(d, `${name}.models.${key}`)
  }
  return model as EncryptionModel
}

/** A row-scoped model's scope field: a plain column of the model, neither encrypted nor a blind index. */
function checkScopeField(d: Record<string, unknown>, at: string): void {
  const s = d.scopeField as Record<string, unknown> | null
  const problem =
    !isObject(s) || typeof s.name !== 'string' || typeof s.column !== 'string' || s.name === '' || s.column === ''
      ? 'is not a field reference ({ name, column })'
      : s.name in (d.encryptedFields as object)
        ? `names the encrypted field '${s.name}'`
        : isObject(d.blindIndexes) && s.name in d.blindIndexes
          ? `names the blind index '${s.name}'`
          : undefined
  if (problem) throw new ConfigurationError(`${at}.scopeField ${problem}: run \`prisma generate\` again`)
}

/**
 * The key header fields (stored format v2) of a model's encrypted fields: a plain column each, of
 * a single (not list) encrypted field, neither encrypted, a blind index nor the scope field, and
 * no two encrypted fields sharing one.
 */
function checkKeyHeaders(d: Record<string, unknown>, at: string): void {
  const encryptedFields = d.encryptedFields as Record<string, unknown>
  const owners = new Map<string, string>()
  for (const [fieldName, field] of Object.entries(encryptedFields)) {
    if (!isObject(field) || field.keyHeader === undefined) continue
    const k = field.keyHeader as Record<string, unknown> | null
    const scope = isObject(d.scopeField) ? d.scopeField.name : undefined
    const problem =
      !isObject(k) || typeof k.name !== 'string' || typeof k.column !== 'string' || k.name === '' || k.column === ''
        ? 'is not a field reference ({ name, column })'
        : field.isList === true
          ? 'is set on a list field (key headers are not for lists)'
          : k.name in encryptedFields
            ? `names the encrypted field '${k.name}'`
            : isObject(d.blindIndexes) && k.name in d.blindIndexes
              ? `names the blind index '${k.name}'`
              : k.name === scope
                ? `names the scope field '${k.name}'`
                : owners.has(k.name)
                  ? `names '${k.name}', the key header of '${owners.get(k.name)}' too`
                  : undefined
    if (problem) throw new ConfigurationError(`${at}.encryptedFields.${fieldName}.keyHeader ${problem}: run \`prisma generate\` again`)
    owners.set(k!.name as string, fieldName)
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
