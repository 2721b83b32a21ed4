import type { BlindIndexer } from '../blind-index/blind-indexer'
import type { EnvelopeEncryptor, FieldValue } from '../engine/envelope-encryptor'
import { ColumnBlindIndexes } from './column-blind-indexes'
import { elementsOf, fail, skip, type ColumnOperation, type IndexStateOfRow, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { decryptEach } from './decrypt-each'
import { looksOurs, readAnyHeader } from '../format/stored-form'
import { looksLikePfeValue } from './pfe-keychain'
import { isFatal } from './row-failure'
import { writtenOutsideScope } from './scoped-data-key-currency'
import { scopesOf, type RunScopes } from './run-scopes'
import { scoped } from './scoped-value'
import type { RowFilter, StoredRow } from './sql-database'

/** The state of a row's value in `status`, worst first for a list (its worst element counts). */
type ValueStateName = 'plaintext' | 'prisma-field-encryption' | 'current' | 'older'
const RANK: Record<ValueStateName, number> = { current: 0, older: 1, plaintext: 2, 'prisma-field-encryption': 3 }

/**
 * `status`: classifies every row, writes nothing. A value is `current` (primary provider, current
 * key), `older`, `plaintext`, a `prisma-field-encryption` value, or `unreadable` (malformed,
 * unknown provider, a key that cannot unwrap it; and with `verify`, a body that fails
 * authentication: each value is decrypted). Blind indexes are `current`, `stale` or `missing`.
 * A short value (format version 2) is read with its row's key header: without one (NULL or empty)
 * it is unreadable (`KFE_KEY_HEADER_MISSING`); a value not in its field's form is `older`.
 */
export class StatusOperation implements ColumnOperation {
  readonly name = 'status'
  private readonly indexes = new Map<ColumnTarget, ColumnBlindIndexes>()

  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    /** The scope each row's values are read, and its indexes verified, as. */
    private readonly scopes: RunScopes,
    private readonly verify: boolean,
    private readonly indexer?: BlindIndexer,
  ) {}

  filterFor(): RowFilter {
    return 'all'
  }

  async prepare(target: ColumnTarget): Promise<void> {
    const indexes = new ColumnBlindIndexes(this.indexer, target)
    // Without the root key the index states are judged by presence and version only.
    if (this.verify) await indexes.load().catch(() => undefined)
    this.indexes.set(target, indexes)
  }

  async process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]> {
    const indexes = this.indexes.get(target) ?? new ColumnBlindIndexes(undefined, target)
    const outcomes: RowOutcome[] = new Array(rows.length)
    const states: Array<ValueStateName | undefined> = new Array(rows.length)
    const toOpen: FieldValue[] = []
    const openRows: number[] = []
    const plaintextOf = new Array<unknown>(rows.length)
    const elements = rows.map((row, r) => {
      const els = elementsOf(target, row.value)
      if (!els || els.length === 0) outcomes[r] = skip('null')
      return els
    })
    // A row-scoped row without a scope fails here (KFE_SCOPE_REQUIRED).
    const scopes = scopesOf(this.scopes, target, rows, { outcomes, elements })

    for (let r = 0; r < rows.length; r++) {
      const els = elements[r]
      if (!els || outcomes[r]) continue
      const scope = scopes[r]
      const currency = this.scopes.currency(scope)
      let worst: ValueStateName = 'current'
      for (const e of els) {
        let state: ValueStateName
        if (e === null || e === undefined) continue
        if (!looksOurs(e)) {
          state = looksLikePfeValue(e) ? 'prisma-field-encryption' : 'plaintext'
          if (!target.isList) plaintextOf[r] = e
        } else {
          try {
            // A short value (version 2) is judged by its row's key header (KFE_KEY_HEADER_MISSING without one).
            state = await this.encryptor.classify(e, target.ctx, currency, rows[r]!.keyHeader)
          } catch (err) {
            if (isFatal(err)) throw err
            outcomes[r] = fail(err)
            break
          }
          if (this.verify) {
            const keyHeader = rows[r]!.keyHeader
            const unscoped =
              state === 'older' && (await writtenOutsideScope(currency, readAnyHeader(e, target.ctx, keyHeader).header, target.ctx))
            toOpen.push(scoped({ value: e, ctx: target.ctx, keyHeader }, unscoped ? undefined : scope))
            openRows.push(r)
          }
        }
        if (RANK[state] > RANK[worst]) worst = state
      }
      states[r] = worst
    }

    const opened = await decryptEach(this.encryptor, toOpen)
    opened.forEach((result, i) => {
      const r = openRows[i]!
      if (outcomes[r]) return
      if (!result.ok) outcomes[r] = fail(result.error)
      else if (!target.isList) plaintextOf[r] = result.value
    })

    rows.forEach((row, r) => {
      if (outcomes[r]?.kind === 'skip') return
      let indexStates: IndexStateOfRow[] | undefined
      if (indexes.any && row.value !== null && row.value !== undefined) {
        const plain = plaintextOf[r]
        indexStates = indexes.named(
          typeof plain === 'string' && this.indexer?.loaded ? indexes.verifiedStatesOf(row, plain, scopes[r]) : indexes.statesOf(row),
        )
      }
      const failed = outcomes[r]
      outcomes[r] = failed ? { ...failed, ...(indexStates ? { indexStates } : {}) } : skip(states[r]!, indexStates)
    })
    return outcomes
  }
}
