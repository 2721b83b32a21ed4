import { MultiBar, Presets, type SingleBar } from 'cli-progress'
import type { ColumnTarget } from '../migration/column-target'
import type { MigrationProgress } from '../migration/migration-progress'
import type { ColumnSummary } from '../migration/migration-summary'

/** One progress bar per column (cli-progress), for a terminal: rows done, rate, ETA, failures. */
export class ProgressBars implements MigrationProgress {
  private readonly multibar: MultiBar
  private readonly bars = new Map<ColumnTarget, { bar: SingleBar; started: number }>()

  constructor(
    private readonly operation: string,
    stream: NodeJS.WriteStream,
  ) {
    this.multibar = new MultiBar(
      {
        stream,
        format: ' {column} |{bar}| {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted} | {failed} failed',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        etaBuffer: 20,
        fps: 5,
        autopadding: true,
      },
      Presets.shades_classic,
    )
  }

  columnStarted(target: ColumnTarget, total: number): void {
    const bar = this.multibar.create(Math.max(total, 1), 0, { column: label(this.operation, target), rate: 0, failed: 0 })
    this.bars.set(target, { bar, started: performance.now() })
  }

  rowsDone(target: ColumnTarget, done: number, total: number, failed: number): void {
    const b = this.bars.get(target)
    if (!b) return
    if (total > b.bar.getTotal()) b.bar.setTotal(total)
    const seconds = (performance.now() - b.started) / 1000
    b.bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds) : 0, failed })
  }

  columnFinished(target: ColumnTarget, summary: ColumnSummary): void {
    const b = this.bars.get(target)
    if (!b) return
    b.bar.setTotal(Math.max(summary.rows, 1))
    const seconds = summary.durationMs / 1000
    b.bar.update(summary.rows, { rate: seconds > 0 ? Math.round(summary.rows / seconds) : summary.rows, failed: summary.failed })
  }

  stop(): void {
    this.multibar.stop()
  }
}

function label(operation: string, target: ColumnTarget): string {
  return `${operation} ${target.model}.${target.field}`.padEnd(32)
}
