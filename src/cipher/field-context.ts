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
}

export function fieldContext(model: string, field: string, table: string, column: string, kind: ValueKind = 'text'): FieldContext {
  return { model, field, table, column, kind, aadSuffix: fieldAadSuffix(table, column) }
}
