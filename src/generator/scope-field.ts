import type { DMMF } from '@prisma/generator-helper'
import { SchemaAnnotationError } from '../errors'
import type { BlindIndexModel, ColumnRef, EncryptedFieldModel } from '../model/encryption-model'

/**
 * The field `/// @encryptionScope(name)` names, checked: a required scalar String of the model,
 * neither encrypted nor a blind index (its value is the scope id, sent in clear and filtered on).
 * Only String: a scope id is a string (Int/BigInt would need one decimal spelling everywhere).
 */
export function scopeFieldOf(
  model: DMMF.Model,
  name: string,
  encryptedFields: Readonly<Record<string, EncryptedFieldModel>>,
  blindIndexes: Readonly<Record<string, BlindIndexModel>>,
): ColumnRef {
  const at = { model: model.name, field: name }
  const fail = (problem: string): never => {
    throw new SchemaAnnotationError(at, `@encryptionScope(${name}): ${problem}`)
  }
  const field = model.fields.find((f) => f.name === name)
  if (!field) return fail(`${model.name} has no field '${name}'`)
  if (field.kind === 'object') return fail(`'${name}' is a relation field; name its scalar (e.g. tenantId)`)
  if (field.kind !== 'scalar') return fail(`the scope field must be String (a scope id is a string), not the ${field.kind} ${field.type}`)
  if (field.isList) return fail(`the scope field must be String, not ${field.type}[]`)
  if (field.type !== 'String') return fail(`the scope field must be String (a scope id is a string), not ${field.type}`)
  if (!field.isRequired) return fail('the scope field must be required (String, not String?): every row needs a scope')
  if (encryptedFields[name]) return fail('the scope field cannot be @encrypted (its value selects the key)')
  if (blindIndexes[name]) return fail('the scope field cannot be a @blindIndex')
  if (Object.keys(encryptedFields).length === 0) return fail(`${model.name} has no @encrypted field to scope`)
  return { name, column: field.dbName ?? field.name }
}
