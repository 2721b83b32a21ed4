import { blindIndexFieldsOf } from '../blind-index/blind-index-field'
import { BlindIndexer, type BlindIndexOptions } from '../blind-index/blind-indexer'
import { EnvelopeEncryptor } from '../engine/envelope-encryptor'
import { ConfigurationError } from '../errors'
import type { KeyProvider } from '../keys/key-provider'
import type { EncryptionModel } from '../model/encryption-model'
import type { ColumnOperation } from './column-operation'
import { runColumn } from './column-runner'
import { columnTargets, type ColumnTarget } from './column-target'
import { DataKeyCurrency } from './data-key-currency'
import { DecryptOperation } from './decrypt-operation'
import { EncryptOperation } from './encrypt-operation'
import type { MigrationProgress } from './migration-progress'
import { WRITE_OUTCOMES, type ColumnSummary, type MigrationSummary } from './migration-summary'
import { openDatabase } from './open-database'
import { PfeKeychain } from './pfe-keychain'
import { RotateOperation, type RotateOptions } from './rotate-operation'
import type { Shard, SqlDatabase } from './sql-database'
import { StatusOperation } from './status-operation'
import { statusReportOf, type StatusReport } from './status-report'

export const DEFAULT_BATCH_SIZE = 1000
export const DEFAULT_MAX_ATTEMPTS = 5

export interface MigrationOptions {
  /** The `encryptionModel` that `prisma generate` wrote. */
  model: EncryptionModel
  /** Key providers, as for the extension: the first (primary) is the one values are moved to. */
  keys: KeyProvider | readonly KeyProvider[]
  /** An open database, or a URL (`postgresql://...`, `pglite:<dir>`) opened and closed by the call. */
  database: SqlDatabase | string
  /** Only these models (Prisma names). */
  models?: readonly string[]
  /** Only these fields (`Model.field`, or a field name). */
  fields?: readonly string[]
  /** Rows per batch (read, process, write). Default 1,000. */
  batchSize?: number
  /** Batches in flight at once. Default 2 on a server, 1 on PGlite. */
  concurrency?: number
  /** One part of the key space (`{ index: 0, count: 4 }` or `"1/4"`, 1-based), to run several processes side by side. */
  shard?: Shard | string
  /** Decide everything, write nothing; the summary tells what would have been written. */
  dryRun?: boolean
  /** Compare-and-set attempts per row before it counts as failed. Default 5. */
  maxAttempts?: number
  progress?: MigrationProgress
  /** Stops reading new batches when aborted (batches in flight finish); the summary says `interrupted`. */
  signal?: AbortSignal
  /** Blind index settings, as for the extension (root key, version, previous versions). */
  blindIndex?: BlindIndexOptions
  /** Use this encryptor (to share its cache); `keys` still decides the primary provider. */
  encryptor?: EnvelopeEncryptor
}

export interface EncryptOptions extends MigrationOptions {
  /** prisma-field-encryption keys (`k1.aesgcm256.…`), to convert its values. */
  pfeKeys?: readonly string[]
}

export interface StatusOptions extends MigrationOptions {
  /** Decrypt every value to find the unreadable ones (default true); false reads headers only. */
  verify?: boolean
}

/** `encrypt`: encrypts every value not yet encrypted (and fills blind indexes). */
export function encryptColumns(options: EncryptOptions): Promise<MigrationSummary> {
  return run(options, 'encrypt', (ctx) => new EncryptOperation(ctx.encryptor, options.pfeKeys?.length ? new PfeKeychain(options.pfeKeys) : undefined, ctx.indexer()))
}

export interface RotateColumnsOptions extends MigrationOptions, RotateOptions {}

/** `rotate`: brings every encrypted value (and blind index) to the current key. */
export function rotateColumns(options: RotateColumnsOptions): Promise<MigrationSummary> {
  const { indexesOnly, verifyIndexes } = options
  return run(options, 'rotate', (ctx) => new RotateOperation(ctx.encryptor, ctx.currency, ctx.indexer(), { indexesOnly, verifyIndexes }))
}

/** `decrypt`: writes plaintext back in place of every encrypted value. */
export function decryptColumns(options: MigrationOptions): Promise<MigrationSummary> {
  return run(options, 'decrypt', (ctx) => new DecryptOperation(ctx.encryptor))
}

/** `status`: counts, per column, values that are NULL, plaintext, current, older or unreadable; blind indexes missing or stale. */
export async function encryptionStatus(options: StatusOptions): Promise<StatusReport> {
  const summary = await run({ ...options, dryRun: true }, 'status', (ctx) => new StatusOperation(ctx.encryptor, ctx.currency, options.verify ?? true, ctx.indexer(true)))
  return statusReportOf(summary)
}

interface RunContext {
  encryptor: EnvelopeEncryptor
  currency: DataKeyCurrency
  /** The blind indexer (undefined when the schema has none). `lenient`: undefined instead of an error when it cannot be made. */
  indexer(lenient?: boolean): BlindIndexer | undefined
}

async function run(options: MigrationOptions, operation: ColumnOperation['name'], make: (ctx: RunContext) => ColumnOperation): Promise<MigrationSummary> {
  const started = performance.now()
  const targets = columnTargets(options.model, { models: options.models, fields: options.fields })
  const shard = typeof options.shard === 'string' ? parseShard(options.shard) : options.shard
  if (shard) checkShard(shard)
  const batchSize = positiveInt(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize')
  const maxAttempts = positiveInt(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 'maxAttempts')
  const encryptor = options.encryptor ?? new EnvelopeEncryptor({ keys: options.keys })
  const keys = Array.isArray(options.keys) ? (options.keys as readonly KeyProvider[]) : [options.keys as KeyProvider]
  if (options.encryptor && options.encryptor.keyRing.primary.id !== keys[0]!.id) {
    throw new ConfigurationError('the encryptor given has another primary key provider than `keys`')
  }
  let made: { indexer?: BlindIndexer; error?: unknown } | undefined
  const ctx: RunContext = {
    encryptor,
    currency: new DataKeyCurrency(encryptor.keyRing),
    indexer(lenient = false) {
      made ??= makeIndexer(options, keys[0]!)
      if (made.indexer) return made.indexer
      if (made.error === undefined || lenient || !targets.some((t) => t.blindIndexes.length > 0)) return undefined
      throw made.error
    },
  }
  const op = make(ctx)

  const requested = options.concurrency
  const database = typeof options.database === 'string'
    ? await openDatabase(options.database, { connections: (requested ?? 2) + 1 })
    : options.database
  const concurrency = positiveInt(requested ?? Math.min(2, database.maxConcurrency), 'concurrency')
  const columns: ColumnSummary[] = []
  let interrupted = false
  try {
    for (const target of targets) {
      if (options.signal?.aborted) {
        interrupted = true
        break
      }
      const result = await runColumn(database, target, op, {
        batchSize,
        concurrency,
        shard,
        dryRun: options.dryRun ?? false,
        maxAttempts,
        progress: options.progress,
        signal: options.signal,
      })
      const { interrupted: stopped, ...summary } = result
      columns.push(summary)
      if (stopped) {
        interrupted = true
        break
      }
    }
  } finally {
    if (typeof options.database === 'string') await database.close()
  }
  const failed = columns.reduce((n, c) => n + c.failed, 0)
  const written = columns.reduce((n, c) => n + Object.entries(c.counts).reduce((m, [k, v]) => m + (WRITE_OUTCOMES.has(k) ? v : 0), 0), 0)
  return {
    operation,
    dryRun: options.dryRun ?? false,
    database: database.description,
    ...(shard ? { shard: `${shard.index + 1}/${shard.count}` } : {}),
    columns,
    written,
    failed,
    interrupted,
    ok: failed === 0 && !interrupted,
    durationMs: Math.round(performance.now() - started),
  }
}

/** The blind indexer for the schema's indexes (none when it has none), or why it cannot be made. */
function makeIndexer(options: MigrationOptions, primary: KeyProvider): { indexer?: BlindIndexer; error?: unknown } {
  const fields = blindIndexFieldsOf(options.model)
  if (fields.length === 0) return {}
  try {
    return { indexer: new BlindIndexer(fields, { ...options.blindIndex, rootKey: options.blindIndex?.rootKey ?? primary }) }
  } catch (error) {
    return { error }
  }
}

/** `k/n` with 1 <= k <= n (1-based, like Jest's --shard). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text)
  if (!m) throw new ConfigurationError(`--shard ${text}: expected k/n, e.g. 1/4 (the first of four parts)`)
  const shard = { index: Number(m[1]) - 1, count: Number(m[2]) }
  checkShard(shard)
  return shard
}

function checkShard(shard: Shard): void {
  if (!Number.isInteger(shard.count) || shard.count < 1 || !Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count) {
    throw new ConfigurationError(`shard ${shard.index + 1}/${shard.count}: k must be between 1 and n`)
  }
}

function positiveInt(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new ConfigurationError(`${name} must be a positive integer`)
  return n
}

export type { ColumnTarget }
