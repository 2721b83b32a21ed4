import type { EnvelopeEncryptor, FieldValue } from '../engine/envelope-encryptor'
import { fail, skip, startBatch, valueOf, type ColumnOperation, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { decryptEach } from './decrypt-each'
import { looksEncrypted } from '../format/envelope-format'
import { scoped } from './scoped-value'
import type { RowFilter, StoredRow } from './sql-database'

/**
 * `decrypt`: writes the plaintext back in place of every encrypted value (leaving the library,
 * or disaster recovery). Blind index columns are left as they are (drop them with the
 * annotations). A value that cannot be decrypted fails its row and is left untouched.
 */
export class DecryptOperation implements ColumnOperation {
  readonly name = 'decrypt'

  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    /** The scope of a run bound to one (`--scope`). */
    private readonly scope?: string,
  ) {}

  filterFor(): RowFilter {
    return 'encrypted'
  }

  async process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]> {
    const { outcomes, elements } = startBatch(target, rows)
    const items: FieldValue[] = []
    const spots: Array<{ row: number; element: number }> = []
    rows.forEach((_, r) => {
      const els = elements[r]
      if (!els) return
      let any = false
      els.forEach((e, j) => {
        if (!looksEncrypted(e)) return
        any = true
        items.push(scoped({ value: e, ctx: target.ctx }, this.scope))
        spots.push({ row: r, element: j })
      })
      if (!any) outcomes[r] = skip('plaintext')
    })
    const opened = await decryptEach(this.encryptor, items)
    opened.forEach((result, i) => {
      const { row, element } = spots[i]!
      if (outcomes[row]) return
      if (!result.ok) outcomes[row] = fail(result.error)
      else elements[row]![element] = result.value
    })
    rows.forEach((_, r) => {
      if (!outcomes[r]) outcomes[r] = { kind: 'write', value: valueOf(target, elements[r]!), as: 'decrypted' }
    })
    return outcomes
  }
}
