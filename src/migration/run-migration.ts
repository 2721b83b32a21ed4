import { blindIndexFieldsOf } from '../blind-index/blind-index-field'
import { BlindIndexer, withDefaultRootKey, type BlindIndexOptions } from '../blind-index/blind-indexer'
import type { EncryptorOptions, EnvelopeEncryptor } from '../engine/envelope-encryptor'
import { encryptorOf, type KeyOptions, type KeysOrEncryptor } from '../engine/keys-or-encryptor'
import { ConfigurationError } from '../errors'
import { checkScope } from '../keys/scope-keys'
import type { EncryptionModel } from '../model/encryption-model'
import { positiveInteger } from '../option-checks'
import type { ColumnOperation, OperationName } from './column-operation'
import { runColumn } from './column-runner'
import { columnTargets, type ColumnTarget } from './column-target'
import { DecryptOperation } from './decrypt-operation'
import { EncryptOperation } from './encrypt-operation'
import type { MigrationProgress } from './migration-progress'
import { writtenOf, type ColumnSummary, type MigrationSummary } from './migration-summary'
import { openDatabase } from './open-database'
import { PfeKeychain } from './pfe-keychain'
import { blindIndexRootKeyState } from './root-key-currency'
import { RotateOperation, type RotateOptions } from './rotate-operation'
import { RunScopes } from './run-scopes'
import type { Shard, SqlDatabase } from './sql-database'
import { StatusOperation } from './status-operation'
import { statusReportOf, type StatusReport } from './status-report'

/** Rows per batch (read, process, write) when `batchSize` is not given. */
export const DEFAULT_BATCH_SIZE = 1000
/** Compare-and-set attempts per row when `maxAttempts` is not given. */
export const DEFAULT_MAX_ATTEMPTS = 5
/** Batches in flight at once on a server when `concurrency` is not given (an embedded database gets 1). */
export const DEFAULT_CONCURRENCY = 2

/**
 * What every migration call takes besides its keys. Names follow one rule across the library:
 * `model` is the generated encryption model, `models` and `fields` select by name.
 */
export interface MigrationSettings {
  /** The generated encryption model (`encryptionModel`, written by `prisma generate`). */
  model: EncryptionModel
  /** An open database, or a URL (`postgresql://...`, `pglite:<dir>`) opened and closed by the call. */
  database: SqlDatabase | string
  /** Only these models, by name (`User`). @default every model */
  models?: readonly string[]
  /** Only these fields (`Model.field`, or a field name). @default every encrypted field */
  fields?: readonly string[]
  /** Rows per batch (read, process, write). @default {@link DEFAULT_BATCH_SIZE} */
  batchSize?: number
  /** Batches in flight at once. @default {@link DEFAULT_CONCURRENCY} on a server, 1 on PGlite */
  concurrency?: number
  /** One part of the key space (`{ index: 0, count: 4 }` or `"1/4"`, 1-based), to run several processes side by side. */
  shard?: Shard | string
  /**
   * Decide everything, write no row; the summary tells what would have been written. The `scopeKeys`
   * given still make the keys of new scopes they are asked for (the CLI's dry run keeps them in memory).
   * @default false
   */
  dryRun?: boolean
  /** Compare-and-set attempts per row before it counts as failed. @default {@link DEFAULT_MAX_ATTEMPTS} */
  maxAttempts?: number
  progress?: MigrationProgress
  /** Stops reading new batches when aborted (batches in flight finish); the summary says `interrupted`. */
  signal?: AbortSignal
  /** Blind index settings, as for the extension (root key, version, previous versions). */
  blindIndex?: BlindIndexOptions
  /**
   * Bind every value of the run to this scope (a tenant), as `fieldEncryption({ scope })` does: for
   * a schema or database per tenant. Needs `keys` with `scopeKeys` (not an `encryptor`). `status`
   * counts the values of a shredded scope as `shredded`.
   */
  scope?: string
  /**
   * With `scope`: bind values written without a scope to it. `encrypt` with a scope needs it (every
   * plaintext value of the run becomes the scope's: right for a database per tenant, wrong for a
   * table tenants share); `rotate` without it leaves values written without a scope alone
   * (`outside scope`). @default false
   */
  adoptUnscoped?: boolean
  /**
   * `Model.field` -> column: the key-header column of a field whose model no longer gives it one
   * (its `@keyHeader` removed). Its short values (format version 2) are read with the headers in
   * that column: `rotate` moves them back to version 1 and sets the column to NULL, `decrypt`
   * sets it to NULL, `status` counts them as `older`. Without it such values cannot be read
   * (`KFE_KEY_HEADER_MISSING`).
   */
  formerKeyHeaders?: Readonly<Record<string, string>>
}

/** The key options of a migration: the key providers, and the scope keys for a run with `scope`. */
export type MigrationKeyOptions = KeyOptions & Pick<EncryptorOptions, 'scopeKeys'>

/**
 * Options of every migration call: the settings, and the key providers (`keys`) or an
 * `encryptor` (to share its cache). The primary provider is the one values are moved to.
 */
export type MigrationOptions = MigrationSettings & KeysOrEncryptor<MigrationKeyOptions>

export type EncryptOptions = MigrationOptions & {
  /** prisma-field-encryption keys (`k1.aesgcm256.…`), to convert its values. */
  pfeKeys?: readonly string[]
}

export type StatusOptions = MigrationOptions & {
  /** Decrypt every value to find the unreadable ones; false reads headers only. @default true */
  verify?: boolean
}

/** `encrypt`: encrypts every value not yet encrypted (and fills blind indexes). */
export function encryptColumns(options: EncryptOptions): Promise<MigrationSummary> {
  return run(
    options,
    'encrypt',
    (ctx) =>
      new EncryptOperation(
        ctx.encryptor,
        options.pfeKeys?.length ? new PfeKeychain(options.pfeKeys) : undefined,
        ctx.indexer(),
        ctx.scopes,
      ),
  )
}

export type RotateColumnsOptions = MigrationOptions & RotateOptions

/**
 * `rotate`: brings every encrypted value (and blind index) to the current key, and re-wraps the
 * blind-index root key when it is wrapped under an older one (`blindIndexRootKey` in the summary
 * holds the new value to deploy).
 */
export function rotateColumns(options: RotateColumnsOptions): Promise<MigrationSummary> {
  const { indexesOnly, verifyIndexes } = options
  return run(
    options,
    'rotate',
    (ctx) =>
      new RotateOperation(ctx.encryptor, ctx.scopes, ctx.indexer(), {
        indexesOnly,
        verifyIndexes,
        adoptUnscoped: options.adoptUnscoped ?? false,
      }),
  )
}

/** `decrypt`: writes plaintext back in place of every encrypted value. */
export function decryptColumns(options: MigrationOptions): Promise<MigrationSummary> {
  return run(options, 'decrypt', (ctx) => new DecryptOperation(ctx.encryptor, ctx.scopes))
}

/**
 * `status`: counts, per column, values that are NULL, plaintext, current, older or unreadable;
 * blind indexes missing or stale; and whether the blind-index root key is wrapped under the current key.
 */
export async function encryptionStatus(options: StatusOptions): Promise<StatusReport> {
  const summary = await run(
    { ...options, dryRun: true },
    'status',
    (ctx) => new StatusOperation(ctx.encryptor, ctx.scopes, options.verify ?? true, ctx.indexer(true)),
  )
  return statusReportOf(summary)
}

interface RunContext {
  encryptor: EnvelopeEncryptor
  /** The scope of each row (a row-scoped model's own, or the run's), and where data keys stand for it. */
  scopes: RunScopes
  /** The blind indexer (undefined when the schema has none). `lenient`: undefined instead of an error when it cannot be made. */
  indexer(lenient?: boolean): BlindIndexer | undefined
}

async function run(
  options: MigrationOptions,
  operation: OperationName,
  make: (ctx: RunContext) => ColumnOperation,
): Promise<MigrationSummary> {
  const started = performance.now()
  const scope = options.scope === undefined ? undefined : checkScope(options.scope)
  // A row-scoped model's rows each carry their scope; with `scope`, only that scope's rows are read.
  const selection = { models: options.models, fields: options.fields, formerKeyHeaders: options.formerKeyHeaders }
  const targets = columnTargets(options.model, selection).map((t) => (t.scopeField && scope !== undefined ? { ...t, onlyScope: scope } : t))
  const rowScoped = [...new Set(targets.filter((t) => t.scopeField).map((t) => t.model))]
  const shard = typeof options.shard === 'string' ? parseShard(options.shard) : options.shard
  if (shard) checkShard(shard)
  const batchSize = positiveInteger(options.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize')
  const maxAttempts = positiveInteger(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 'maxAttempts')
  const encryptor = encryptorOf<MigrationKeyOptions>(options, operation, ({ keys, scopeKeys }) => ({
    keys,
    readPlaintext: false,
    ...(scopeKeys ? { scopeKeys } : {}),
  }))
  const scopeKeys = options.encryptor === undefined ? options.scopeKeys : undefined
  if (scope !== undefined && !scopeKeys)
    throw new ConfigurationError(`${operation} with a scope needs keys and scopeKeys (the scope key provider), not an encryptor`)
  if (rowScoped.length > 0 && !scopeKeys) {
    throw new ConfigurationError(
      `${operation}: ${rowScoped.join(', ')} ${rowScoped.length > 1 ? 'are' : 'is'} row-scoped (@encryptionScope): the run needs keys and scopeKeys (the scope key provider), not an encryptor; or select other models`,
    )
  }
  // `encrypt --scope` binds plaintext to the scope; a row-scoped model's rows are that scope's already (filtered by it).
  if (operation === 'encrypt' && scope !== undefined && !options.adoptUnscoped && targets.some((t) => !t.scopeField)) {
    throw new ConfigurationError(
      `encrypt with scope '${scope}' binds every plaintext value of the run to that scope: pass adoptUnscoped (--adopt-unscoped) when the tables hold that scope's rows only (a database or schema per tenant)`,
    )
  }
  const rootKey = withDefaultRootKey(options.blindIndex, encryptor.keyRing.primary).rootKey
  let made: { indexer?: BlindIndexer; error?: unknown } | undefined
  const ctx: RunContext = {
    encryptor,
    scopes: new RunScopes(encryptor.keyRing, scopeKeys, scope),
    indexer(lenient = false) {
      made ??= makeIndexer(options, encryptor)
      if (made.indexer) return made.indexer
      if (made.error === undefined || lenient || !targets.some((t) => t.blindIndexes.length > 0)) return undefined
      throw made.error
    },
  }
  const op = make(ctx)

  const requested = options.concurrency
  const database =
    typeof options.database === 'string'
      ? await openDatabase(options.database, { connections: (requested ?? DEFAULT_CONCURRENCY) + 1 })
      : options.database
  const concurrency = positiveInteger(requested ?? Math.min(DEFAULT_CONCURRENCY, database.maxConcurrency), 'concurrency')
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
  const withIndexes = targets.some((t) => t.blindIndexes.length > 0)
  const rootKeyState =
    (operation === 'rotate' || operation === 'status') && withIndexes && !interrupted
      ? await blindIndexRootKeyState(rootKey, ctx.scopes.runCurrency.timeoutMs)
      : undefined
  const failed = columns.reduce((n, c) => n + c.failed, 0)
  return {
    operation,
    dryRun: options.dryRun ?? false,
    database: database.description,
    ...(scope !== undefined ? { scope } : {}),
    ...(shard ? { shard: `${shard.index + 1}/${shard.count}` } : {}),
    columns,
    written: columns.reduce((n, c) => n + writtenOf(c.counts), 0),
    failed,
    interrupted,
    ok: failed === 0 && !interrupted && rootKeyState?.failure === undefined,
    ...(rootKeyState ? { blindIndexRootKey: rootKeyState } : {}),
    durationMs: Math.round(performance.now() - started),
  }
}

/** The blind indexer for the schema's indexes (none when it has none), or why it cannot be made. */
function makeIndexer(options: MigrationOptions, encryptor: EnvelopeEncryptor): { indexer?: BlindIndexer; error?: unknown } {
  const fields = blindIndexFieldsOf(options.model)
  if (fields.length === 0) return {}
  try {
    return { indexer: new BlindIndexer(fields, withDefaultRootKey(options.blindIndex, encryptor.keyRing.primary)) }
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
  if (
    !Number.isInteger(shard.count) ||
    shard.count < 1 ||
    !Number.isInteger(shard.index) ||
    shard.index < 0 ||
    shard.index >= shard.count
  ) {
    throw new ConfigurationError(`shard ${shard.index + 1}/${shard.count}: k must be between 1 and n`)
  }
}

export type { ColumnTarget }
