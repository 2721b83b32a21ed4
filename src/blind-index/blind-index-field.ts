import type { BlindIndexNormalization, EncryptionModel, ModelDescription } from '../model/encryption-model'

/** One blind index column, with everything needed to compute its values. Built once per client. */
export interface BlindIndexField {
  /** Prisma model name. */
  model: string
  /** The encrypted field it indexes. */
  source: string
  /** The index field. */
  index: string
  /** Database table and columns (after @@map/@map). */
  table: string
  sourceColumn: string
  column: string
  normalize: readonly BlindIndexNormalization[]
  unique: boolean
}

/** `Model.indexField`, the name options use for an index. */
export function blindIndexName(field: Pick<BlindIndexField, 'model' | 'index'>): string {
  return `${field.model}.${field.index}`
}

export function blindIndexFieldsOfModel(model: ModelDescription): BlindIndexField[] {
  return Object.values(model.blindIndexes ?? {}).map((bi) => {
    const source = model.encryptedFields[bi.source]
    if (!source) throw new RangeError(`${model.name}.${bi.name}: source field '${bi.source}' is not encrypted`)
    return {
      model: model.name,
      source: bi.source,
      index: bi.name,
      table: model.table,
      sourceColumn: source.column,
      column: bi.column,
      normalize: [...bi.normalize],
      unique: bi.isUnique,
    }
  })
}

/** Every blind index of the schema. */
export function blindIndexFieldsOf(model: EncryptionModel): BlindIndexField[] {
  return Object.values(model.models).flatMap(blindIndexFieldsOfModel)
}
