import type { EncryptorOptions } from '../engine/envelope-encryptor'
import type { ReadPlaintextOption } from '../engine/plaintext-scope'
import { checkScopeKeys, encryptorOf, type KeyOptions, type KeysOrEncryptor } from '../engine/keys-or-encryptor'
import { blindIndexFieldsOfModel } from '../blind-index/blind-index-field'
import { BlindIndexer, withDefaultRootKey, type BlindIndexOptions } from '../blind-index/blind-indexer'
import { BlindIndexRecomputeError, ConfigurationError } from '../errors'
import { checkScope } from '../keys/scope-keys'
import type { EncryptionModel, ModelDescription } from '../model/encryption-model'
import { positiveInteger } from '../option-checks'
import { RowFailedError, runColumn } from './column-runner'
import { columnTargets, type ColumnTarget } from './column-target'
import { openDatabase } from './open-database'
import { PostgresDatabase } from './postgres-database'
import { RunScopes } from './run-scopes'
import { RecomputeOperation } from './recompute-operation'
import type { SqlDatabase } from './sql-database'
import type { SqlExecutor } from './sql-executor'

export type { SqlExecutor }

/** Rows per batch of `recomputeBlindIndexes` when `batchSize` is not given. */
export const DEFAULT_RECOMPUTE_BATCH_SIZE = 500

/**
 * Where the rows are: `db`, a one-method SQL executor on PostgreSQL (see {@link SqlExecutor} for
 * one-line adapters of pg, PGlite and Prisma), or `database`, as for the other migration
 * functions: an open {@link SqlDatabase} of any dialect (PostgreSQL, MySQL/MariaDB, SQLite) or a
 * URL, opened and closed by the call.
 */
export type RecomputeDatabaseOption = { db: SqlExecutor; database?: never } | { database: SqlDatabase | string; db?: never }

interface RecomputeSettings {
  /** The generated encryption model (`encryptionModel`, written by `prisma generate`), as for every other option named `model`. */
  model: EncryptionModel
  /** The name of the model whose indexes to recompute (`User`; case-insensitive). */
  modelName: string
  /** Only these index fields of the model. @default every blind index of the model */
  indexes?: readonly string[]
  /** Schema holding the table. @default the connection's search_path */
  schema?: string
  /** The index configuration the application now runs with (the current version is written). */
  indexer?: BlindIndexer
  /** Index settings, when no `indexer` is given. The root key defaults to the primary key provider's. */
  blindIndex?: BlindIndexOptions
  /** Rows per batch. @default {@link DEFAULT_RECOMPUTE_BATCH_SIZE} */
  batchSize?: number
  /**
   * Check every row (decrypt and compare), not only the rows whose index is missing or not on the
   * current version. Use it after changing a schema's normalisation without a version bump.
   * @default false
   */
  all?: boolean
  /**
   * The scope (tenant) whose rows these are (a schema or database per tenant): values are
   * decrypted with the scope and indexes written with the scope's index key, as
   * `fieldEncryption({ scope })` writes and filters them. Needs `scopeKeys` (with `keys`, or in the
   * `encryptor`). An index made without the scope but on the current version cannot be told from
   * the scope's without decrypting: pass `all` to move such rows (the default reads only rows whose
   * index is missing or on another version).
   */
  scope?: string
  /** Count what would change; write nothing. @default false */
  dryRun?: boolean
  onProgress?: (progress: RecomputeProgress) => void
  /** Stops between batches (the work done so far stays; run again to resume). */
  signal?: AbortSignal
}

/**
 * Options of {@link recomputeBlindIndexes}: the settings, and the keys that decrypt the source
 * fields (`keys`, with `readPlaintext` to index plaintext sources of a column being encrypted)
 * or an `encryptor` (its own `readPlaintext` applies).
 */
export type RecomputeBlindIndexesOptions = RecomputeSettings & RecomputeDatabaseOption & KeysOrEncryptor<RecomputeKeyOptions>

/** The keys that decrypt the source fields, and whether plaintext sources are indexed as they are. */
export interface RecomputeKeyOptions extends KeyOptions, Pick<EncryptorOptions, 'scopeKeys'> {
  /** Index plaintext sources as they are. @default false */
  readPlaintext?: ReadPlaintextOption
}

export interface RecomputeProgress {
  /** The model's name. */
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
 * Runs the migration's column runner over the model's indexed columns, one batch at a time:
 * keyset pagination on the primary key, by default reading only rows whose index is missing,
 * stray or on another version (so an interrupted run resumes where it stopped), and
 * compare-and-set writes (a row an application changed meanwhile is left to its writer). Unlike
 * the migration, it stops at the first row it cannot recompute and names it
 * (`BlindIndexRecomputeError`). Knows nothing of Prisma; runs on every database the migration does.
 */
export async function recomputeBlindIndexes(options: RecomputeBlindIndexesOptions): Promise<RecomputeResult> {
  const encryptionModel = options.model
  const model = findModel(encryptionModel, options.modelName)
  if (options.db && !['postgresql', 'postgres', 'cockroachdb'].includes(encryptionModel.provider)) {
    throw new ConfigurationError(
      `recomputeBlindIndexes: \`db\` speaks PostgreSQL; on ${encryptionModel.provider} pass \`database\` (a URL or an open SqlDatabase)`,
    )
  }
  if (model.primaryKeyColumns.length === 0)
    throw new ConfigurationError(`${model.name}: the model has no primary key; recompute pages by it`)
  const names = blindIndexFieldsOfModel(model).map((f) => f.index)
  for (const name of options.indexes ?? []) {
    if (!names.includes(name))
      throw new ConfigurationError(`${model.name}.${name} is not a blind index (indexes: ${names.join(', ') || 'none'})`)
  }
  const wanted = options.indexes?.length ? options.indexes : names
  const onlyScope = options.scope === undefined ? {} : { onlyScope: checkScope(options.scope) }
  const targets = columnTargets(encryptionModel, { models: [model.name] })
    .map((t) => ({ ...t, ...(t.scopeField ? onlyScope : {}), blindIndexes: t.blindIndexes.filter((b) => wanted.includes(b.name)) }))
    .filter((t) => t.blindIndexes.length > 0)
  if (targets.length === 0) throw new ConfigurationError(`${model.name} has no blind index`)
  const batchSize = positiveInteger(options.batchSize ?? DEFAULT_RECOMPUTE_BATCH_SIZE, 'batchSize')

  const encryptor = encryptorOf<RecomputeKeyOptions>(options, 'recomputeBlindIndexes', ({ keys, readPlaintext, scopeKeys }) => ({
    keys,
    readPlaintext: readPlaintext ?? false,
    ...(scopeKeys ? { scopeKeys } : {}),
  }))
  const scope = options.scope === undefined ? undefined : checkScope(options.scope)
  checkScopeKeys(encryptor, scope, 'recomputeBlindIndexes')
  if (model.scopeField && !encryptor.hasScopeKeys) {
    throw new ConfigurationError(
      `recomputeBlindIndexes: ${model.name} is row-scoped (@encryptionScope(${model.scopeField.name})): it needs scopeKeys (in the options or the encryptor)`,
    )
  }
  const indexer =
    options.indexer ??
    new BlindIndexer(blindIndexFieldsOfModel(model), {
      ...withDefaultRootKey(options.blindIndex, encryptor.keyRing.primary),
      onEvent: encryptor.onEvent,
    })
  await indexer.load()

  const progress: RecomputeProgress = { model: model.name, scanned: 0, updated: 0, unchanged: 0, skipped: 0 }
  const database = await databaseOf(options)
  try {
    await recomputeTargets(
      database,
      model,
      targets,
      new RecomputeOperation(encryptor, indexer, options.all ?? false, new RunScopes(encryptor.keyRing, undefined, scope)),
      batchSize,
      progress,
      options,
    )
  } finally {
    if (typeof options.database === 'string') await database.close()
  }
  return progress
}

async function databaseOf(options: RecomputeBlindIndexesOptions): Promise<SqlDatabase> {
  if (options.db) {
    const executor = options.db
    return new PostgresDatabase(
      { query: (sql, params) => executor.query(sql, params), end: async () => {} },
      'recomputeBlindIndexes',
      1,
      options.schema,
    )
  }
  return typeof options.database === 'string' ? openDatabase(options.database, { connections: 1 }) : options.database!
}

async function recomputeTargets(
  database: SqlDatabase,
  model: ModelDescription,
  targets: readonly ColumnTarget[],
  op: RecomputeOperation,
  batchSize: number,
  progress: RecomputeProgress,
  options: RecomputeBlindIndexesOptions,
): Promise<void> {
  for (const target of targets) {
    let column
    try {
      column = await runColumn(database, target, op, {
        batchSize,
        concurrency: 1,
        dryRun: options.dryRun ?? false,
        maxAttempts: 1, // a row changed meanwhile is its writer's: counted as skipped, not retried
        stopAtFirstFailure: true,
        signal: options.signal,
        onBatch(batch) {
          progress.scanned += batch.read
          progress.updated += batch.written
          progress.unchanged += batch.unchanged
          progress.skipped += batch.lostToWriters
          options.onProgress?.({ ...progress })
        },
      })
    } catch (err) {
      if (!(err instanceof RowFailedError)) throw err
      // The row's index column when the database refused the write (a unique clash), else its source field.
      const column = Object.keys(err.write?.indexes ?? {})[0]
      const field = target.blindIndexes.find((b) => b.column === column)?.name ?? target.field
      const primaryKey = Object.fromEntries(model.primaryKey.map((name, i) => [name, err.row.keyValues[i]]))
      throw new BlindIndexRecomputeError({ model: target.model, field }, primaryKey, { cause: err.cause })
    }
    if (column.interrupted) throw options.signal?.reason ?? new Error('recomputeBlindIndexes was aborted')
  }
}

function findModel(encryptionModel: EncryptionModel, name: string): ModelDescription {
  const models = encryptionModel.models
  const model = models[name] ?? Object.values(models).find((m) => m.name.toLowerCase() === name.toLowerCase())
  if (!model) throw new ConfigurationError(`recomputeBlindIndexes: no model '${name}' in the encryption model`)
  return model
}
