import { fieldAadSuffix } from './associated-data'

/**
 * Where a value lives: the model and field (for messages), the database table and column
 * (after @map/@@map) that the cipher binds the value to, and whether the field holds text or
 * bytes. Built once per field, not per value.
 */
export type ValueKind = 'text' | 'bytes'

export interface FieldContext {
  model: string
  field: string
  table: string
  column: string
  kind: ValueKind
  /** Additional authenticated data suffix: "table" 0x00 "column". */
  aadSuffix: Buffer
  /**
   * Whether new values of this field are written in the short form (format version 2, with the
   * key header in a companion column): such values are sealed by `encryptManyWithKeyHeaders`.
   */
  shortForm?: boolean
}

export function fieldContext(
  model: string,
  field: string,
  table: string,
  column: string,
  kind: ValueKind = 'text',
  shortForm = false,
): FieldContext {
  const ctx: FieldContext = { model, field, table, column, kind, aadSuffix: fieldAadSuffix(table, column) }
  if (shortForm) ctx.shortForm = true
  return ctx
}
