import type { BlindIndexer } from '../blind-index/blind-indexer'
import { BlindIndexesPerColumn, type ColumnBlindIndexes } from './column-blind-indexes'
import { startBatch, type ColumnOperation, type ColumnOperationName, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import type { RowFilter, StoredRow } from './sql-database'

/** A batch as an operation that writes values and their blind indexes starts it. */
export interface IndexedBatch {
  /** The field, as errors name it. */
  at: { model: string; field: string }
  /** The column's blind indexes (none without an indexer, or for a list or bytes column). */
  indexes: ColumnBlindIndexes
  /** Each row's outcome; the rows that hold NULL are already decided. */
  outcomes: RowOutcome[]
  /** Each row's values as a list (undefined for NULL). */
  elements: Array<unknown[] | undefined>
}

/**
 * What the operations that write values with their blind indexes (`encrypt`, `rotate`) share: the
 * column's blind indexes, loaded once per column in `prepare`, and the start of every batch.
 */
export abstract class IndexWritingOperation implements ColumnOperation {
  abstract readonly name: ColumnOperationName
  private readonly indexes: BlindIndexesPerColumn

  /** `scope`: the scope (tenant) of a run bound to one; every value and index of the run is that scope's. */
  constructor(
    private readonly indexer: BlindIndexer | undefined,
    protected readonly scope?: string,
  ) {
    this.indexes = new BlindIndexesPerColumn(scope)
  }

  abstract filterFor(target: ColumnTarget): RowFilter

  abstract process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]>

  async prepare(target: ColumnTarget): Promise<void> {
    await this.indexes.prepare(this.indexer, target)
  }

  protected startBatch(target: ColumnTarget, rows: readonly StoredRow[]): IndexedBatch {
    return { at: { model: target.model, field: target.field }, indexes: this.indexes.of(target), ...startBatch(target, rows) }
  }
}
