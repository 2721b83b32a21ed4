import type { DMMF } from '@prisma/generator-helper'
import { SchemaAnnotationError } from '../errors'
import type {
  BlindIndexModel,
  BlindIndexNormalization,
  EncryptedFieldModel,
  EncryptionModel,
  ModelDescription,
  RelationModel,
} from '../model/encryption-model'
import { normalizationProblem } from '../blind-index/normalize'
import { blindIndexColumnProblem, encryptedColumnProblem, keyHeaderColumnProblem } from './column-size-check'
import { keyHeaderOf } from './key-header-field'
import { parseAnnotations } from './parse-annotations'
import { parseModelAnnotations } from './parse-model-annotations'
import { scopeFieldOf } from './scope-field'
import { rowKeyFields } from './row-key'

const ENCRYPTABLE = new Set(['String', 'Bytes'])

/**
 * Reads the datamodel Prisma hands a generator and returns the encryption model, or throws a
 * SchemaAnnotationError naming the model, field and problem.
 */
export function buildEncryptionModel(datamodel: DMMF.Datamodel, provider: string): EncryptionModel {
  const models: Record<string, ModelDescription> = {}
  for (const model of datamodel.models) {
    models[model.name] = describeModel(model, provider)
  }
  return { version: 1, provider, models }
}

function describeModel(model: DMMF.Model, provider: string): ModelDescription {
  const modelNotes = parseModelAnnotations(model.documentation)
  if (modelNotes.malformed) throw new SchemaAnnotationError({ model: model.name }, modelNotes.malformed)
  const columnOf = (f: DMMF.Field) => f.dbName ?? f.name
  const byName = new Map(model.fields.map((f) => [f.name, f]))
  // The primary key, or a required @unique/@@unique when there is none (row-key.ts).
  const primaryKey: string[] = rowKeyFields(model)
  const encryptedFields: Record<string, EncryptedFieldModel> = {}
  const blindIndexes: Record<string, BlindIndexModel> = {}
  const relations: Record<string, RelationModel> = {}
  const uniqueSingles = new Set(model.uniqueFields.filter((u) => u.length === 1).map((u) => u[0]!))

  for (const field of model.fields) {
    const at = { model: model.name, field: field.name }
    if (field.kind === 'object') {
      relations[field.name] = { name: field.name, target: field.type, isList: field.isList }
    }
    const notes = parseAnnotations(field.documentation)
    if (notes.malformed) throw new SchemaAnnotationError(at, notes.malformed)
    if (notes.blindIndex && notes.encrypted) throw new SchemaAnnotationError(at, 'a field cannot be both @encrypted and a @blindIndex')
    if (notes.encrypted) {
      if (field.kind !== 'scalar' || !ENCRYPTABLE.has(field.type)) {
        const shown = field.kind === 'object' ? `relation to ${field.type}` : `${field.type}${field.isList ? '[]' : ''}`
        throw new SchemaAnnotationError(at, `@encrypted is only supported on String, String?, String[] and Bytes fields, not ${shown}`)
      }
      if (field.isList && field.type === 'Bytes') throw new SchemaAnnotationError(at, '@encrypted is not supported on Bytes[]')
      if (field.isList && provider !== 'postgresql' && provider !== 'cockroachdb') {
        throw new SchemaAnnotationError(at, 'encrypted String[] fields need a database with scalar lists (PostgreSQL)')
      }
      if (field.isId) throw new SchemaAnnotationError(at, '@encrypted cannot be used on an @id field')
      if (primaryKey.includes(field.name)) throw new SchemaAnnotationError(at, '@encrypted cannot be used on a primary key field')
      if (field.isUnique || uniqueSingles.has(field.name)) {
        throw new SchemaAnnotationError(
          at,
          'an encrypted field cannot be @unique (random IVs make every ciphertext different); put @unique on its @blindIndex field instead',
        )
      }
      if (field.hasDefaultValue)
        throw new SchemaAnnotationError(at, 'an encrypted field cannot have @default (the database would store the default unencrypted)')
      if (model.fields.some((f) => f.relationFromFields?.includes(field.name))) {
        throw new SchemaAnnotationError(
          at,
          'a relation scalar (foreign key) cannot be @encrypted: `connect` makes Prisma copy the referenced value into it in clear',
        )
      }
      const compound = model.uniqueFields.find((u) => u.length > 1 && u.includes(field.name))
      if (compound) {
        throw new SchemaAnnotationError(
          at,
          `an encrypted field cannot be part of @@unique([${compound.join(', ')}]) (random IVs make every ciphertext different, so it can never match); put its @blindIndex field in the compound instead`,
        )
      }
      encryptedFields[field.name] = {
        name: field.name,
        column: columnOf(field),
        type: field.type as EncryptedFieldModel['type'],
        isList: field.isList,
        isRequired: field.isRequired,
      }
    }
  }

  for (const field of model.fields) {
    const notes = parseAnnotations(field.documentation)
    if (!notes.blindIndex) continue
    const at = { model: model.name, field: field.name }
    const { source, normalize } = notes.blindIndex
    const sourceField = byName.get(source)
    if (!sourceField) throw new SchemaAnnotationError(at, `@blindIndex source field '${source}' does not exist on ${model.name}`)
    const encrypted = encryptedFields[source]
    if (!encrypted) throw new SchemaAnnotationError(at, `@blindIndex source field '${source}' is not @encrypted`)
    if (encrypted.type !== 'String' || encrypted.isList)
      throw new SchemaAnnotationError(at, `@blindIndex source field '${source}' must be a String or String? field`)
    if (encrypted.blindIndex) throw new SchemaAnnotationError(at, `'${source}' already has a blind index (${encrypted.blindIndex})`)
    if (field.kind !== 'scalar' || field.type !== 'String' || field.isList) {
      const shown = field.kind === 'object' ? `relation to ${field.type}` : `${field.type}${field.isList ? '[]' : ''}`
      throw new SchemaAnnotationError(at, `a @blindIndex field must be String? (or String), not ${shown}`)
    }
    // String? is the recommended form even for a required source: the extension fills it on
    // every write, and Prisma's create types then do not ask for it. String (NOT NULL) is
    // accepted for a required source.
    if (!encrypted.isRequired && field.isRequired) {
      throw new SchemaAnnotationError(at, `must be String? because '${source}' is optional (a null ${source} has a null index)`)
    }
    if (field.isId || primaryKey.includes(field.name))
      throw new SchemaAnnotationError(at, 'a @blindIndex field cannot be (part of) the primary key')
    if (field.hasDefaultValue) throw new SchemaAnnotationError(at, 'a @blindIndex field cannot have @default (the extension computes it)')
    if (field.isUpdatedAt) throw new SchemaAnnotationError(at, 'a @blindIndex field cannot be @updatedAt')
    if (model.fields.some((f) => f.relationFromFields?.includes(field.name))) {
      throw new SchemaAnnotationError(at, 'a @blindIndex field cannot be a relation scalar (foreign key)')
    }
    const problem = normalizationProblem(normalize)
    if (problem) throw new SchemaAnnotationError(at, problem)
    encryptedFields[source] = { ...encrypted, blindIndex: field.name }
    blindIndexes[field.name] = {
      name: field.name,
      column: columnOf(field),
      source,
      normalize: normalize as BlindIndexNormalization[],
      isUnique: field.isUnique || uniqueSingles.has(field.name),
    }
  }

  // Key headers (stored format v2): `/// @keyHeader(field)` names the encrypted field whose key
  // header the annotated field holds (key-header-field.ts).
  const keyHeaderFields = new Set<string>()
  for (const field of model.fields) {
    const target = parseAnnotations(field.documentation).keyHeader
    if (target === undefined) continue
    const context = { encryptedFields, blindIndexes, primaryKey, scopeField: modelNotes.scopeField }
    const keyHeader = keyHeaderOf(model, field, target, context)
    encryptedFields[target] = { ...encryptedFields[target]!, keyHeader }
    keyHeaderFields.add(field.name)
  }

  // Column types last, once the annotations are known to be right (column-size-check.ts).
  for (const field of model.fields) {
    const enc = encryptedFields[field.name] ? encryptedColumnProblem(field, provider) : undefined
    const problem =
      enc ??
      (blindIndexes[field.name] ? blindIndexColumnProblem(field, provider) : undefined) ??
      (keyHeaderFields.has(field.name) ? keyHeaderColumnProblem(field, provider) : undefined)
    if (problem) throw new SchemaAnnotationError({ model: model.name, field: field.name }, problem)
  }

  const primaryKeyColumns = primaryKey.map((name) => columnOf(byName.get(name)!))
  const description: ModelDescription = {
    name: model.name,
    table: model.dbName ?? model.name,
    primaryKey,
    primaryKeyColumns,
    encryptedFields,
    blindIndexes,
    relations,
  }
  if (modelNotes.scopeField === undefined) return description
  return { ...description, scopeField: scopeFieldOf(model, modelNotes.scopeField, encryptedFields, blindIndexes) }
}
