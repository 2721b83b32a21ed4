import type { BlindIndexField } from '../blind-index/blind-index-field'
import type { BlindIndexTicket } from '../blind-index/blind-index-batch'

/**
 * Where a write that sets a unique blind-indexed source sits, which decides what a row holding
 * the same value under a previous index version means:
 * - `create`: any such row is a duplicate;
 * - `upsert-create`: a duplicate only if the upsert's target does not exist (else it updates);
 * - `update`, `upsert-update`: a duplicate unless it is the row being updated;
 * - `unchecked`: nested update/upsert/connectOrCreate and updateMany (documented gap).
 */
export type UniqueWriteScope = 'create' | 'upsert-create' | 'update' | 'upsert-update' | 'unchecked'

export interface UniqueWrite {
  field: BlindIndexField
  /** The index written (current version). */
  write: BlindIndexTicket
  /** The value's index under every configured version. */
  match: BlindIndexTicket
  scope: Exclude<UniqueWriteScope, 'unchecked'>
}

/** Reads rows of a model through the client being extended, in the query's transaction. */
export interface RowReader {
  /** Primary keys of rows whose index column holds one of `values`. */
  keysWithIndex(field: BlindIndexField, values: string[]): Promise<string[]>
  /** Primary key of the row a WhereUniqueInput names, or undefined. */
  keyOfUnique(model: string, where: unknown): Promise<string | undefined>
}

/** Thrown like the database's own unique violation, so applications that handle P2002 keep working. */
export type UniqueViolation = (field: BlindIndexField, version: string) => Error

/**
 * While a previous index version is configured, `@unique` on the index column cannot see a row
 * that holds the same value under the old version: this check reads for one before the write
 * (in the same transaction when there is one). A row written concurrently by another transaction
 * between this read and the write is not seen (the remaining race; the database's constraint
 * still catches equal versions).
 */
export async function checkUniqueAcrossVersions(
  writes: readonly UniqueWrite[],
  where: unknown,
  model: string,
  reader: RowReader,
  violation: UniqueViolation,
): Promise<void> {
  let target: Promise<string | undefined> | undefined
  const targetKey = () => (target ??= reader.keyOfUnique(model, where))
  for (const w of writes) {
    const current = w.write.hashes[0]
    const previous = w.match.hashes.filter((h) => h !== current)
    if (previous.length === 0) continue
    const holders = await reader.keysWithIndex(w.field, previous)
    if (holders.length === 0) continue
    const version = previous.find(Boolean)!.split(':')[0]!
    if (w.scope === 'create') throw violation(w.field, version)
    const key = await targetKey()
    if (w.scope === 'upsert-create' && key === undefined) throw violation(w.field, version)
    const updatesAnother = key !== undefined && holders.some((h) => h !== key)
    if ((w.scope === 'update' || w.scope === 'upsert-update') && updatesAnother) throw violation(w.field, version)
  }
}
