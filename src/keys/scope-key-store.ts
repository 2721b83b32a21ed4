/**
 * Where `localScopeKeys` keeps the key of each scope: a key table in the application's own
 * database (`kfe_scope_keys`), behind this interface. One row per scope, never updated except by
 * `delete` (shredding), which keeps the row as a tombstone: its wrapped key is erased and
 * `shreddedAt` set, so a shredded scope can never be re-created by a later write.
 */
export interface ScopeKeyRecord {
  /** The id of the master key provider that wrapped `wrappedKey` (e.g. `local`). */
  providerId: string
  /** The scope key wrapped under the master key; null once shredded. */
  wrappedKey: Buffer | null
  /** When the scope was shredded; null or undefined while it is live. */
  shreddedAt?: Date | null
  createdAt?: Date
}

export interface ScopeKeyStore {
  /** The record of a scope (live or tombstone), or undefined when the scope has none yet. */
  get(scope: string): Promise<ScopeKeyRecord | undefined>
  /**
   * Inserts the record unless the scope already has one (live or tombstone): true when this call
   * inserted it. A concurrent creator's record wins; the caller then reads it back.
   */
  putIfAbsent(scope: string, record: ScopeKeyRecord): Promise<boolean>
  /**
   * Shreds a scope: erases its wrapped key and marks the row shredded (a tombstone, inserted if
   * the scope had no row, so the scope cannot be created later). Idempotent.
   */
  delete(scope: string): Promise<void>
}

/** A store in process memory: for tests and for trying things out (keys are lost on exit). */
export class MemoryScopeKeyStore implements ScopeKeyStore {
  private readonly rows = new Map<string, ScopeKeyRecord>()

  async get(scope: string): Promise<ScopeKeyRecord | undefined> {
    const row = this.rows.get(scope)
    return row && { ...row, wrappedKey: row.wrappedKey && Buffer.from(row.wrappedKey) }
  }

  async putIfAbsent(scope: string, record: ScopeKeyRecord): Promise<boolean> {
    if (this.rows.has(scope)) return false
    this.rows.set(scope, {
      ...record,
      wrappedKey: record.wrappedKey && Buffer.from(record.wrappedKey),
      createdAt: record.createdAt ?? new Date(),
    })
    return true
  }

  async delete(scope: string): Promise<void> {
    const row = this.rows.get(scope)
    row?.wrappedKey?.fill(0)
    this.rows.set(scope, {
      providerId: row?.providerId ?? '',
      wrappedKey: null,
      shreddedAt: row?.shreddedAt ?? new Date(),
      createdAt: row?.createdAt,
    })
  }
}
