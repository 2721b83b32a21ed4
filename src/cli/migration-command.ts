import { resolveConfig, type ConfigFlags } from '../config/resolve-config'
import { ConfigurationError } from '../errors'
import type { OperationName } from '../migration/column-operation'
import type { MigrationProgress } from '../migration/migration-progress'
import type { MigrationSummary } from '../migration/migration-summary'
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

  const controller = new AbortController()
  const stopSignals = io.handleSignals ? onStopSignals(controller, io) : () => undefined
  const progressStream = flags.json ? io.stderr : io.stdout
  const bars =
    flags.progress !== false && progressStream.isTTY ? new ProgressBars(operation, progressStream as NodeJS.WriteStream) : undefined
  const progress: MigrationProgress | undefined =
    flags.progress === false ? undefined : (bars ?? new ProgressLines(operation, (line) => progressStream.write(`${line}\n`)))

  // A scoped run opens the database itself: the scope keys live in its key table.
  let database: SqlDatabase | undefined
  let scoped: Pick<MigrationOptions, 'scope' | 'scopeKeys'> = {}
  if (flags.scope !== undefined) {
    database = await openDatabase(config.databaseUrl, { connections: (config.concurrency ?? DEFAULT_CONCURRENCY) + 1 })
    try {
      scoped = { scope: flags.scope, scopeKeys: await config.scopeKeys(database) }
    } catch (err) {
      await database.close()
      throw err
    }
  }

  const options: MigrationOptions = {
    model: config.model,
    keys,
    ...scoped,
    database: database ?? config.databaseUrl,
    ...(flags.model?.length ? { models: flags.model } : {}),
    ...(flags.field?.length ? { fields: flags.field } : {}),
    ...(config.batchSize ? { batchSize: config.batchSize } : {}),
    ...(config.concurrency ? { concurrency: config.concurrency } : {}),
    ...(shard ? { shard } : {}),
    ...(flags.maxAttempts ? { maxAttempts: flags.maxAttempts } : {}),
    ...(config.blindIndex ? { blindIndex: config.blindIndex } : {}),
    dryRun: flags.dryRun ?? false,
    ...(progress ? { progress } : {}),
    signal: controller.signal,
  }
  try {
    if (operation === 'status') {
      const report = await encryptionStatus({ ...options, verify: flags.verify ?? true })
      bars?.stop()
      io.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderStatus(report)}\n`)
      if (controller.signal.aborted) return EXIT_INTERRUPTED
      return flags.check && !report.complete ? EXIT_ROWS_FAILED : EXIT_OK
    }
    const summary: MigrationSummary =
      operation === 'encrypt'
        ? await encryptColumns({ ...options, ...(config.pfeKeys.length ? { pfeKeys: config.pfeKeys } : {}) })
        : operation === 'rotate'
          ? await rotateColumns({ ...options, indexesOnly: flags.blindIndexes ?? false, verifyIndexes: flags.verifyIndexes ?? false })
          : await decryptColumns(options)
    bars?.stop()
    io.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : `\n${renderMigrationSummary(summary, config.model)}\n`)
    if (summary.interrupted) return EXIT_INTERRUPTED
    return summary.failed > 0 ? EXIT_ROWS_FAILED : EXIT_OK
  } finally {
    bars?.stop()
    stopSignals()
    await database?.close()
    ;(scoped.scopeKeys as { destroy?: () => void } | undefined)?.destroy?.()
    for (const k of keys) (k as { destroy?: () => void }).destroy?.()
  }
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
