import type { BlindIndexer } from '../blind-index/blind-indexer'
import type { EnvelopeEncryptor, FieldValue } from '../engine/envelope-encryptor'
import { fail, skip, valueOf, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { decryptEach } from './decrypt-each'
import { withHeader } from '../format/header-rewrite'
import { keyHeaderOfV1 } from '../format/short-format'
import { looksOurs, readAnyHeader } from '../format/stored-form'
import { IndexWritingOperation } from './index-writing-operation'
import { isFatal } from './row-failure'
import { writtenOutsideScope } from './scoped-data-key-currency'
import type { RunScopes } from './run-scopes'
import { sealEach } from './seal-each'
import { scoped } from './scoped-value'
import type { RowFilter, StoredRow } from './sql-database'

export interface RotateOptions {
  /** Only recompute blind indexes; leave the values under the keys they have. */
  indexesOnly?: boolean
  /**
   * Decrypt every row and recompute its indexes, not only those missing or of another version
   * (after a change of normalisation or root key made without a new index version).
   */
  verifyIndexes?: boolean
  /**
   * In a run with a scope: move values written without a scope into it. Without, a row holding
   * such a value is left alone (`outside scope`): on a table shared by tenants it may be another's.
   * A row-scoped model's rows need no such consent: their scope column says whose they are.
   */
  adoptUnscoped?: boolean
}

/**
 * `rotate`: brings every encrypted value to the primary provider's current key.
 * - Same provider, and it can re-wrap (AWS KMS): the data key is re-wrapped with ReEncrypt (once
 *   per data key) and only the value's header is rewritten; no plaintext on the client.
 * - Otherwise (another provider, e.g. local -> KMS; or an older local master key): the value is
 *   decrypted and encrypted again under a fresh data key.
 * Blind indexes that are missing or of another index version are recomputed from the plaintext
 * (decrypting the value for that); with a new root key, configure a new index version.
 * Plaintext values are left to `encrypt`. A row-scoped model's values are brought to their row's
 * scope's current key; values written before the model was row-scoped are moved into it.
 * Format version 2: a field with a key header gets short values (its version 1 values are sealed
 * again, each with its key header, in the same statement); a short value whose data key KMS
 * re-wraps keeps its bytes and only its row's key header is rewritten. A field without one gets
 * version 1 values: its short values (read with `formerKeyHeaders`) are sealed again in version 1
 * and the former key-header column set to NULL.
 */
export class RotateOperation extends IndexWritingOperation {
  readonly name = 'rotate'

  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    scopes: RunScopes,
    indexer: BlindIndexer | undefined,
    private readonly options: RotateOptions = {},
  ) {
    super(indexer, scopes)
  }

  filterFor(): RowFilter {
    return 'encrypted'
  }

  async process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]> {
    const { at, indexes, outcomes, elements, scopes } = this.startBatch(target, rows)
    const adopt = this.options.adoptUnscoped === true || this.scopes.rowScoped(target)
    const how: Array<'rewrapped' | 'reencrypted' | 'reindexed' | undefined> = new Array(rows.length)
    const toOpen: FieldValue[] = []
    const openSpots: Array<{ row: number; element: number; reseal: boolean; unscoped?: boolean }> = []
    // The key header written with a row's new value (null: the column set to NULL); undefined: kept.
    const keyHeaderOf: Array<string | null | undefined> = new Array(rows.length)
    const shortForm = target.ctx.shortForm === true

    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!
      const els = elements[r]
      if (!els) continue
      const reindex = indexes.any && (this.options.verifyIndexes === true || indexes.needsRecompute(row))
      const pending: Array<{ element: number; reseal: boolean; unscoped?: boolean }> = []
      let failed: RowOutcome | undefined
      let outside = false
      let encrypted = 0
      for (let j = 0; j < els.length && !failed; j++) {
        const e = els[j]
        if (!looksOurs(e)) continue
        encrypted++
        try {
          // A short value (version 2) is read with its row's key header (KFE_KEY_HEADER_MISSING without one).
          const { headerId, header, short } = readAnyHeader(e, target.ctx, row.keyHeader)
          const state = this.options.indexesOnly
            ? { state: 'current' as const }
            : await this.scopes.currency(scopes[r]).of(headerId, header, at)
          // A value not in its field's form (version 1 in a field with a key header, or the reverse) is sealed again.
          const otherForm = !this.options.indexesOnly && short !== shortForm
          if (state.state === 'older' && state.rewrapped && !otherForm) {
            // Re-wrapped by the provider: the value keeps its body; a short value keeps even its bytes
            // (the key id is the commitment's), only its row's key header changes.
            if (short) keyHeaderOf[r] = keyHeaderOfV1(state.rewrapped)
            else {
              els[j] = withHeader(e, state.rewrapped, target.ctx)
              keyHeaderOf[r] = null
            }
            how[r] ??= 'rewrapped'
            if (reindex) pending.push({ element: j, reseal: false })
          } else if (state.state === 'older' || otherForm) {
            // In a scoped run, a value written without the scope is opened unscoped and sealed into the scope
            // (with adoptUnscoped; else its row is left alone, indexes included).
            const unscoped = await writtenOutsideScope(this.scopes.currency(scopes[r]), header, at)
            if (unscoped && !adopt) outside = true
            pending.push({ element: j, reseal: true, unscoped })
          } else if (reindex) {
            pending.push({ element: j, reseal: false })
          }
        } catch (err) {
          if (isFatal(err)) throw err
          failed = fail(err)
        }
      }
      if (failed) {
        outcomes[r] = failed
        continue
      }
      if (encrypted === 0) {
        outcomes[r] = skip('plaintext')
        continue
      }
      if (outside) {
        outcomes[r] = skip('outside scope')
        continue
      }
      for (const p of pending) {
        toOpen.push(scoped({ value: els[p.element], ctx: target.ctx, keyHeader: row.keyHeader }, p.unscoped ? undefined : scopes[r]))
        openSpots.push({ row: r, ...p })
      }
    }

    // Values that must be decrypted: to encrypt them again, or to recompute their indexes.
    const opened = await decryptEach(this.encryptor, toOpen)
    const reseal: FieldValue[] = []
    const resealSpots: Array<{ row: number; element: number }> = []
    const plaintextOf = new Array<unknown>(rows.length)
    opened.forEach((result, i) => {
      const { row, element, reseal: again } = openSpots[i]!
      if (outcomes[row]) return
      if (!result.ok) {
        outcomes[row] = fail(result.error)
        return
      }
      if (!target.isList) plaintextOf[row] = result.value
      if (again) {
        reseal.push(scoped({ value: result.value, ctx: target.ctx }, scopes[row]))
        resealSpots.push({ row, element })
      }
    })
    if (reseal.length > 0) {
      const sealed = await sealEach(this.encryptor, reseal)
      sealed.forEach((result, i) => {
        const { row, element } = resealSpots[i]!
        if (outcomes[row]) return
        if (!result.ok) {
          outcomes[row] = fail(result.error)
          return
        }
        elements[row]![element] = result.value
        keyHeaderOf[row] = result.keyHeader ?? null
        how[row] = 'reencrypted'
      })
    }

    rows.forEach((row, r) => {
      if (outcomes[r]) return
      const plain = plaintextOf[r]
      const newIndexes = indexes.any && typeof plain === 'string' ? changedIndexes(row, indexes.compute(plain, scopes[r])) : undefined
      if (!how[r] && !newIndexes) {
        outcomes[r] = skip('current')
        return
      }
      const value = how[r] ? valueOf(target, elements[r]!) : row.value
      const keyHeader = target.keyHeader && how[r] ? keyHeaderOf[r] : undefined
      outcomes[r] = {
        kind: 'write',
        value,
        as: how[r] ?? 'reindexed',
        ...(newIndexes ? { indexes: newIndexes } : {}),
        ...(keyHeader !== undefined ? { keyHeader } : {}),
      }
    })
    return outcomes
  }
}

/** The index values that differ from what the row holds, or undefined when none does. */
function changedIndexes(row: StoredRow, fresh: Record<string, string>): Record<string, string> | undefined {
  const changed = Object.entries(fresh).filter(([column, value]) => row.indexes[column] !== value)
  return changed.length > 0 ? Object.fromEntries(changed) : undefined
}
