import type { ColumnOperation } from './column-operation'
import type { ColumnTarget } from './column-target'
import type { MigrationProgress } from './migration-progress'
import { ColumnTally, type ColumnSummary } from './migration-summary'
import { CONFLICT } from './row-failure'
import { keyId, type CasWrite, type Shard, type SqlDatabase, type StoredRow } from './sql-database'

export interface ColumnRunOptions {
  batchSize: number
  /** Batches processed and written at once while the next ones are read. */
  concurrency: number
  shard?: Shard
  dryRun: boolean
  /** Compare-and-set attempts per row before it counts as failed (the row kept changing). */
  maxAttempts: number
  progress?: MigrationProgress
  /** When aborted, no further batch is read; batches in flight finish. */
  signal?: AbortSignal
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
export async function runColumn(db: SqlDatabase, target: ColumnTarget, op: ColumnOperation, options: ColumnRunOptions): Promise<ColumnSummary & { interrupted: boolean }> {
  await db.prepare(target)
  await op.prepare?.(target)
  const filter = op.filterFor(target)
  const total = await db.count(target, filter, options.shard)
  const tally = new ColumnTally(target)
  // Rows an earlier (interrupted) run already did are not read again; the display counts them.
  const alreadyDone = options.progress && (filter === 'not-encrypted' || filter === 'encrypted') ? Math.max(0, (await db.count(target, 'present', options.shard)) - total) : 0
  options.progress?.columnStarted(target, total, alreadyDone)

  let done = 0
  let fatal: { error: unknown } | undefined
  const inFlight = new Set<Promise<void>>()

  const processBatch = async (rows: readonly StoredRow[], attempt: number): Promise<void> => {
    const outcomes = await op.process(target, rows)
    const writes: CasWrite[] = []
    const writeAs: string[] = []
    outcomes.forEach((o, i) => {
      if (attempt === 1) tally.note(o.notes)
      if (o.kind === 'skip') tally.count(o.as)
      else if (o.kind === 'fail') tally.fail(o.failure, rows[i]!.key)
      else {
        writes.push({ key: rows[i]!.key, old: rows[i]!.value, value: o.value, ...(o.indexes ? { indexes: o.indexes } : {}) })
        writeAs.push(o.as)
      }
    })
    if (writes.length === 0) return
    if (options.dryRun) {
      for (const as of writeAs) tally.count(as)
      return
    }
    const written = await db.compareAndSet(target, writes)
    const conflicted: Array<readonly string[]> = []
    writes.forEach((w, i) => {
      if (written.has(keyId(w.key))) tally.count(writeAs[i]!)
      else conflicted.push(w.key)
    })
    if (conflicted.length === 0) return
    tally.conflicts += conflicted.length
    if (attempt >= options.maxAttempts) {
      const message = `${target.model}.${target.field}: the value changed ${attempt} times while the migration was writing it; run again`
      for (const key of conflicted) tally.fail({ reason: CONFLICT, message }, key)
      return
    }
    const fresh = await db.readRows(target, conflicted)
    tally.gone += conflicted.length - fresh.length
    if (fresh.length > 0) await processBatch(fresh, attempt + 1)
  }

  let after: string[] | undefined
  try {
    while (!fatal && !options.signal?.aborted) {
      const rows = await db.readBatch(target, filter, after, options.batchSize, options.shard)
      if (rows.length === 0) break
      after = rows[rows.length - 1]!.key
      tally.rows += rows.length
      const task: Promise<void> = processBatch(rows, 1).then(
        () => {
          done += rows.length
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
