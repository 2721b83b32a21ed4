import type { BlindIndexer } from '../blind-index/blind-indexer'
import type { EnvelopeEncryptor } from '../engine/envelope-encryptor'
import { ColumnBlindIndexes } from './column-blind-indexes'
import type { ColumnOperation, RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { RotateOperation } from './rotate-operation'
import type { RunScopes } from './run-scopes'
import type { RowFilter, StoredRow } from './sql-database'

/**
 * `recomputeBlindIndexes`: rotate with indexes only (values stay under the keys they have),
 * narrowed to what recompute does: reads the rows whose indexes need work (every row with `all`),
 * clears indexes set on a NULL value, and indexes plaintext values when the encryptor reads
 * plaintext (a column being encrypted).
 */
export class RecomputeOperation implements ColumnOperation {
  readonly name = 'recompute'
  private readonly rotate: RotateOperation
  private readonly indexes = new Map<ColumnTarget, ColumnBlindIndexes>()

  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    private readonly indexer: BlindIndexer,
    /** Decrypt and check every row, not only those whose index is missing, stray or on another version. */
    private readonly all: boolean,
    /** The scope of each row (a row-scoped model's own, or the run's): values read and indexes written with it. */
    private readonly scopes: RunScopes,
  ) {
    const options = { indexesOnly: true, verifyIndexes: all }
    this.rotate = new RotateOperation(encryptor, scopes, indexer, options)
  }

  filterFor(): RowFilter {
    return this.all ? 'all' : { indexesNotOnVersion: this.indexer.version }
  }

  async prepare(target: ColumnTarget): Promise<void> {
    await this.rotate.prepare(target)
    this.indexes.set(target, new ColumnBlindIndexes(this.indexer, target))
  }

  async process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]> {
    const indexes = this.indexes.get(target)!
    const outcomes = await this.rotate.process(target, rows)
    rows.forEach((row, r) => {
      const o = outcomes[r]!
      if (o.kind === 'skip' && o.as === 'null') {
        const stray = indexes.fields.filter((f) => row.indexes[f.column] !== null && row.indexes[f.column] !== undefined)
        if (stray.length > 0)
          outcomes[r] = {
            kind: 'write',
            value: row.value,
            as: 'reindexed',
            indexes: Object.fromEntries(stray.map((f) => [f.column, null])),
          }
      } else if (o.kind === 'skip' && o.as === 'plaintext' && this.encryptor.readsPlaintext(target.ctx) && typeof row.value === 'string') {
        const fresh = Object.entries(indexes.compute(row.value, this.scopes.of(target, row))).filter(
          ([column, value]) => row.indexes[column] !== value,
        )
        if (fresh.length > 0) outcomes[r] = { kind: 'write', value: row.value, as: 'reindexed', indexes: Object.fromEntries(fresh) }
      }
    })
    return outcomes
  }
}
