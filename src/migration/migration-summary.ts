import type { ErrorCode } from '../errors'
import { WRITE_OUTCOMES, type ColumnOperationName, type IndexState, type IndexStateOfRow, type OutcomeName } from './column-operation'
import type { ColumnTarget } from './column-target'
import type { BlindIndexRootKeyState } from './root-key-currency'
import type { RowFailure } from './row-failure'

/** Rows that failed for one reason. */
export interface FailureClass {
  /** Stable code: the library's error code (`KFE_DECRYPTION_FAILED`...) or a migration code. */
  reason: ErrorCode
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
  /**
   * Rows by outcome (an {@link OutcomeName}: `encrypted`, `already encrypted`, `rewrapped`,
   * `current`, `null`...; in a dry run: what would be done).
   */
  counts: Record<string, number>
  /** Rows by blind index and state (`status`), e.g. `{ emailIndex: { current: 3, stale: 0, missing: 1 } }`. */
  indexStates: Record<string, Record<IndexState, number>>
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
  operation: ColumnOperationName
  dryRun: boolean
  /** The database, as described by its driver (no password). */
  database: string
  /** `k/n` when the run covered one shard of the key space. */
  /** The scope (tenant) the run was bound to (`--scope`). */
  scope?: string
  shard?: string
  columns: ColumnSummary[]
  /** Rows written (in a dry run: rows that would be written). */
  written: number
  failed: number
  /** Stopped early (signal): run it again to finish. */
  interrupted: boolean
  /** Nothing failed (no row, nor the re-wrap of the blind-index root key) and the run was not interrupted. */
  ok: boolean
  /**
   * `rotate` and `status` on a schema with blind indexes, when the root key is one a key
   * provider keeps wrapped (AWS KMS): whether it is wrapped under the current key, and if not,
   * the re-wrapped value to deploy.
   */
  blindIndexRootKey?: BlindIndexRootKeyState
  durationMs: number
}

const WRITES: ReadonlySet<string> = new Set(WRITE_OUTCOMES)

/** Rows written (in a dry run: that would be written) among these counts. */
export function writtenOf(counts: Readonly<Record<string, number>>): number {
  let n = 0
  for (const [k, v] of Object.entries(counts)) if (WRITES.has(k)) n += v
  return n
}

const SAMPLE_KEYS = 3

/** Counts of one column, filled as batches complete. */
export class ColumnTally {
  rows = 0
  conflicts = 0
  gone = 0
  readonly counts: Record<string, number> = {}
  readonly indexStates: Record<string, Record<IndexState, number>> = {}
  private readonly failures = new Map<string, FailureClass>()
  private readonly started = performance.now()

  constructor(private readonly target: ColumnTarget) {}

  count(as: OutcomeName, n = 1): void {
    this.counts[as] = (this.counts[as] ?? 0) + n
  }

  countIndexStates(states: readonly IndexStateOfRow[] | undefined): void {
    for (const { index, state } of states ?? []) (this.indexStates[index] ??= { current: 0, stale: 0, missing: 0 })[state]++
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

  summary(): ColumnSummary {
    const t = this.target
    return {
      model: t.model,
      field: t.field,
      table: t.table,
      column: t.column,
      rows: this.rows,
      counts: { ...this.counts },
      indexStates: Object.fromEntries(Object.entries(this.indexStates).map(([k, v]) => [k, { ...v }])),
      failures: [...this.failures.values()].map((f) => ({ ...f, sampleKeys: f.sampleKeys.map((k) => [...k]) })),
      failed: this.failed,
      conflicts: this.conflicts,
      gone: this.gone,
      durationMs: Math.round(performance.now() - this.started),
    }
  }
}
