import type { ReadPlaintextOption } from '../engine/plaintext-scope'
import { EnvelopeEncryptor, type EncryptorOptions } from '../engine/envelope-encryptor'
import { BlindIndexRecomputeError, ConfigurationError } from '../errors'
import type { EncryptionModel, ModelDescription } from '../model/encryption-model'
import { ColumnBlindIndexes } from '../migration/column-blind-indexes'
import type { ColumnOperation, RowOutcome } from '../migration/column-operation'
import { runColumn } from '../migration/column-runner'
import { columnTargets, type ColumnTarget } from '../migration/column-target'
import { DataKeyCurrency } from '../migration/data-key-currency'
import { PostgresDatabase } from '../migration/postgres-database'
import { RotateOperation } from '../migration/rotate-operation'
import { keyId, type CasWrite, type SqlDatabase, type StoredRow } from '../migration/sql-database'
import { blindIndexFieldsOfModel } from './blind-index-field'
import { BlindIndexer, type BlindIndexOptions } from './blind-indexer'
import type { SqlExecutor } from './sql-executor'

export interface RecomputeBlindIndexesOptions {
  /** Runs SQL on the database (see SqlExecutor for one-line adapters of pg, PGlite and Prisma). */
  db: SqlExecutor
  /** The `encryptionModel` that `prisma generate` wrote. */
  encryptionModel: EncryptionModel | { readonly version: 1; readonly models: object }
  /** The Prisma model whose indexes to recompute (`User`). */
  model: string
  /** Only these index fields of the model (default: all of them). */
  indexes?: readonly string[]
  /** Schema holding the table (default: the connection's search_path). */
  schema?: string
  /** Decrypts the source fields: an encryptor, or the key providers to make one. */
  encryptor?: EnvelopeEncryptor
  keys?: EncryptorOptions['keys']
  /** Pass plaintext sources through (a column that is being encrypted). Only with `keys`. */
  readPlaintext?: ReadPlaintextOption
  /** The index configuration the application now runs with (the current version is written). */
  indexer?: BlindIndexer
  blindIndex?: BlindIndexOptions
  /** Rows per batch (default 500). */
  batchSize?: number
  /**
   * Check every row (decrypt and compare), not only the rows whose index is missing or not on the
   * current version. Use it after changing a schema's normalisation without a version bump.
   */
  all?: boolean
  /** Count what would change; write nothing. */
  dryRun?: boolean
  onProgress?: (progress: RecomputeProgress) => void
  /** Stops between batches (the work done so far stays; run again to resume). */
  signal?: AbortSignal
}

export interface RecomputeProgress {
  model: string
  /** Rows read so far. */
  scanned: number
  /** Rows whose index was (or, in a dry run, would be) rewritten. */
  updated: number
  /** Rows read whose index was already right. */
  unchanged: number
  /** Rows changed by someone else between read and write (their writer set the index). */
  skipped: number
}

export type RecomputeResult = RecomputeProgress

/**
 * Recomputes the blind indexes of one model with the current index version: after a change of
 * normalisation or of the root key (a new version, the old one kept in `previous` so filters
 * still find rows meanwhile), or to fill indexes of rows written without the extension.
 *
 * Runs the migration's `rotate --blind-indexes` over the model's indexed columns, one batch at a
 * time: keyset pagination on the primary key, by default reading only rows whose index is
 * missing, stray or on another version (so an interrupted run resumes where it stopped), and
 * compare-and-set writes (a row an application changed meanwhile is left to its writer). Unlike
 * the migration, it stops at the first row it cannot recompute and names it
 * (`BlindIndexRecomputeError`). Knows nothing of Prisma; PostgreSQL only for now.
 */
export async function recomputeBlindIndexes(options: RecomputeBlindIndexesOptions): Promise<RecomputeResult> {
  const model = findModel(options)
  const provider = (options.encryptionModel as EncryptionModel).provider ?? 'postgresql'
  if (!['postgresql', 'postgres', 'cockroachdb'].includes(provider)) throw new ConfigurationError(`recomputeBlindIndexes: the ${provider} provider is not supported yet`)
  if (model.primaryKeyColumns.length === 0) throw new ConfigurationError(`${model.name}: the model has no primary key; recompute pages by it`)
  const names = blindIndexFieldsOfModel(model).map((f) => f.index)
  for (const name of options.indexes ?? []) {
    if (!names.includes(name)) throw new ConfigurationError(`${model.name}.${name} is not a blind index (indexes: ${names.join(', ') || 'none'})`)
  }
  const wanted = options.indexes?.length ? options.indexes : names
  const targets = columnTargets(options.encryptionModel as EncryptionModel, { models: [model.name] })
    .map((t) => ({ ...t, blindIndexes: t.blindIndexes.filter((b) => wanted.includes(b.name)) }))
    .filter((t) => t.blindIndexes.length > 0)
  if (targets.length === 0) throw new ConfigurationError(`${model.name} has no blind index`)
  const batchSize = options.batchSize ?? 500
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigurationError('batchSize must be a positive integer')

  const encryptor = options.encryptor ?? (options.keys ? new EnvelopeEncryptor({ keys: options.keys, readPlaintext: options.readPlaintext }) : undefined)
  if (!encryptor) throw new ConfigurationError('recomputeBlindIndexes needs `encryptor` or `keys` to decrypt the source fields')
  const indexer = options.indexer ?? new BlindIndexer(blindIndexFieldsOfModel(model), {
    ...options.blindIndex,
    rootKey: options.blindIndex?.rootKey ?? encryptor.keyRing.primary,
    onEvent: encryptor.onEvent,
  })
  await indexer.load()

  const progress: RecomputeProgress = { model: model.name, scanned: 0, updated: 0, unchanged: 0, skipped: 0 }
  const postgres = new PostgresDatabase({ query: (sql, params) => options.db.query(sql, params), end: async () => {} }, 'recomputeBlindIndexes', 1, options.schema)
  const primaryKeyOf = (target: ColumnTarget, key: readonly string[]) =>
    Object.fromEntries(model.primaryKey.map((name, i) => [name, /^(integer|smallint)$/.test(postgres.typeOf(target, target.primaryKey[i]!)) ? Number(key[i]) : key[i]]))
  const run: RecomputeRun = { encryptor, indexer, all: options.all ?? false, dryRun: options.dryRun ?? false, progress, primaryKeyOf }
  const db = new RecomputeDatabase(postgres, run)
  const op = new RecomputeOperation(new RotateOperation(encryptor, new DataKeyCurrency(encryptor.keyRing), indexer, { indexesOnly: true, verifyIndexes: run.all }), run)
  for (const target of targets) {
    const column = await runColumn(db, target, op, {
      batchSize,
      concurrency: 1,
      dryRun: run.dryRun,
      maxAttempts: 1, // a row changed meanwhile is its writer's: counted as skipped, not retried
      signal: options.signal,
      progress: { columnStarted() {}, columnFinished() {}, rowsDone: () => options.onProgress?.({ ...progress }) },
    })
    if (column.interrupted) throw options.signal?.reason ?? new Error('recomputeBlindIndexes was aborted')
  }
  return progress
}

/** What the operation and the database wrapper of one recompute share. */
interface RecomputeRun {
  encryptor: EnvelopeEncryptor
  indexer: BlindIndexer
  all: boolean
  dryRun: boolean
  progress: RecomputeProgress
  /** A row's primary key by field name, typed as the application sees it (integers as numbers). */
  primaryKeyOf(target: ColumnTarget, key: readonly string[]): Record<string, unknown>
}

/**
 * Rotate with indexes only, narrowed to what recompute does: reads the rows whose indexes need
 * work (every row with `all`), clears indexes set on a NULL value, indexes plaintext values when
 * the encryptor reads plaintext, counts, and throws for the first row that fails.
 */
class RecomputeOperation implements ColumnOperation {
  readonly name = 'rotate'
  private readonly indexes = new Map<ColumnTarget, ColumnBlindIndexes>()

  constructor(
    private readonly rotate: RotateOperation,
    private readonly run: RecomputeRun,
  ) {}

  filterFor() {
    return this.run.all ? ('all' as const) : { indexesNotOnVersion: this.run.indexer.version }
  }

  async prepare(target: ColumnTarget): Promise<void> {
    await this.rotate.prepare(target)
    this.indexes.set(target, new ColumnBlindIndexes(this.run.indexer, target))
  }

  async process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]> {
    const indexes = this.indexes.get(target)!
    const { encryptor, progress } = this.run
    const outcomes = await this.rotate.process(target, rows)
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!
      const o = outcomes[r]!
      if (o.kind === 'fail') {
        const cause = await encryptor.decryptMany([{ value: row.value, ctx: target.ctx }]).then(() => new Error(o.failure.message), (e: unknown) => e)
        throw new BlindIndexRecomputeError({ model: target.model, field: target.field }, this.run.primaryKeyOf(target, row.key), { cause })
      }
      if (o.kind === 'skip' && o.as === 'null') {
        const stray = indexes.fields.filter((f) => row.indexes[f.column] !== null && row.indexes[f.column] !== undefined)
        if (stray.length > 0) outcomes[r] = { kind: 'write', value: row.value, as: 'reindexed', indexes: Object.fromEntries(stray.map((f) => [f.column, null])) }
      } else if (o.kind === 'skip' && o.as === 'plaintext' && encryptor.readsPlaintext(target.ctx) && typeof row.value === 'string') {
        const fresh = Object.entries(indexes.compute(row.value)).filter(([column, value]) => row.indexes[column] !== value)
        if (fresh.length > 0) outcomes[r] = { kind: 'write', value: row.value, as: 'reindexed', indexes: Object.fromEntries(fresh) }
      }
      progress.scanned++
      if (outcomes[r]!.kind !== 'write') progress.unchanged++
      else if (this.run.dryRun) progress.updated++
    }
    return outcomes
  }
}

/** The PostgreSQL database, counting what compare-and-set wrote and naming a row whose write fails. */
class RecomputeDatabase implements SqlDatabase {
  readonly dialect: string
  readonly description: string
  readonly maxConcurrency = 1

  constructor(
    private readonly db: PostgresDatabase,
    private readonly run: RecomputeRun,
  ) {
    this.dialect = db.dialect
    this.description = db.description
  }

  prepare: SqlDatabase['prepare'] = (target) => this.db.prepare(target)
  count: SqlDatabase['count'] = (target, filter, shard) => this.db.count(target, filter, shard)
  readBatch: SqlDatabase['readBatch'] = (target, filter, after, limit, shard) => this.db.readBatch(target, filter, after, limit, shard)
  readRows: SqlDatabase['readRows'] = (target, keys) => this.db.readRows(target, keys)
  close: SqlDatabase['close'] = () => this.db.close()

  async compareAndSet(target: ColumnTarget, writes: readonly CasWrite[]): Promise<Set<string>> {
    let written: Set<string>
    try {
      written = await this.db.compareAndSet(target, writes)
    } catch {
      // One row broke the batch (a unique clash between versions): write row by row to name it.
      written = new Set()
      for (const w of writes) {
        try {
          for (const k of await this.db.compareAndSet(target, [w])) written.add(k)
        } catch (cause) {
          const column = Object.keys(w.indexes ?? {})[0]
          const index = target.blindIndexes.find((b) => b.column === column)?.name ?? target.field
          throw new BlindIndexRecomputeError({ model: target.model, field: index }, this.run.primaryKeyOf(target, w.key), { cause })
        }
      }
    }
    this.run.progress.updated += writes.filter((w) => written.has(keyId(w.key))).length
    this.run.progress.skipped += writes.filter((w) => !written.has(keyId(w.key))).length
    return written
  }
}

function findModel(options: RecomputeBlindIndexesOptions): ModelDescription {
  const models = (options.encryptionModel as EncryptionModel).models
  const model = models[options.model] ?? Object.values(models).find((m) => m.name.toLowerCase() === options.model.toLowerCase())
  if (!model) throw new ConfigurationError(`recomputeBlindIndexes: no model '${options.model}' in the encryption model`)
  return model
}
