import type { ColumnTarget } from './column-target'
import type { ColumnSummary } from './migration-summary'

/**
 * Progress of a run, column by column, for a display (the CLI's progress bars or log lines) or
 * for metrics. Called in order: started, then done counts as batches complete, then finished.
 */
export interface MigrationProgress {
  /**
   * `total` is the number of rows the column will read (counted at the start; rows added meanwhile
   * are read too). `alreadyDone`: non-NULL rows not read because they are already in the target
   * state (done by an earlier, interrupted run, or by the application), for a display of the whole column.
   */
  columnStarted(target: ColumnTarget, total: number, alreadyDone?: number): void
  /** `done` rows of the column are processed so far (written, skipped or failed). */
  rowsDone(target: ColumnTarget, done: number, total: number, failed: number): void
  columnFinished(target: ColumnTarget, summary: ColumnSummary): void
}
