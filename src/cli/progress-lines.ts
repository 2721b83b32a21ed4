import type { ColumnTarget } from '../migration/column-target'
import type { MigrationProgress } from '../migration/migration-progress'
import type { ColumnSummary } from '../migration/migration-summary'

/**
 * Progress as plain log lines, for logs and pipes (no terminal): one line when a column starts,
 * one every `intervalMs` while it runs (rows done, rate, ETA), one when it ends.
 */
export class ProgressLines implements MigrationProgress {
  private readonly columns = new Map<ColumnTarget, { started: number; lastLine: number; alreadyDone: number }>()

  constructor(
    private readonly operation: string,
    private readonly write: (line: string) => void,
    private readonly intervalMs = 2000,
  ) {}

  columnStarted(target: ColumnTarget, total: number, alreadyDone = 0): void {
    const now = performance.now()
    this.columns.set(target, { started: now, lastLine: now, alreadyDone })
    this.write(
      `[${this.operation}] ${name(target)}: ${total} rows to read${alreadyDone > 0 ? ` (${alreadyDone} already done, of ${alreadyDone + total})` : ''}`,
    )
  }

  rowsDone(target: ColumnTarget, done: number, total: number, failed: number): void {
    const c = this.columns.get(target)
    if (!c) return
    const now = performance.now()
    if (now - c.lastLine < this.intervalMs) return
    c.lastLine = now
    const seconds = (now - c.started) / 1000
    const rate = seconds > 0 ? done / seconds : 0
    const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0
    const whole = c.alreadyDone + total
    const pct = whole > 0 ? Math.floor((100 * (c.alreadyDone + done)) / whole) : 100
    this.write(
      `[${this.operation}] ${name(target)}: ${c.alreadyDone + done}/${whole} rows (${pct}%), ${Math.round(rate)} rows/s, ETA ${formatSeconds(eta)}, ${failed} failed`,
    )
  }

  columnFinished(target: ColumnTarget, summary: ColumnSummary): void {
    const counts = Object.entries(summary.counts).map(([k, v]) => `${k} ${v}`)
    if (summary.failed) counts.push(`failed ${summary.failed}`)
    if (summary.conflicts) counts.push(`conflicts retried ${summary.conflicts}`)
    this.write(
      `[${this.operation}] ${name(target)}: done, ${summary.rows} rows in ${formatSeconds(summary.durationMs / 1000)}${counts.length ? ` (${counts.join(', ')})` : ''}`,
    )
  }
}

function name(target: ColumnTarget): string {
  return `${target.model}.${target.field}`
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`
  const m = Math.floor(seconds / 60)
  const s = Math.round(seconds % 60)
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}
