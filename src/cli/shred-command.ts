import { DescribeKeyCommand, ScheduleKeyDeletionCommand, type KMSClient } from '@aws-sdk/client-kms'
import { resolveKeyConfig, type ConfigFlags } from '../config/resolve-config'
import { ConfigurationError } from '../errors'
import { checkScope, type ScopeKeys } from '../keys/scope-keys'
import { openDatabase, redactUrl } from '../migration/open-database'
import { SCOPE_KEY_TABLE } from '../migration/sql-scope-key-store'
import type { CliIo } from './cli-io'
import { EXIT_OK, EXIT_ROWS_FAILED, hasNoKey } from './migration-command'

export interface ShredFlags extends ConfigFlags {
  scope: string
  yes?: boolean
  pendingDays?: number
  json?: boolean
}

/** What `shred` did, as printed with --json. */
interface ShredResult {
  scope: string
  /** `local`: the key-table row is a tombstone; `kms`: the KMS key is scheduled for deletion. */
  kind: 'local' | 'kms'
  done: boolean
  keyId?: string
  deletionDate?: string
  pendingDays?: number
  message: string
}

/** The scope keys `shred` can act on: a local key table (`shred`), or KMS keys (`keyOf`, `client`). */
interface Shreddable extends ScopeKeys {
  shred?: (scope: string) => Promise<void>
  keyOf?: (scope: string) => { keyId: string; shared: boolean } | undefined
  client?: KMSClient
  destroy?: () => void
}

/**
 * `shred --scope <id>`: destroys a scope's key, so that every value of that scope becomes
 * unreadable. With the local key table the scope's row becomes a tombstone (wrapped key erased);
 * with `awsKmsScopeKeys` in the config, the scope's KMS key is scheduled for deletion
 * (`--pending-days`, 7 to 30). Asks for confirmation unless `--yes`. Exit 0 done, 1 not done
 * (not confirmed, a shared or foreign key, KMS refused), 2 could not start.
 */
export async function shred(flags: ShredFlags, io: CliIo): Promise<number> {
  const scope = checkScope(flags.scope)
  const pendingDays = flags.pendingDays ?? 30
  if (!Number.isInteger(pendingDays) || pendingDays < 7 || pendingDays > 30)
    throw new ConfigurationError('--pending-days must be a whole number of days from 7 to 30')
  const config = await resolveKeyConfig(flags, io.env, io.cwd)
  const database = await openDatabase(config.databaseUrl, { connections: 1 })
  let scopeKeys: Shreddable | undefined
  let view: ScopeKeys | undefined
  try {
    scopeKeys = (await config.scopeKeys(database)) as Shreddable
    const kms = typeof scopeKeys.keyOf === 'function' && scopeKeys.client !== undefined
    if (!kms && typeof scopeKeys.shred !== 'function')
      throw new ConfigurationError('config.scopeKeys can neither shred (localScopeKeys) nor name a KMS key (awsKmsScopeKeys)')
    if (!kms) {
      // A scope the key table never had: nothing to destroy (and no key is made to find out).
      view = await config.scopeKeys(database, { readOnly: true })
      if (await hasNoKey(view, scope)) {
        return report(io, flags, {
          scope,
          kind: 'local',
          done: false,
          message: `no key for scope '${scope}' in ${SCOPE_KEY_TABLE} of ${redactUrl(config.databaseUrl)}: nothing was done (is the scope id right?)`,
        })
      }
    }
    const key = kms ? scopeKeys.keyOf!(scope) : undefined
    if (kms && !key) throw new ConfigurationError(`scope '${scope}' has no KMS key (keyIdFor gave none, and no defaultKeyId)`)
    if (key?.shared) {
      return report(io, flags, {
        scope,
        kind: 'kms',
        done: false,
        keyId: key.keyId,
        message:
          `scope '${scope}' has no key of its own: it uses the shared defaultKeyId ${key.keyId}, whose deletion would shred every scope on it. ` +
          `Nothing was done. Give the scope its own key (keyIdFor) and move its values with \`rotate --scope ${scope}\`, or delete its rows.`,
      })
    }
    const what = key
      ? `This schedules the deletion of KMS key ${key.keyId} (scope '${scope}') in ${pendingDays} days: after that, every value of the scope is unreadable for good.`
      : `This erases the key of scope '${scope}' from ${SCOPE_KEY_TABLE} in ${redactUrl(config.databaseUrl)}: every value of the scope becomes unreadable for good.`
    if (!flags.yes) {
      if (!io.confirm) throw new ConfigurationError('shred destroys a key: confirm with --yes (no terminal to ask on)')
      if (!(await io.confirm(`${what}\nType "yes" to go on: `))) {
        io.stderr.write('Nothing was done.\n')
        return EXIT_ROWS_FAILED
      }
    }
    if (!key) {
      await scopeKeys.shred!(scope)
      return report(io, flags, {
        scope,
        kind: 'local',
        done: true,
        message:
          `scope '${scope}': its key in ${SCOPE_KEY_TABLE} is now a tombstone (wrapped key erased; the scope cannot be re-created). ` +
          'Running processes stop using it within their cache lifetimes (or call encryptor.forgetScope). ' +
          'Backups of the key table taken before now still hold the key, wrapped under the master key (see the README).',
      })
    }
    return await scheduleDeletion(io, flags, scopeKeys.client!, scope, key.keyId, pendingDays)
  } finally {
    view?.destroy?.()
    scopeKeys?.destroy?.()
    await config.destroyKeys()
    await database.close()
  }
}

async function scheduleDeletion(
  io: CliIo,
  flags: ShredFlags,
  client: KMSClient,
  scope: string,
  keyId: string,
  days: number,
): Promise<number> {
  const base = { scope, kind: 'kms' as const, keyId }
  try {
    let target = keyId
    if (/^alias\/|:alias\//.test(keyId)) {
      // ScheduleKeyDeletion takes a key id or ARN, not an alias: delete the key the alias points to, if it is a customer key.
      const meta = (await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata
      if (meta?.KeyManager === 'AWS') {
        return report(io, flags, {
          ...base,
          done: false,
          message: `${keyId} points to an AWS managed key, which cannot be deleted. Nothing was done. Give the scope a customer managed key of its own.`,
        })
      }
      target = meta?.Arn ?? meta?.KeyId ?? keyId
    }
    const out = await client.send(new ScheduleKeyDeletionCommand({ KeyId: target, PendingWindowInDays: days }))
    const date = out.DeletionDate ? new Date(out.DeletionDate).toISOString() : undefined
    return report(io, flags, {
      ...base,
      keyId: out.KeyId ?? target,
      done: true,
      ...(date ? { deletionDate: date } : {}),
      pendingDays: out.PendingWindowInDays ?? days,
      message:
        `scope '${scope}': KMS key ${out.KeyId ?? target} is scheduled for deletion${date ? ` on ${date}` : ''}. ` +
        `Until then its values fail with KFE_KEY_PENDING_DELETION, and CancelKeyDeletion would make them readable again. ` +
        'Delete the alias too, if the scope had one.',
    })
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error'
    const why =
      name === 'AccessDeniedException'
        ? 'KMS denied the call: the key may not be ours to delete (a tenant-owned key, BYOK, or a key policy without kms:ScheduleKeyDeletion for this role). Ask the key owner to schedule its deletion, or to revoke this account’s access to it (key policy, grants): either makes the scope’s values unreadable.'
        : name === 'NotFoundException'
          ? 'KMS does not know this key (wrong region or account, or it was deleted already).'
          : name === 'KMSInvalidStateException'
            ? 'the key is in a state that cannot be scheduled for deletion (already pending deletion?).'
            : 'the call failed.'
    return report(io, flags, {
      ...base,
      done: false,
      message: `scope '${scope}': ScheduleKeyDeletion of ${keyId} failed (${name}): ${why} Nothing was done.`,
    })
  }
}

function report(io: CliIo, flags: ShredFlags, result: ShredResult): number {
  io.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.message}\n`)
  return result.done ? EXIT_OK : EXIT_ROWS_FAILED
}
