/**
 * The description of a schema that the runtime needs, written by the generator (`prisma
 * generate`) so that nothing parses the schema at run time. Plain data: any ORM adapter reads it.
 */
export type EncryptedFieldType = 'String' | 'Bytes'

export type BlindIndexNormalization = 'lowercase' | 'uppercase' | 'trim' | 'spaces' | 'diacritics'

export interface EncryptedFieldModel {
  /** Field name in the schema. */
  name: string
  /** Column name in the database (after @map). */
  column: string
  type: EncryptedFieldType
  isList: boolean
  isRequired: boolean
  /** Name of the field holding this field's blind index, if it has one. */
  blindIndex?: string
}

export interface BlindIndexModel {
  /** Field name of the index column. */
  name: string
  column: string
  /** The encrypted field it indexes. */
  source: string
  /** Normalisations applied, in order, before hashing. */
  normalize: BlindIndexNormalization[]
  isUnique: boolean
}

export interface RelationModel {
  name: string
  /** Model name of the other side. */
  target: string
  isList: boolean
}

export interface ModelDescription {
  name: string
  /** Table name in the database (after @@map). */
  table: string
  /** Primary key field names, in key order. */
  primaryKey: string[]
  /** Primary key column names, in key order. */
  primaryKeyColumns: string[]
  /** Encrypted fields by field name. */
  encryptedFields: Record<string, EncryptedFieldModel>
  /** Blind index fields by field name. */
  blindIndexes: Record<string, BlindIndexModel>
  /** Relation fields by field name. */
  relations: Record<string, RelationModel>
}

export interface EncryptionModel {
  version: 1
  provider: string
  /**
   * `sha256:<hex>` of the Prisma schema text the model was generated from (see `schemaHashOf`);
   * the Prisma extension refuses a client generated from another schema.
   */
  schemaHash?: string
  /** Models by name, as Prisma names them (`User`). */
  models: Record<string, ModelDescription>
}
