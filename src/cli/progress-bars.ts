import { MultiBar, type SingleBar } from 'cli-progress'
import type { ColumnTarget } from '../migration/column-target'
import type { MigrationProgress } from '../migration/migration-progress'
import type { ColumnSummary } from '../migration/migration-summary'
import { formatProgressLine } from './progress-format'

interface BarPayload {
  label: string
  /** Rows of this column done by an earlier run (shown as done, not counted in the rate). */
  alreadyDone: number
  started: number
  failed: number
  rate: number
  finished: boolean
}

/**
 * One progress line per column (cli-progress), for a terminal. Each line fits the terminal's
 * width (read at every redraw): rows, percentage, rate and ETA first, then a bar in the room left.
 * After an interrupted run, the rows it already did count as done, so the total is the column's.
 */
export class ProgressBars implements MigrationProgress {
  private readonly multibar: MultiBar
  private readonly bars = new Map<ColumnTarget, { bar: SingleBar; payload: BarPayload }>()

  constructor(
    private readonly operation: string,
    private readonly stream: NodeJS.WriteStream,
  ) {
    this.multibar = new MultiBar({
      stream,
      format: (_options, params, payload: BarPayload) => this.render(params.value, params.total, payload),
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      linewrap: false,
      fps: 5,
    })
  }

  columnStarted(target: ColumnTarget, total: number, alreadyDone = 0): void {
    const payload: BarPayload = {
      label: `${this.operation} ${target.model}.${target.field}`,
      alreadyDone,
      started: performance.now(),
      failed: 0,
      rate: 0,
      finished: false,
    }
    const bar = this.multibar.create(Math.max(alreadyDone + total, 1), alreadyDone, payload)
    this.bars.set(target, { bar, payload })
  }

  rowsDone(target: ColumnTarget, done: number, total: number, failed: number): void {
    const b = this.bars.get(target)
    if (!b) return
    const whole = b.payload.alreadyDone + total
    if (whole > b.bar.getTotal()) b.bar.setTotal(whole)
    const seconds = (performance.now() - b.payload.started) / 1000
    b.bar.update(b.payload.alreadyDone + done, { ...b.payload, rate: seconds > 0 ? done / seconds : 0, failed })
  }

  columnFinished(target: ColumnTarget, summary: ColumnSummary): void {
    const b = this.bars.get(target)
    if (!b) return
    const done = b.payload.alreadyDone + summary.rows
    // Only grow the total (rows added meanwhile): an interrupted column keeps its real total.
    if (done > b.bar.getTotal()) b.bar.setTotal(done)
    const seconds = summary.durationMs / 1000
    b.bar.update(done, { ...b.payload, rate: seconds > 0 ? summary.rows / seconds : summary.rows, failed: summary.failed, finished: true })
  }

  stop(): void {
    this.multibar.stop()
  }

  private render(value: number, total: number, p: BarPayload): string {
    const fresh = value - p.alreadyDone
    const left = Math.max(0, total - value)
    const eta = p.finished || left === 0 ? 0 : p.rate > 0 && fresh > 0 ? left / p.rate : undefined
    return formatProgressLine(
      { label: p.label, done: value, total, rate: p.rate, etaSeconds: eta, failed: p.failed },
      this.stream.columns || 80,
    )
  }
}
