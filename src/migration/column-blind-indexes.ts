import type { BlindIndexField } from '../blind-index/blind-index-field'
import type { BlindIndexer } from '../blind-index/blind-indexer'
import { storedIndexVersion } from '../blind-index/stored-index-format'
import type { IndexState, IndexStateOfRow } from './column-operation'
import type { ColumnTarget } from './column-target'
import type { StoredRow } from './sql-database'

/**
 * The blind indexes of one encrypted column, for the migration: which rows need their indexes
 * (re)computed, and the values to store. An index is `missing` when its column is NULL while the
 * field has a value, `stale` when it was made under another index version than the configured
 * one (or, when the plaintext is known, does not match it), `current` otherwise.
 */
export class ColumnBlindIndexes {
  readonly fields: BlindIndexField[]

  constructor(
    private readonly indexer: BlindIndexer | undefined,
    target: ColumnTarget,
  ) {
    this.fields =
      indexer && target.kind === 'text' && !target.isList
        ? target.blindIndexes.map((b) => indexer.indexNamed(target.model, b.name)).filter((f): f is BlindIndexField => f !== undefined)
        : []
  }

  get any(): boolean {
    return this.fields.length > 0
  }

  async load(): Promise<void> {
    if (this.any) await this.indexer!.load()
  }

  /** States without the plaintext: by presence and version only. */
  statesOf(row: StoredRow): IndexState[] {
    return this.fields.map((f) => {
      const stored = row.indexes[f.column]
      if (stored === null || stored === undefined) return 'missing'
      return storedIndexVersion(stored) === this.indexer!.version ? 'current' : 'stale'
    })
  }

  /** States knowing the plaintext (of a value of `scope`): a current-version index that does not match it is stale. */
  verifiedStatesOf(row: StoredRow, plaintext: string, scope: string | undefined): IndexState[] {
    const fresh = this.compute(plaintext, scope)
    return this.fields.map((f) => {
      const stored = row.indexes[f.column]
      if (stored === null || stored === undefined) return 'missing'
      return stored === fresh[f.column] ? 'current' : 'stale'
    })
  }

  /** Whether any index of the row must be (re)computed, judged without the plaintext. */
  needsRecompute(row: StoredRow): boolean {
    return this.statesOf(row).some((s) => s !== 'current')
  }

  /** The current-version index values of a plaintext of `scope` (each scope has its own index keys), by column. */
  compute(plaintext: string, scope: string | undefined): Record<string, string> {
    const out: Record<string, string> = {}
    for (const f of this.fields) out[f.column] = this.indexer!.compute(f, plaintext, scope)
    return out
  }

  /** The states by index name, for `status`. */
  named(states: readonly IndexState[]): IndexStateOfRow[] {
    return this.fields.map((f, i) => ({ index: f.index, state: states[i]! }))
  }
}

/** The blind indexes of each column an operation works on, loaded once per column. */
export class BlindIndexesPerColumn {
  private readonly byTarget = new Map<ColumnTarget, ColumnBlindIndexes>()

  async prepare(indexer: BlindIndexer | undefined, target: ColumnTarget): Promise<void> {
    const indexes = new ColumnBlindIndexes(indexer, target)
    await indexes.load()
    this.byTarget.set(target, indexes)
  }

  of(target: ColumnTarget): ColumnBlindIndexes {
    return this.byTarget.get(target) ?? new ColumnBlindIndexes(undefined, target)
  }
}
