/**
 * The description of a schema that the runtime needs, written by the generator (`prisma
 * generate`) so that nothing parses the schema at run time. Plain data: any ORM adapter reads it.
 * Deeply readonly, so that the generated `as const` literal fits these types without a cast.
 */
export type EncryptedFieldType = 'String' | 'Bytes'

export type BlindIndexNormalization = 'lowercase' | 'uppercase' | 'trim' | 'spaces' | 'diacritics'

export interface EncryptedFieldModel {
  /** Field name in the schema. */
  readonly name: string
  /** Column name in the database (after @map). */
  readonly column: string
  readonly type: EncryptedFieldType
  readonly isList: boolean
  readonly isRequired: boolean
  /** Name of the field holding this field's blind index, if it has one. */
  readonly blindIndex?: string
  /**
   * Stored format v2 (short values): the companion field that holds this field's key header (the
   * encrypted data key), so that warm reads need not transfer it. Absent: format v1 (header inline).
   */
  readonly keyHeader?: ColumnRef
}

/** A field and its column. */
export interface ColumnRef {
  readonly name: string
  readonly column: string
}

export interface BlindIndexModel {
  /** Field name of the index column. */
  readonly name: string
  readonly column: string
  /** The encrypted field it indexes. */
  readonly source: string
  /** Normalisations applied, in order, before hashing. */
  readonly normalize: readonly BlindIndexNormalization[]
  readonly isUnique: boolean
}

export interface RelationModel {
  readonly name: string
  /** Model name of the other side. */
  readonly target: string
  readonly isList: boolean
}

export interface ModelDescription {
  readonly name: string
  /** Table name in the database (after @@map). */
  readonly table: string
  /** Primary key field names, in key order. */
  readonly primaryKey: readonly string[]
  /** Primary key column names, in key order. */
  readonly primaryKeyColumns: readonly string[]
  /** Encrypted fields by field name. */
  readonly encryptedFields: Readonly<Record<string, EncryptedFieldModel>>
  /** Blind index fields by field name. */
  readonly blindIndexes: Readonly<Record<string, BlindIndexModel>>
  /** Relation fields by field name. */
  readonly relations: Readonly<Record<string, RelationModel>>
  /**
   * Row-scoped keys (`/// @encryptionScope(tenantId)` on the model): the scalar field whose value is
   * the scope (tenant) of every encrypted value of the row. Never encrypted, required, fixed after create.
   */
  readonly scopeField?: ColumnRef
}

export interface EncryptionModel {
  readonly version: 1
  readonly provider: string
  /**
   * `sha256:<hex>` of the Prisma schema text the model was generated from (see `schemaHashOf`);
   * the Prisma extension refuses a client generated from another schema.
   */
  readonly schemaHash?: string
  /** Models by name, as Prisma names them (`User`). */
  readonly models: Readonly<Record<string, ModelDescription>>
}
