import type { ColumnTarget } from './column-target'
import { failureOf, type RowFailure } from './row-failure'
import type { RowFilter, StoredRow } from './sql-database'

/** What a written row counts as, per operation. */
export const WRITE_OUTCOMES = [
  'encrypted',
  'converted from prisma-field-encryption',
  'rewrapped',
  'reencrypted',
  'reindexed',
  'decrypted',
  'decrypted (written without a scope)',
] as const
export type WriteOutcome = (typeof WRITE_OUTCOMES)[number]

/**
 * What a row left alone counts as: `null` (NULL or an empty list), `already encrypted`
 * (`encrypt`), `plaintext` (`rotate`, `decrypt`), `outside scope` (`rotate` with a scope: a value
 * written without a scope, left alone without `adoptUnscoped`), and in `status` the state of its
 * value (`plaintext`, `prisma-field-encryption`, `current`, `older`).
 */
export type SkipOutcome = 'null' | 'already encrypted' | 'plaintext' | 'outside scope' | 'prisma-field-encryption' | 'current' | 'older'

export type OutcomeName = WriteOutcome | SkipOutcome

/** Where one blind index of one row stands (`status`). */
export type IndexState = 'current' | 'stale' | 'missing'

/** One blind index of a row and its state. */
export interface IndexStateOfRow {
  /** The index field. */
  index: string
  state: IndexState
}

/**
 * What one operation (encrypt, rotate, decrypt, status, recompute) decides for one row it read:
 * - `write`: store `value` (and blind index values, and its key header) if the row still holds what was read;
 * - `skip`: nothing to do, counted as `as`;
 * - `fail`: the row cannot be processed (`failure.reason` is a stable code; `error`, when there
 *   is one, the error that said so).
 * `indexStates`: where the row's blind indexes stand (reported by `status`).
 */
export type RowOutcome =
  | {
      kind: 'write'
      value: unknown
      indexes?: Record<string, unknown>
      /** A target with a key-header column: the key header written with `value` (null: NULL); absent: kept as read. */
      keyHeader?: string | null
      as: WriteOutcome
      indexStates?: IndexStateOfRow[]
    }
  | { kind: 'skip'; as: SkipOutcome; indexStates?: IndexStateOfRow[] }
  | { kind: 'fail'; failure: RowFailure; error?: unknown; indexStates?: IndexStateOfRow[] }

/** The migration commands. */
export type OperationName = 'encrypt' | 'rotate' | 'decrypt' | 'status'

/** Every column operation: the commands, and `recompute` (`recomputeBlindIndexes`). */
export type ColumnOperationName = OperationName | 'recompute'

export interface ColumnOperation {
  readonly name: ColumnOperationName
  /** Which rows to read for this column. */
  filterFor(target: ColumnTarget): RowFilter
  /** Loads what the operation needs for this column (blind index keys...). Throws when it cannot run at all. */
  prepare?(target: ColumnTarget): Promise<void>
  /** Decides every row of a batch. Throws only for failures that must stop the run (see `isFatal`). */
  process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]>
}

export function skip(as: SkipOutcome, indexStates?: IndexStateOfRow[]): RowOutcome {
  return indexStates ? { kind: 'skip', as, indexStates } : { kind: 'skip', as }
}

export function fail(error: unknown): RowOutcome {
  return { kind: 'fail', failure: failureOf(error), error }
}

/**
 * How every operation starts a batch: each row's values as a list (`elementsOf`), and the
 * outcomes, with the rows that hold NULL already decided (`skip` as `null`).
 */
export function startBatch(
  target: ColumnTarget,
  rows: readonly StoredRow[],
): { outcomes: RowOutcome[]; elements: Array<unknown[] | undefined> } {
  const outcomes: RowOutcome[] = new Array(rows.length)
  const elements = rows.map((row, r) => {
    const els = elementsOf(target, row.value)
    if (!els) outcomes[r] = skip('null')
    return els
  })
  return { outcomes, elements }
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
