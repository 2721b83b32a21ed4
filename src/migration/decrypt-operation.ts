import type { EnvelopeEncryptor, FieldValue } from '../engine/envelope-encryptor'
import { fail, skip, startBatch, valueOf, type ColumnOperation, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { decryptEach } from './decrypt-each'
import { looksOurs, readAnyHeader } from '../format/stored-form'
import { isFatal } from './row-failure'
import { writtenOutsideScope } from './scoped-data-key-currency'
import { scopesOf, type RunScopes } from './run-scopes'
import { scoped } from './scoped-value'
import type { RowFilter, StoredRow } from './sql-database'

/**
 * `decrypt`: writes the plaintext back in place of every encrypted value (leaving the library,
 * or disaster recovery). Blind index columns are left as they are (drop them with the
 * annotations). A value that cannot be decrypted fails its row and is left untouched. A short
 * value (format version 2) is opened with its row's key header, and the key-header column is set
 * to NULL with the plaintext.
 */
export class DecryptOperation implements ColumnOperation {
  readonly name = 'decrypt'

  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    /** The scope each row's values were sealed under. */
    private readonly scopes: RunScopes,
  ) {}

  filterFor(): RowFilter {
    return 'encrypted'
  }

  async process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]> {
    const batch = startBatch(target, rows)
    const { outcomes, elements } = batch
    const scopes = scopesOf(this.scopes, target, rows, batch)
    const items: FieldValue[] = []
    const spots: Array<{ row: number; element: number }> = []
    const unscopedRows = new Set<number>()
    for (let r = 0; r < rows.length; r++) {
      const els = elements[r]
      if (!els) continue
      const scope = scopes[r]
      let any = false
      for (let j = 0; j < els.length && !outcomes[r]; j++) {
        const e = els[j]
        if (!looksOurs(e)) continue
        any = true
        // In a scoped run, a value written before scopes (`older` in status) is opened unscoped, as rotate does.
        let unscoped = false
        try {
          // A short value (version 2) needs its row's key header, well-formed and paired with it, even
          // when its data key is cached from another row: the outcome never depends on the order rows are read.
          const { header } = readAnyHeader(e, target.ctx, rows[r]!.keyHeader)
          unscoped = scope !== undefined && (await writtenOutsideScope(this.scopes.currency(scope), header, target.ctx))
        } catch (err) {
          if (isFatal(err)) throw err
          outcomes[r] = fail(err)
          break
        }
        if (unscoped) unscopedRows.add(r)
        items.push(scoped({ value: e, ctx: target.ctx, keyHeader: rows[r]!.keyHeader }, unscoped ? undefined : scope))
        spots.push({ row: r, element: j })
      }
      if (!any) outcomes[r] = skip('plaintext')
    }
    const opened = await decryptEach(this.encryptor, items)
    opened.forEach((result, i) => {
      const { row, element } = spots[i]!
      if (outcomes[row]) return
      if (!result.ok) outcomes[row] = fail(result.error)
      else elements[row]![element] = result.value
    })
    rows.forEach((_, r) => {
      if (!outcomes[r])
        outcomes[r] = {
          kind: 'write',
          value: valueOf(target, elements[r]!),
          as: unscopedRows.has(r) ? 'decrypted (written without a scope)' : 'decrypted',
          // The key header has nothing left to open: NULL, in the same statement.
          ...(target.keyHeader ? { keyHeader: null } : {}),
        }
    })
    return outcomes
  }
}
