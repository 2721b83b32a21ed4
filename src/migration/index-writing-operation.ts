import type { BlindIndexer } from '../blind-index/blind-indexer'
import { BlindIndexesPerColumn, type ColumnBlindIndexes } from './column-blind-indexes'
import { startBatch, type ColumnOperation, type ColumnOperationName, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { scopesOf, type RunScopes } from './run-scopes'
import type { RowFilter, StoredRow } from './sql-database'

/** A batch as an operation that writes values and their blind indexes starts it. */
export interface IndexedBatch {
  /** The field, as errors name it. */
  at: { model: string; field: string }
  /** The column's blind indexes (none without an indexer, or for a list or bytes column). */
  indexes: ColumnBlindIndexes
  /** Each row's outcome; the rows that hold NULL are already decided. */
  outcomes: RowOutcome[]
  /** Each row's values as a list (undefined for NULL, or a row already decided). */
  elements: Array<unknown[] | undefined>
  /** Each row's scope: its own for a row-scoped model, else the run's (undefined: none). */
  scopes: Array<string | undefined>
}

/**
 * What the operations that write values with their blind indexes (`encrypt`, `rotate`) share: the
 * column's blind indexes, loaded once per column in `prepare`, and the start of every batch.
 */
export abstract class IndexWritingOperation implements ColumnOperation {
  abstract readonly name: ColumnOperationName
  private readonly indexes = new BlindIndexesPerColumn()

  /** `scopes`: the scope each row's values and indexes belong to. */
  constructor(
    private readonly indexer: BlindIndexer | undefined,
    protected readonly scopes: RunScopes,
  ) {}

  abstract filterFor(target: ColumnTarget): RowFilter

  abstract process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]>

  async prepare(target: ColumnTarget): Promise<void> {
    await this.indexes.prepare(this.indexer, target)
  }

  protected startBatch(target: ColumnTarget, rows: readonly StoredRow[]): IndexedBatch {
    const batch = startBatch(target, rows)
    return {
      at: { model: target.model, field: target.field },
      indexes: this.indexes.of(target),
      ...batch,
      scopes: scopesOf(this.scopes, target, rows, batch),
    }
  }
}
