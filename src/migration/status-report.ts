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
  unreadable: number
  /** Why values are unreadable, by reason code. */
  unreadableReasons: FailureClass[]
  blindIndexes: BlindIndexStatus[]
}

export interface StatusReport {
  database: string
  shard?: string
  columns: ColumnStatus[]
  /** Every value is NULL or current and every blind index is current. */
  complete: boolean
  durationMs: number
}

export function statusReportOf(summary: MigrationSummary): StatusReport {
  const columns = summary.columns.map((c): ColumnStatus => {
    const n = (k: string): number => c.counts[k] ?? 0
    const indexes = new Map<string, BlindIndexStatus>()
    for (const [note, count] of Object.entries(c.notes)) {
      const m = /^index (.+): (current|stale|missing)$/.exec(note)
      if (!m) continue
      let s = indexes.get(m[1]!)
      if (!s) indexes.set(m[1]!, (s = { name: m[1]!, current: 0, stale: 0, missing: 0 }))
      s[m[2] as 'current' | 'stale' | 'missing'] += count
    }
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
      unreadable: c.failed,
      unreadableReasons: c.failures,
      blindIndexes: [...indexes.values()],
    }
  })
  const complete = columns.every(
    (c) => c.plaintext === 0 && c.prismaFieldEncryption === 0 && c.older === 0 && c.unreadable === 0 && c.blindIndexes.every((b) => b.stale === 0 && b.missing === 0),
  )
  return {
    database: summary.database,
    ...(summary.shard ? { shard: summary.shard } : {}),
    columns,
    complete: complete && !summary.interrupted,
    durationMs: summary.durationMs,
  }
}
