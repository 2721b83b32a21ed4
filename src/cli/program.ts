import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { CONFIG_NAMES, MODEL_LOCATIONS, PRISMA_CONFIG_NAMES } from '../config/resolve-config'
import { FieldEncryptionError } from '../errors'
import { processIo, type CliIo } from './cli-io'
import { keygen } from './keygen-command'
import { EXIT_ERROR, runMigrationCommand, type MigrationFlags } from './migration-command'
import { shred, type ShredFlags } from './shred-command'

/**
 * The command-line tool:
 *   keygen                     a fresh local master key; with --kms-key-id, a KMS-wrapped blind-index root key
 *   status                     per encrypted column: NULL, plaintext, current, older, unreadable; blind indexes
 *   encrypt                    encrypt every plaintext value (and fill blind indexes)
 *   rotate                     bring every value (and blind index) to the current key
 *   decrypt                    write plaintext back (asks for confirmation unless --yes)
 *   shred --scope <id>         destroy a scope's key: local key table tombstone, or KMS key deletion
 * Returns the exit code (and sets process.exitCode when run as the binary).
 */
export async function runProgram(argv: string[], io: CliIo = processIo()): Promise<number> {
  let exitCode = 0
  const program = new Command('kms-field-encryption')
    .description('Field-level encryption for Prisma: keys, and migrations of existing rows')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)

  program
    .command('keygen')
    .description('print a fresh local master key (base64); with --kms-key-id, a blind-index root key wrapped by that KMS key')
    .option('--kms-key-id <id>', 'KMS key (id, ARN or alias) to wrap a new blind-index root key (env KFE_KMS_KEY_ID)')
    .option('--kms-region <region>', 'AWS region (default: from the key ARN, KFE_KMS_REGION, or the SDK chain)')
    .option('--kms-endpoint <url>', 'KMS endpoint (VPC endpoint, or a test server)')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      exitCode = await keygen(flags, io)
    })

  const migration = (name: 'status' | 'encrypt' | 'rotate' | 'decrypt', description: string): Command => {
    const cmd = program.command(name).description(description)
    commonOptions(cmd)
    cmd.addHelpText('after', `\n${WHERE_HELP}\n\n${SCOPE_HELP}\n\n${EXIT_CODES_HELP}`)
    cmd.action(async (flags: MigrationFlags & { kmsAcceptedKeyId?: string[]; fromPfeKey?: string[]; formerKeyHeader?: string[] }) => {
      const { kmsAcceptedKeyId, fromPfeKey, formerKeyHeader, ...rest } = flags
      exitCode = await runMigrationCommand(
        name,
        {
          ...rest,
          kmsAcceptedKeyIds: kmsAcceptedKeyId?.length ? kmsAcceptedKeyId : undefined,
          pfeKeys: fromPfeKey,
          ...(formerKeyHeader?.length ? { formerKeyHeaders: formerKeyHeadersOf(formerKeyHeader) } : {}),
        },
        io,
      )
    })
    return cmd
  }

  migration(
    'status',
    'count, per encrypted column, values that are NULL, plaintext, encrypted under the current key or an older one, or unreadable; blind indexes current, stale or missing',
  )
    .option('--no-verify', 'read headers only; do not decrypt every value to find unreadable ones')
    .option('--check', 'exit 1 unless every value and blind index is current (for scripts and CI)')
  migration('encrypt', 'encrypt every plaintext value of the annotated columns (or --model/--field), filling blind indexes')
    .option('--dry-run', 'decide everything, write nothing, report what would be done')
    .option('--from-pfe-key <key>', "a prisma-field-encryption key (k1.aesgcm256.…): convert that library's values (repeatable)", collect)
    .option('--adopt-unscoped', 'with --scope: bind the plaintext values to the scope (needed: see below; asks unless --yes)')
    .option('-y, --yes', 'do not ask for confirmation')
  migration('rotate', 'bring every encrypted value and blind index to the current key (KMS key change: re-wrap only, via ReEncrypt)')
    .option('--dry-run', 'decide everything, write nothing, report what would be done')
    .option('--blind-indexes', 'only recompute blind indexes (missing, or of another index version); leave values as they are')
    .option(
      '--verify-indexes',
      'decrypt every row and recompute any index that does not match (a normalisation changed without a new version)',
    )
    .option('--adopt-unscoped', 'with --scope: move values written without a scope into the scope (asks unless --yes)')
    .option('-y, --yes', 'do not ask for confirmation')
  migration('decrypt', 'write the plaintext back in place of every encrypted value (leaving the library, or disaster recovery)')
    .option('--dry-run', 'decrypt everything to check it can be, write nothing')
    .option('-y, --yes', 'do not ask for confirmation')

  program
    .command('shred')
    .description(
      "destroy a scope's (tenant's) key so that every value of that scope is unreadable: the key table row becomes a tombstone, or (awsKmsScopeKeys in the config) the scope's KMS key is scheduled for deletion",
    )
    .requiredOption('--scope <id>', 'the scope (tenant id) whose key is destroyed')
    .option('--pending-days <n>', 'KMS: days before the key is deleted, 7 to 30 (default 30)', positiveInt)
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--config <file>', 'config file (default: ./kfe.config.ts or .js, if present)')
    .option('--database-url <url>', 'the database holding the key table kfe_scope_keys (env DATABASE_URL)')
    .option('--json', 'print what was done as JSON')
    .addHelpText('after', `\n${SCOPE_HELP}\n\n${EXIT_CODES_HELP}`)
    .action(async (flags: ShredFlags) => {
      exitCode = await shred(flags, io)
    })

  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too (exit code 0).
      exitCode = err.exitCode === 0 ? 0 : EXIT_ERROR
    } else {
      io.stderr.write(`error: ${describe(err)}\n`)
      exitCode = EXIT_ERROR
    }
  }
  if (io.handleSignals) process.exitCode = exitCode
  return exitCode
}

function commonOptions(cmd: Command): void {
  cmd
    .option('--config <file>', 'config file (default: ./kfe.config.ts or .js, if present)')
    .option('--database-url <url>', 'postgresql://… or pglite:<data dir> (env DATABASE_URL)')
    .option('--encryption-model <file>', "the generator's output module exporting encryptionModel (default: searched, see below)")
    .option('--model <name>', 'only this model (repeatable, or comma-separated)', collect)
    .option('--field <name>', 'only this field, Model.field or field (repeatable, or comma-separated)', collect)
    .option('--batch-size <n>', 'rows per batch (default 1000)', positiveInt)
    .option('--concurrency <n>', 'batches in flight at once (default 2 on a server, 1 on PGlite)', positiveInt)
    .option('--shard <k/n>', 'only part k of n of the key space (hash of the primary key), to run n processes side by side')
    .option('--max-attempts <n>', 'compare-and-set attempts per row that keeps changing (default 5)', positiveInt)
    .option('--kms-key-id <id>', 'primary KMS key, when there is no config file (env KFE_KMS_KEY_ID)')
    .option('--kms-accepted-key-id <id>', 'older KMS key still accepted for reading (repeatable)', collect)
    .option('--kms-region <region>', 'AWS region (env KFE_KMS_REGION)')
    .option('--kms-endpoint <url>', 'KMS endpoint (VPC endpoint, or a test server)')
    .option('--kms-wrapped-root-key <base64>', 'blind-index root key wrapped by KMS, from keygen (env KFE_KMS_WRAPPED_ROOT_KEY)')
    .option('--scope <id>', 'bind every value of the run to this scope (tenant), as fieldEncryption({ scope }) does; see below')
    .option(
      '--former-key-header <Model.field=column>',
      'the key-header column of a field whose @keyHeader was removed: its short values are read from it (rotate moves them back to format 1); repeatable',
      collectFormerKeyHeader,
    )
    .option('--json', 'print the summary as JSON (progress goes to stderr)')
    .addOption(new Option('--no-progress', 'no progress bars or lines'))
}

const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0    done (status --check: everything is current)',
  '  1    some rows could not be processed (listed), status --check found work left,',
  '       decrypt or shred was not confirmed, or shred was refused (a shared or',
  '       foreign KMS key, KMS denied the call)',
  '  2    the run could not start or had to stop: usage, configuration, database',
  '       or key provider error',
  '  130  interrupted (Ctrl-C, SIGTERM): the batches in flight were finished;',
  '       run the same command again to resume',
].join('\n')

const WHERE_HELP = [
  'Where things come from (first found wins):',
  `  config file         --config, else ./${CONFIG_NAMES[0]}.{ts,mts,cts,js,mjs,cjs}`,
  '  encryption model    --encryption-model, else config.model, else the first of',
  ...MODEL_LOCATIONS.map((m) => `                      ./${m}(.ts|.js|/index.ts|/index.js)`),
  '  database URL        --database-url, else config.databaseUrl, else DATABASE_URL,',
  `                      else datasource.url in ./${PRISMA_CONFIG_NAMES[0]}.{ts,mts,cts,js,mjs,cjs}`,
  '  keys                config.keys, else --kms-key-id/KFE_KMS_KEY_ID and KFE_LOCAL_MASTER_KEY',
].join('\n')

const SCOPE_HELP = [
  'Scopes (per-tenant keys, preview):',
  '  scope keys          config.scopeKeys (awsKmsScopeKeys, localScopeKeys), else the key table',
  '                      kfe_scope_keys of the database, wrapped by the local master key',
  '                      (KFE_LOCAL_MASTER_KEY or the LocalKeyProvider of config.keys)',
  '  status --scope      values of a shredded scope are counted as shredded, not unreadable;',
  '                      status, decrypt and rotate never make a key: an unknown scope is',
  '                      reported as "no key for scope S" (exit 1 for status --check, decrypt)',
  '  --adopt-unscoped    encrypt --scope binds plaintext values to the scope, rotate --scope',
  '                      moves values written without a scope into it: only where every row',
  "                      is that scope's (a database or schema per tenant). Without it, encrypt",
  '                      --scope refuses and rotate --scope leaves them alone (outside scope).',
  '                      It counts them and asks first, unless --yes.',
].join('\n')

/** The version of this package (package.json, next to dist/ and src/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
}

/** A --former-key-header value, checked as the option is parsed (commander reports a bad one). */
function collectFormerKeyHeader(value: string, previous: string[] | undefined): string[] {
  const eq = value.indexOf('=')
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError(`expected Model.field=column, got '${value}'`)
  return [...(previous ?? []), value]
}

/** `Model.field=column` pairs of --former-key-header, by field. */
function formerKeyHeadersOf(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of pairs) out[pair.slice(0, pair.indexOf('=')).trim()] = pair.slice(pair.indexOf('=') + 1).trim()
  return out
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ]
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer')
  return n
}

function describe(err: unknown): string {
  if (err instanceof FieldEncryptionError) return `${err.message} [${err.code}]`
  return err instanceof Error ? err.message : String(err)
}
