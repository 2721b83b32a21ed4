import type { DMMF } from '@prisma/generator-helper'
import { SchemaAnnotationError } from '../errors'
import type { BlindIndexModel, ColumnRef, EncryptedFieldModel } from '../model/encryption-model'

/**
 * The field annotated `/// @keyHeader(target)`, checked: it holds the key header (stored format
 * v2, docs/format-v2.md) of the encrypted field `target` of the same model. The extension writes it
 * with the value and nulls it with the value; users never write it. So it must be a plain
 * optional String column: `String?`, not a list, not (part of) a key or unique, no @default or
 * @updatedAt, not a relation scalar, not the row's scope field, neither encrypted nor a blind index.
 * `target` must be a String/Bytes `@encrypted` field (not a list: v2 is not for lists) of the model
 * with no other key header. Returns the reference to put in `target`'s `keyHeader`.
 */
export function keyHeaderOf(
  model: DMMF.Model,
  field: DMMF.Field,
  target: string,
  context: {
    encryptedFields: Readonly<Record<string, EncryptedFieldModel>>
    blindIndexes: Readonly<Record<string, BlindIndexModel>>
    primaryKey: readonly string[]
    scopeField?: string
  },
): ColumnRef {
  const fail = (problem: string): never => {
    throw new SchemaAnnotationError({ model: model.name, field: field.name }, `@keyHeader(${target}): ${problem}`)
  }
  if (context.scopeField === field.name) return fail('a @keyHeader field cannot be the @encryptionScope field')
  if (context.encryptedFields[field.name]) return fail('a field cannot be both @encrypted and a @keyHeader')
  if (context.blindIndexes[field.name]) return fail('a field cannot be both a @blindIndex and a @keyHeader')
  const targetField = model.fields.find((f) => f.name === target)
  if (!targetField) return fail(`${model.name} has no field '${target}'`)
  const encrypted = context.encryptedFields[target]
  if (!encrypted) return fail(`'${target}' is not an @encrypted field of ${model.name}`)
  if (encrypted.isList) return fail(`'${target}' is a list (${encrypted.type}[]); key headers (stored format v2) are not for lists`)
  if (encrypted.keyHeader) return fail(`'${target}' already has a key header field (${encrypted.keyHeader.name})`)

  if (field.isId || context.primaryKey.includes(field.name)) return fail('a @keyHeader field cannot be (part of) the primary key')
  if (field.isUnique || model.uniqueFields.some((u) => u.includes(field.name))) {
    return fail('a @keyHeader field cannot be @unique or part of a @@unique (values share data keys, so key headers repeat across rows)')
  }
  if (field.hasDefaultValue) return fail('a @keyHeader field cannot have @default (the extension writes it)')
  if (field.isUpdatedAt) return fail('a @keyHeader field cannot be @updatedAt (the extension writes it)')
  if (model.fields.some((f) => f.relationFromFields?.includes(field.name))) {
    return fail('a @keyHeader field cannot be a relation scalar (foreign key)')
  }
  if (field.kind === 'object') return fail(`a @keyHeader field must be String?, not a relation to ${field.type}`)
  if (field.kind !== 'scalar' || field.type !== 'String' || field.isList || field.isRequired) {
    const shown = `${field.type}${field.isList ? '[]' : field.isRequired ? '' : '?'}`
    return fail(
      `a @keyHeader field must be String? (optional: it is null when '${target}' is null, and the extension writes it), not ${shown}`,
    )
  }
  return { name: field.name, column: field.dbName ?? field.name }
}
