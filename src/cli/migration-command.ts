import { resolveConfig, type ConfigFlags } from '../config/resolve-config'
import { ConfigurationError, libraryCodeOf } from '../errors'
import { checkScope, type ScopeKeys } from '../keys/scope-keys'
import { columnTargets } from '../migration/column-target'
import type { OperationName } from '../migration/column-operation'
import type { MigrationProgress } from '../migration/migration-progress'
import { writtenOf, type MigrationSummary } from '../migration/migration-summary'
import { openDatabase, redactUrl } from '../migration/open-database'
import type { SqlDatabase } from '../migration/sql-database'
import {
  decryptColumns,
  encryptColumns,
  encryptionStatus,
  DEFAULT_CONCURRENCY,
  parseShard,
  rotateColumns,
  type MigrationOptions,
} from '../migration/run-migration'
import type { CliIo } from './cli-io'
import { ProgressBars } from './progress-bars'
import { ProgressLines } from './progress-lines'
import { renderMigrationSummary, renderStatus } from './summary-table'

export interface MigrationFlags extends ConfigFlags {
  model?: string[]
  field?: string[]
  shard?: string
  maxAttempts?: number
  dryRun?: boolean
  json?: boolean
  progress?: boolean
  yes?: boolean
  verify?: boolean
  check?: boolean
  blindIndexes?: boolean
  verifyIndexes?: boolean
  /** Bind every value of the run to this scope (tenant). */
  scope?: string
  /** With `scope`: bind values written without a scope (plaintext for `encrypt`, unscoped values for `rotate`) to it. */
  adoptUnscoped?: boolean
  /** `Model.field` -> the key-header column of a field whose `@keyHeader` was removed (format v2 values read from it). */
  formerKeyHeaders?: Record<string, string>
}

/**
 * Exit codes: 0 done; 1 some rows failed, or `status --check` found work left, or decrypt was not
 * confirmed; 2 the run could not start or had to stop (usage, configuration, database, key
 * provider); 130 interrupted (SIGINT/SIGTERM: batches in flight finished, run again to resume).
 */
export const EXIT_OK = 0
export const EXIT_ROWS_FAILED = 1
export const EXIT_ERROR = 2
export const EXIT_INTERRUPTED = 130

/** Runs `status`, `encrypt`, `rotate` or `decrypt` with the flags given; returns the exit code. */
export async function runMigrationCommand(operation: OperationName, flags: MigrationFlags, io: CliIo): Promise<number> {
  const config = await resolveConfig(flags, io.env, io.cwd)
  // A scoped run opens the database itself: the scope keys live in its key table.
  let database: SqlDatabase | undefined
  let scopeKeys: ScopeKeys | undefined
  let dryScopeKeys: ScopeKeys | undefined
  try {
    const keys = await config.keys()
    const shard = flags.shard ? parseShard(flags.shard) : undefined

    if (operation === 'decrypt' && !flags.dryRun && !flags.yes) {
      const question =
        `This writes the PLAINTEXT of every encrypted value back to ${redactUrl(config.databaseUrl)}` +
        `${flags.model?.length ? ` (models ${flags.model.join(', ')})` : ''}${flags.field?.length ? ` (fields ${flags.field.join(', ')})` : ''}.\n` +
        'Type "yes" to go on: '
      if (!io.confirm) throw new ConfigurationError('decrypt writes plaintext back: confirm with --yes (no terminal to ask on)')
      if (!(await io.confirm(question))) {
        io.stderr.write('Nothing was written.\n')
        return EXIT_ROWS_FAILED
      }
    }

    let unknownScope = false
    // A row-scoped model (@encryptionScope) needs the scope keys too: each row is sealed under its own scope.
    const rowScoped = columnTargets(config.model, { models: flags.model, fields: flags.field }).some((t) => t.scopeField)
    // Only the commands that bind values to a scope may make its key; the others get a read-only view.
    // A row-scoped rotate over every scope may move values written before scopes into their row's
    // scope: it may make keys. With --scope it makes none unless --adopt-unscoped (as for other models).
    const readOnly =
      operation === 'status' ||
      operation === 'decrypt' ||
      (operation === 'rotate' && !flags.adoptUnscoped && (flags.scope !== undefined || !rowScoped))
    if (flags.scope !== undefined || rowScoped) {
      database = await openDatabase(config.databaseUrl, { connections: (config.concurrency ?? DEFAULT_CONCURRENCY) + 1 })
      scopeKeys = await config.scopeKeys(database, { readOnly, dryRun: flags.dryRun ?? false })
    }
    if (flags.scope !== undefined) {
      if (readOnly) unknownScope = await hasNoKey(scopeKeys!, checkScope(flags.scope))
      if (unknownScope) {
        io.stderr.write(
          `no key for scope '${flags.scope}': nothing was ever encrypted under it${operation === 'status' ? '' : '; nothing was done'}\n`,
        )
        if (operation === 'decrypt') return EXIT_ROWS_FAILED
      }
    }

    const controller = new AbortController()
    const stopSignals = io.handleSignals ? onStopSignals(controller, io) : () => undefined
    const progressStream = flags.json ? io.stderr : io.stdout
    const bars =
      flags.progress !== false && progressStream.isTTY ? new ProgressBars(operation, progressStream as NodeJS.WriteStream) : undefined
    const progress: MigrationProgress | undefined =
      flags.progress === false ? undefined : (bars ?? new ProgressLines(operation, (line) => progressStream.write(`${line}\n`)))

    const options: MigrationOptions = {
      model: config.model,
      keys,
      ...(scopeKeys ? { scopeKeys } : {}),
      ...(flags.scope !== undefined ? { scope: flags.scope, adoptUnscoped: flags.adoptUnscoped ?? false } : {}),
      database: database ?? config.databaseUrl,
      ...(flags.model?.length ? { models: flags.model } : {}),
      ...(flags.formerKeyHeaders ? { formerKeyHeaders: flags.formerKeyHeaders } : {}),
      ...(flags.field?.length ? { fields: flags.field } : {}),
      ...(config.batchSize ? { batchSize: config.batchSize } : {}),
      ...(config.concurrency ? { concurrency: config.concurrency } : {}),
      ...(shard ? { shard } : {}),
      ...(flags.maxAttempts ? { maxAttempts: flags.maxAttempts } : {}),
      ...(config.blindIndex ? { blindIndex: config.blindIndex } : {}),
      dryRun: flags.dryRun ?? false,
      signal: controller.signal,
    }
    try {
      if (operation === 'status') {
        const report = await encryptionStatus({ ...options, ...(progress ? { progress } : {}), verify: flags.verify ?? true })
        bars?.stop()
        io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderStatus(report)}\n`)
        if (controller.signal.aborted) return EXIT_INTERRUPTED
        return flags.check && (!report.complete || unknownScope) ? EXIT_ROWS_FAILED : EXIT_OK
      }
      if (flags.scope !== undefined && flags.adoptUnscoped && !flags.dryRun && (operation === 'encrypt' || operation === 'rotate')) {
        // Its count is a dry run: scope keys it makes stay in memory, so "no" writes nothing.
        dryScopeKeys = await config.scopeKeys(database!, { dryRun: true })
        const confirmed = await confirmAdoption(
          operation,
          flags,
          { ...options, scopeKeys: dryScopeKeys },
          config.pfeKeys,
          redactUrl(config.databaseUrl),
          io,
        )
        if (!confirmed) {
          io.stderr.write('Nothing was written.\n')
          return EXIT_ROWS_FAILED
        }
      }
      const run = { ...options, ...(progress ? { progress } : {}) }
      const summary: MigrationSummary =
        operation === 'encrypt'
          ? await encryptColumns({ ...run, ...(config.pfeKeys.length ? { pfeKeys: config.pfeKeys } : {}) })
          : operation === 'rotate'
            ? await rotateColumns({ ...run, indexesOnly: flags.blindIndexes ?? false, verifyIndexes: flags.verifyIndexes ?? false })
            : await decryptColumns(run)
      bars?.stop()
      io.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `\n${renderMigrationSummary(summary, config.model)}\n`)
      if (summary.interrupted) return EXIT_INTERRUPTED
      return summary.failed > 0 ? EXIT_ROWS_FAILED : EXIT_OK
    } finally {
      bars?.stop()
      stopSignals()
    }
  } finally {
    // Success or failure: no scope key or master key is left to the garbage collector.
    dryScopeKeys?.destroy?.()
    scopeKeys?.destroy?.()
    await config.destroyKeys()
    await database?.close()
  }
}

/** Whether the (read-only) scope keys know no key for `scope` (a shredded scope has one: its tombstone). */
export async function hasNoKey(scopeKeys: ScopeKeys, scope: string): Promise<boolean> {
  try {
    await scopeKeys.providerFor(scope)
    return false
  } catch (err) {
    if (libraryCodeOf(err) === 'KFE_SCOPE_KEY_NOT_FOUND') return true
    if (libraryCodeOf(err) === 'KFE_SCOPE_KEY_SHREDDED') return false
    throw err
  }
}

/**
 * `--adopt-unscoped`: counts the values written without a scope that the run will bind to the
 * scope (a dry run), says how many, and asks (unless `--yes`; no terminal and no --yes: refused).
 */
async function confirmAdoption(
  operation: 'encrypt' | 'rotate',
  flags: MigrationFlags,
  options: MigrationOptions,
  pfeKeys: readonly string[],
  where: string,
  io: CliIo,
): Promise<boolean> {
  if (flags.yes) return true
  if (!io.confirm) {
    throw new ConfigurationError(
      `${operation} --adopt-unscoped binds values written without a scope to scope '${flags.scope}': confirm with --yes (no terminal to ask on)`,
    )
  }
  const dry = { ...options, dryRun: true }
  const summary =
    operation === 'encrypt'
      ? await encryptColumns({ ...dry, ...(pfeKeys.length ? { pfeKeys } : {}) })
      : await rotateColumns({ ...dry, adoptUnscoped: false })
  const count = summary.columns.reduce((n, c) => n + (operation === 'encrypt' ? writtenOf(c.counts) : (c.counts['outside scope'] ?? 0)), 0)
  if (count === 0) return true
  const what = operation === 'encrypt' ? 'plaintext rows' : 'rows with values encrypted without a scope'
  return io.confirm(
    `This binds ${count} ${what} of ${where} to scope '${flags.scope}': ` +
      `after that only scope '${flags.scope}' reads them, and shredding it destroys them. ` +
      `On a table shared by tenants, give the model a scope column (@encryptionScope) instead.\nType "yes" to go on: `,
  )
}

/** First SIGINT/SIGTERM: stop after the batches in flight. Second: leave at once (safe: every write is atomic). */
function onStopSignals(controller: AbortController, io: CliIo): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED)
    io.stderr.write(
      `\n${signal}: finishing the batches in flight, then stopping (again to stop at once; either way, run the command again to resume)\n`,
    )
    controller.abort()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}
