import type { FieldContext } from '../cipher/field-context'
import type { FieldValue, StoredValue } from '../engine/envelope-encryptor'
import { StoredValueMismatchError } from '../errors'

/**
 * Compares what a write's returned record holds with the ciphertexts the query sent: a returned
 * value of a written field that is a shorter prefix of a ciphertext sent for that same field is
 * a value the database truncated (MySQL outside strict sql_mode commits such rows with a
 * warning). The write then fails with StoredValueMismatchError instead of returning the input as
 * if it had been stored. Other differences (a row the query did not write, an older value) go
 * through decryption and its checks as usual.
 *
 * It can only see what comes back: a createMany or a select without the field returns no
 * ciphertext, hence the README's requirement of a strict sql_mode on MySQL.
 */
export function checkStoredAsSent(sent: readonly FieldValue[], ciphertexts: readonly StoredValue[], returned: readonly FieldValue[]): void {
  const byField = new Map<FieldContext, StoredValue[]>()
  for (let i = 0; i < sent.length; i++) {
    const list = byField.get(sent[i]!.ctx) ?? []
    list.push(ciphertexts[i]!)
    byField.set(sent[i]!.ctx, list)
  }
  for (const { value, ctx } of returned) {
    const candidates = byField.get(ctx)
    if (!candidates) continue
    if (typeof value === 'string') {
      if (candidates.some((c) => c === value)) continue
      const cut = candidates.find((c) => typeof c === 'string' && c.length > value.length && c.startsWith(value))
      if (cut !== undefined) throw truncated(ctx, value.length, (cut as string).length, 'characters')
    } else if (value instanceof Uint8Array) {
      const v = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      if (candidates.some((c) => c instanceof Uint8Array && v.equals(c))) continue
      const cut = candidates.find((c) => c instanceof Uint8Array && c.length > v.length && v.equals(c.subarray(0, v.length)))
      if (cut !== undefined) throw truncated(ctx, v.length, (cut as Uint8Array).length, 'bytes')
    }
  }
}

function truncated(ctx: FieldContext, stored: number, sent: number, unit: string): StoredValueMismatchError {
  return new StoredValueMismatchError(
    ctx,
    `the database stored ${stored} of the ${sent} ${unit} sent for column ${ctx.table}.${ctx.column} (truncated): ` +
      'the row was written but cannot be decrypted; widen the column (see the README size formula) and use a strict sql_mode on MySQL',
  )
}
