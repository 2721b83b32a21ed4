import type { ColumnTarget } from './column-target'
import { failureOf, type RowFailure } from './row-failure'
import type { RowFilter, StoredRow } from './sql-database'

/**
 * What one operation (encrypt, rotate, decrypt, status) decides for one row it read:
 * - `write`: store `value` (and blind index values) if the row still holds what was read;
 * - `skip`: nothing to do, counted as `as` (`null`, `current`...);
 * - `fail`: the row cannot be processed (`failure.reason` is a stable code).
 * `notes` are extra counters (blind index states in `status`).
 */
export type RowOutcome =
  | { kind: 'write'; value: unknown; indexes?: Record<string, unknown>; as: string; notes?: string[] }
  | { kind: 'skip'; as: string; notes?: string[] }
  | { kind: 'fail'; failure: RowFailure; notes?: string[] }

export type OperationName = 'encrypt' | 'rotate' | 'decrypt' | 'status'

export interface ColumnOperation {
  readonly name: OperationName
  /** Which rows to read for this column. */
  filterFor(target: ColumnTarget): RowFilter
  /** Loads what the operation needs for this column (blind index keys...). Throws when it cannot run at all. */
  prepare?(target: ColumnTarget): Promise<void>
  /** Decides every row of a batch. Throws only for failures that must stop the run (see `isFatal`). */
  process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]>
}

export function skip(as: string, notes?: string[]): RowOutcome {
  return notes ? { kind: 'skip', as, notes } : { kind: 'skip', as }
}

export function fail(err: unknown, notes?: string[]): RowOutcome {
  return notes ? { kind: 'fail', failure: failureOf(err), notes } : { kind: 'fail', failure: failureOf(err) }
}

/** The values of a row's column as a list: a scalar is a list of one; NULL (or a non-list in a list column) is undefined. */
export function elementsOf(target: ColumnTarget, value: unknown): unknown[] | undefined {
  if (value === null || value === undefined) return undefined
  if (target.isList) return Array.isArray(value) ? [...value] : undefined
  return [value]
}

/** The column value for a list of elements (the inverse of `elementsOf`). */
export function valueOf(target: ColumnTarget, elements: unknown[]): unknown {
  return target.isList ? elements : elements[0]
}
