import type { ColumnOperation, WriteOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import type { MigrationProgress } from './migration-progress'
import { ColumnTally, type ColumnSummary } from './migration-summary'
import { keyId, type CasWrite, type Shard, type SqlDatabase, type StoredRow } from './sql-database'

export interface ColumnRunOptions {
  batchSize: number
  /** Batches processed and written at once while the next ones are read. */
  concurrency: number
  shard?: Shard
  dryRun: boolean
  /** Compare-and-set attempts per row before it is left to its writer (`KFE_MIGRATION_CONFLICT`). */
  maxAttempts: number
  progress?: MigrationProgress
  /** When aborted, no further batch is read; batches in flight finish. */
  signal?: AbortSignal
  /** Called when a batch (with its retries) is done, with what it did. */
  onBatch?: (batch: BatchReport) => void
  /**
   * Stop at the first row that cannot be processed (an operation's `fail`, or a write the
   * database refuses, found by writing the batch again row by row), throwing a
   * {@link RowFailedError}, instead of counting it and going on.
   */
  stopAtFirstFailure?: boolean
}

/** What one batch did. Each row read is in exactly one of the counts. */
export interface BatchReport {
  /** Rows read. */
  read: number
  /** Rows written (in a dry run: that would be written). */
  written: number
  /** Rows read that needed nothing. */
  unchanged: number
  /** Rows whose value kept changing until `maxAttempts` (left to their writer), or that were deleted meanwhile. */
  lostToWriters: number
  /** Rows that failed. */
  failed: number
}

/** A row that cannot be processed, with `stopAtFirstFailure`. */
export class RowFailedError extends Error {
  constructor(
    readonly target: ColumnTarget,
    /** The row as it was read; `keyValues` is its primary key as the database typed it. */
    readonly row: StoredRow,
    /** The write the database refused, when that is what failed. */
    readonly write: CasWrite | undefined,
    options: { cause: unknown },
  ) {
    super(`${target.model}.${target.field}: a row could not be processed`, options)
    this.name = 'RowFailedError'
  }
}

/**
 * Runs one operation over one column: reads it in primary-key order in batches (keyset
 * pagination: memory stays flat and each read costs the same wherever it is in the table),
 * decides each row, and writes with compare-and-set. A row whose value changed since it was read
 * (an application wrote it) is not overwritten: it is read again and decided again, up to
 * `maxAttempts` times.
 *
 * Nothing is remembered between runs, and nothing needs to be: every write is one atomic
 * statement, and values already done are skipped when read, so a run killed at any moment
 * (even SIGKILL) and started again finishes the job, each value encrypted exactly once.
 */
export async function runColumn(
  db: SqlDatabase,
  target: ColumnTarget,
  op: ColumnOperation,
  options: ColumnRunOptions,
): Promise<ColumnSummary & { interrupted: boolean }> {
  await db.prepare(target)
  await op.prepare?.(target)
  const filter = op.filterFor(target)
  const total = await db.count(target, filter, options.shard)
  const tally = new ColumnTally(target)
  // Rows an earlier (interrupted) run already did are not read again; the display counts them.
  const alreadyDone =
    options.progress && (filter === 'not-encrypted' || filter === 'encrypted')
      ? Math.max(0, (await db.count(target, 'present', options.shard)) - total)
      : 0
  options.progress?.columnStarted(target, total, alreadyDone)

  let done = 0
  let fatal: { error: unknown } | undefined
  const inFlight = new Set<Promise<void>>()

  /** Decides and writes `rows`, retrying conflicts; returns the rows written, lost and failed. */
  const processBatch = async (rows: readonly StoredRow[], attempt: number): Promise<Omit<BatchReport, 'read' | 'unchanged'>> => {
    const outcomes = await op.process(target, rows)
    const writes: Array<{ write: CasWrite; as: WriteOutcome; row: StoredRow }> = []
    const report = { written: 0, lostToWriters: 0, failed: 0 }
    outcomes.forEach((o, i) => {
      const row = rows[i]!
      if (attempt === 1) tally.countIndexStates(o.indexStates)
      if (o.kind === 'skip') tally.count(o.as)
      else if (o.kind === 'fail') {
        if (options.stopAtFirstFailure) throw new RowFailedError(target, row, undefined, { cause: o.error ?? new Error(o.failure.message) })
        tally.fail(o.failure, row.key)
        report.failed++
      } else {
        writes.push({
          write: {
            key: row.key,
            old: row.value,
            value: o.value,
            ...(o.indexes ? { indexes: o.indexes } : {}),
            ...(target.scopeField && typeof row.scope === 'string' ? { scope: row.scope } : {}),
            ...(target.keyHeader ? { keyHeader: keyHeaderWrite(row, o.keyHeader) } : {}),
          },
          as: o.as,
          row,
        })
      }
    })
    if (writes.length === 0) return report
    if (options.dryRun) {
      for (const w of writes) tally.count(w.as)
      report.written += writes.length
      return report
    }
    const written = await compareAndSet(db, target, writes, options.stopAtFirstFailure === true)
    const conflicted: Array<readonly string[]> = []
    for (const w of writes) {
      if (written.has(keyId(w.write.key))) {
        tally.count(w.as)
        report.written++
      } else conflicted.push(w.write.key)
    }
    if (conflicted.length === 0) return report
    tally.conflicts += conflicted.length
    if (attempt >= options.maxAttempts) {
      const message = `${target.model}.${target.field}: the value changed ${attempt} times while the migration was writing it; run again`
      for (const key of conflicted) tally.fail({ reason: 'KFE_MIGRATION_CONFLICT', message }, key)
      report.lostToWriters += conflicted.length
      return report
    }
    const fresh = await db.readRows(target, conflicted)
    tally.gone += conflicted.length - fresh.length
    report.lostToWriters += conflicted.length - fresh.length
    if (fresh.length === 0) return report
    const retried = await processBatch(fresh, attempt + 1)
    return {
      written: report.written + retried.written,
      lostToWriters: report.lostToWriters + retried.lostToWriters,
      failed: report.failed + retried.failed,
    }
  }

  let after: string[] | undefined
  try {
    while (!fatal && !options.signal?.aborted) {
      const rows = await db.readBatch(target, filter, after, options.batchSize, options.shard)
      if (rows.length === 0) break
      after = rows[rows.length - 1]!.key
      tally.rows += rows.length
      const task: Promise<void> = processBatch(rows, 1).then(
        (r) => {
          done += rows.length
          options.onBatch?.({ read: rows.length, ...r, unchanged: rows.length - r.written - r.lostToWriters - r.failed })
          options.progress?.rowsDone(target, done, Math.max(total, tally.rows), tally.failed)
        },
        (error: unknown) => {
          fatal ??= { error }
        },
      )
      inFlight.add(task)
      void task.finally(() => inFlight.delete(task))
      if (inFlight.size >= options.concurrency) await Promise.race(inFlight)
      if (rows.length < options.batchSize) break
    }
  } finally {
    await Promise.allSettled(inFlight)
  }
  if (fatal) throw fatal.error
  const summary = tally.summary()
  options.progress?.columnFinished(target, summary)
  return { ...summary, interrupted: options.signal?.aborted === true }
}

/**
 * One compare-and-set for the batch. With `isolate`, a statement the database refuses (a unique
 * clash) is tried again row by row, to name the row it refuses.
 */
async function compareAndSet(
  db: SqlDatabase,
  target: ColumnTarget,
  writes: ReadonlyArray<{ write: CasWrite; row: StoredRow }>,
  isolate: boolean,
): Promise<Set<string>> {
  try {
    return await db.compareAndSet(
      target,
      writes.map((w) => w.write),
    )
  } catch (error) {
    if (!isolate) throw error
  }
  const written = new Set<string>()
  for (const { write, row } of writes) {
    try {
      for (const k of await db.compareAndSet(target, [write])) written.add(k)
    } catch (cause) {
      throw new RowFailedError(target, row, write, { cause })
    }
  }
  return written
}

/** The key-header part of a row's compare-and-set: the header read, and the one written (the same when the outcome keeps it). */
function keyHeaderWrite(row: StoredRow, written: string | null | undefined): { old: unknown; value: string | null } {
  const old = row.keyHeader ?? null
  return { old, value: written !== undefined ? written : typeof old === 'string' ? old : null }
}
