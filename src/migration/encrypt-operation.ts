import type { BlindIndexer } from '../blind-index/blind-indexer'
import type { EnvelopeEncryptor, FieldValue } from '../engine/envelope-encryptor'
import { fail, skip, valueOf, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { looksOurs, readAnyHeader } from '../format/stored-form'
import { IndexWritingOperation } from './index-writing-operation'
import { looksLikePfeValue, type PfeKeychain } from './pfe-keychain'
import { isFatal } from './row-failure'
import type { RunScopes } from './run-scopes'
import { sealEach } from './seal-each'
import { scoped } from './scoped-value'
import type { RowFilter, StoredRow } from './sql-database'

/**
 * `encrypt`: every value (every list element) not yet in this library's format is encrypted
 * under the primary key provider, and the field's blind indexes are filled from the plaintext.
 * Values written by prisma-field-encryption are decrypted with its keys first; without them such
 * a row fails (it is never encrypted as if its ciphertext were the plaintext). Values already
 * encrypted are left alone (`rotate` moves them to the current key); a value that starts with
 * this library's prefix but is not in its format fails its row (`KFE_MALFORMED_CIPHERTEXT`).
 * A row-scoped model's values are sealed under their row's scope (a row without one fails).
 * A field with a key header (format version 2) gets short values, each written with its key header
 * in the same statement; a field whose key-header column is only a former one gets version 1
 * values and its key header set to NULL.
 */
export class EncryptOperation extends IndexWritingOperation {
  readonly name = 'encrypt'

  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    private readonly pfe: PfeKeychain | undefined,
    indexer: BlindIndexer | undefined,
    scopes: RunScopes,
  ) {
    super(indexer, scopes)
  }

  filterFor(): RowFilter {
    return 'not-encrypted'
  }

  async process(target: ColumnTarget, rows: readonly StoredRow[]): Promise<RowOutcome[]> {
    const { at, indexes, outcomes, elements, scopes } = this.startBatch(target, rows)
    const items: FieldValue[] = []
    const spots: Array<{ row: number; element: number }> = []
    const fromPfe = new Array<boolean>(rows.length).fill(false)
    const plaintextOf = new Array<unknown>(rows.length)
    const keyHeaderOf = new Array<string | null>(rows.length).fill(null)

    rows.forEach((row, r) => {
      const els = elements[r]
      if (!els) return
      const mine: Array<{ plain: unknown; element: number }> = []
      let failed: RowOutcome | undefined
      for (let j = 0; j < els.length && !failed; j++) {
        const e = els[j]
        if (e === null || e === undefined) continue
        if (looksOurs(e)) {
          // A value with one of our prefixes that is not ours (a plaintext that happens to start with
          // it, or a damaged value) cannot be told from a damaged one: the row fails, as in `status`.
          // A short value (version 2) is read with its row's key header (without one it fails too).
          try {
            readAnyHeader(e, at, row.keyHeader)
          } catch (err) {
            if (isFatal(err)) throw err
            failed = fail(err)
          }
          continue
        }
        let plain = e
        if (target.kind === 'text' && looksLikePfeValue(e)) {
          if (!this.pfe) {
            failed = {
              kind: 'fail',
              failure: {
                reason: 'KFE_PFE_KEY_REQUIRED',
                message: `${at.model}.${at.field}: a value written by prisma-field-encryption; pass its key (--from-pfe-key) to convert it`,
              },
            }
            break
          }
          try {
            plain = this.pfe.decrypt(e, at)
          } catch (err) {
            if (isFatal(err)) throw err
            failed = fail(err)
            break
          }
          fromPfe[r] = true
        }
        mine.push({ plain, element: j })
      }
      if (failed) {
        outcomes[r] = failed
        return
      }
      if (mine.length === 0) {
        outcomes[r] = skip('already encrypted')
        return
      }
      if (!target.isList) plaintextOf[r] = mine[0]!.plain
      for (const m of mine) {
        items.push(scoped({ value: m.plain, ctx: target.ctx }, scopes[r]))
        spots.push({ row: r, element: m.element })
      }
    })

    if (items.length > 0) {
      // One tenant that cannot seal (shredded) fails its own rows, not the batch.
      const sealed = await sealEach(this.encryptor, items)
      sealed.forEach((result, i) => {
        const { row, element } = spots[i]!
        if (outcomes[row]) return
        if (!result.ok) outcomes[row] = fail(result.error)
        else {
          elements[row]![element] = result.value
          // A short-form field's key header, written with the value (a field with a key-header column is never a list).
          if (result.keyHeader !== undefined) keyHeaderOf[row] = result.keyHeader
        }
      })
    }

    rows.forEach((_, r) => {
      if (outcomes[r]) return
      const plain = plaintextOf[r]
      const write: RowOutcome = {
        kind: 'write',
        value: valueOf(target, elements[r]!),
        as: fromPfe[r] ? 'converted from prisma-field-encryption' : 'encrypted',
        ...(target.keyHeader ? { keyHeader: keyHeaderOf[r]! } : {}),
      }
      if (indexes.any && typeof plain === 'string') write.indexes = indexes.compute(plain, scopes[r])
      outcomes[r] = write
    })
    return outcomes
  }
}
