import type { OperationName } from './column-operation'
import type { ColumnTarget } from './column-target'
import type { RowFailure } from './row-failure'

/** Rows that failed for one reason. */
export interface FailureClass {
  /** Stable code: the library's error code (`KFE_DECRYPTION_FAILED`...) or a migration code. */
  reason: string
  count: number
  /** The first message seen for this reason (names model and field, never a value). */
  message: string
  /** Primary keys (as text) of the first few rows, to look at them. */
  sampleKeys: string[][]
}

/** What happened to one column. */
export interface ColumnSummary {
  model: string
  field: string
  table: string
  column: string
  /** Rows read (each row once, however often it was retried). */
  rows: number
  /** Rows by outcome: `encrypted`, `already encrypted`, `rewrapped`, `current`, `null`... (in a dry run: what would be done). */
  counts: Record<string, number>
  /** Extra counters, e.g. `index emailHash: missing` in `status`. */
  notes: Record<string, number>
  /** Rows that could not be processed, by reason. */
  failures: FailureClass[]
  failed: number
  /** Compare-and-set writes that found the value changed by someone else (each re-read and retried). */
  conflicts: number
  /** Rows deleted while the migration ran (found gone on a retry). */
  gone: number
  durationMs: number
}

export interface MigrationSummary {
  operation: OperationName
  dryRun: boolean
  /** The database, as described by its driver (no password). */
  database: string
  /** `k/n` when the run covered one shard of the key space. */
  shard?: string
  columns: ColumnSummary[]
  /** Rows written (in a dry run: rows that would be written). */
  written: number
  failed: number
  /** Stopped early (signal): run it again to finish. */
  interrupted: boolean
  /** Nothing failed and the run was not interrupted. */
  ok: boolean
  durationMs: number
}

/** Outcome classes that are writes, per operation (to total `written`). */
export const WRITE_OUTCOMES = new Set(['encrypted', 'converted from prisma-field-encryption', 'rewrapped', 'reencrypted', 'reindexed', 'decrypted'])

const SAMPLE_KEYS = 3

/** Counts of one column, filled as batches complete. */
export class ColumnTally {
  rows = 0
  conflicts = 0
  gone = 0
  readonly counts: Record<string, number> = {}
  readonly notes: Record<string, number> = {}
  private readonly failures = new Map<string, FailureClass>()
  private readonly started = performance.now()

  constructor(private readonly target: ColumnTarget) {}

  count(as: string, n = 1): void {
    this.counts[as] = (this.counts[as] ?? 0) + n
  }

  note(notes: readonly string[] | undefined): void {
    for (const n of notes ?? []) this.notes[n] = (this.notes[n] ?? 0) + 1
  }

  fail(failure: RowFailure, key: readonly string[]): void {
    let f = this.failures.get(failure.reason)
    if (!f) this.failures.set(failure.reason, (f = { reason: failure.reason, count: 0, message: failure.message, sampleKeys: [] }))
    f.count++
    if (f.sampleKeys.length < SAMPLE_KEYS) f.sampleKeys.push([...key])
  }

  get failed(): number {
    let n = 0
    for (const f of this.failures.values()) n += f.count
    return n
  }

  get written(): number {
    let n = 0
    for (const [k, v] of Object.entries(this.counts)) if (WRITE_OUTCOMES.has(k)) n += v
    return n
  }

  summary(): ColumnSummary {
    const t = this.target
    return {
      model: t.model,
      field: t.field,
      table: t.table,
      column: t.column,
      rows: this.rows,
      counts: { ...this.counts },
      notes: { ...this.notes },
      failures: [...this.failures.values()].map((f) => ({ ...f, sampleKeys: f.sampleKeys.map((k) => [...k]) })),
      failed: this.failed,
      conflicts: this.conflicts,
      gone: this.gone,
      durationMs: Math.round(performance.now() - this.started),
    }
  }
}
