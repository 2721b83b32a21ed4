import type { SkipOutcome } from './column-operation'
import type { FailureClass, MigrationSummary } from './migration-summary'

export interface BlindIndexStatus {
  /** The index field. */
  name: string
  current: number
  /** Made under another index version (or, values verified, not matching the plaintext). */
  stale: number
  /** NULL while the field has a value. */
  missing: number
}

/** Where the values of one encrypted column stand. */
export interface ColumnStatus {
  model: string
  field: string
  table: string
  column: string
  rows: number
  /** NULL (or an empty list). */
  null: number
  plaintext: number
  /** Values in prisma-field-encryption's format (convert them with `encrypt --from-pfe-key`). */
  prismaFieldEncryption: number
  /** Encrypted under the primary provider's current key. */
  current: number
  /** Encrypted under another provider or an older key (`rotate` moves them). */
  older: number
  /** Unreadable for another reason than shredding (malformed, unknown provider, wrong key, altered). */
  unreadable: number
  /** Unreadable because their scope's key was shredded (`KFE_SCOPE_KEY_SHREDDED`; `status --scope`). */
  shredded: number
  /** Why values are unreadable (shredded ones included), by reason code. */
  unreadableReasons: FailureClass[]
  blindIndexes: BlindIndexStatus[]
}

export interface StatusReport {
  database: string
  /** The scope (tenant) the run was bound to (`--scope`). */
  scope?: string
  shard?: string
  columns: ColumnStatus[]
  /**
   * Whether the blind-index root key is wrapped under its provider's current key, when the schema
   * has blind indexes and a key provider keeps the root key wrapped (AWS KMS). When not current,
   * `rotate` re-wraps it and prints the value to deploy.
   */
  blindIndexRootKey?: { providerId: string; current: boolean }
  /** Every value is NULL or current, every blind index is current, and so is the root key. */
  complete: boolean
  durationMs: number
}

/** The reason code of values whose scope key was shredded. */
export const SHREDDED_REASON = 'KFE_SCOPE_KEY_SHREDDED'

export function statusReportOf(summary: MigrationSummary): StatusReport {
  const columns = summary.columns.map((c): ColumnStatus => {
    const n = (k: SkipOutcome): number => c.counts[k] ?? 0
    const shredded = c.failures.filter((f) => f.reason === SHREDDED_REASON).reduce((sum, f) => sum + f.count, 0)
    return {
      model: c.model,
      field: c.field,
      table: c.table,
      column: c.column,
      rows: c.rows,
      null: n('null'),
      plaintext: n('plaintext'),
      prismaFieldEncryption: n('prisma-field-encryption'),
      current: n('current'),
      older: n('older'),
      unreadable: c.failed - shredded,
      shredded,
      unreadableReasons: c.failures,
      blindIndexes: Object.entries(c.indexStates).map(([name, states]) => ({ name, ...states })),
    }
  })
  const complete = columns.every(
    (c) =>
      c.plaintext === 0 &&
      c.prismaFieldEncryption === 0 &&
      c.older === 0 &&
      c.unreadable === 0 &&
      c.shredded === 0 &&
      c.blindIndexes.every((b) => b.stale === 0 && b.missing === 0),
  )
  const rootKey = summary.blindIndexRootKey
  return {
    database: summary.database,
    ...(summary.scope !== undefined ? { scope: summary.scope } : {}),
    ...(summary.shard ? { shard: summary.shard } : {}),
    columns,
    ...(rootKey ? { blindIndexRootKey: { providerId: rootKey.providerId, current: rootKey.current } } : {}),
    complete: complete && !summary.interrupted && rootKey?.current !== false,
    durationMs: summary.durationMs,
  }
}
