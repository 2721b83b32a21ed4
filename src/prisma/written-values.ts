import type { FieldContext } from '../cipher/field-context'
import type { EnvelopeEncryptor, FieldValue, StoredValue } from '../engine/envelope-encryptor'

/**
 * The text values one query has just encrypted, by field and ciphertext, with their plaintexts.
 * What the database returns for that query (create, update and upsert return the row) mostly
 * holds exactly these ciphertexts: their plaintexts are known, so they are not decrypted a second
 * time (each decryption sets up a cipher, the dearest step of a write's round trip). Every
 * ciphertext is unique (random IV), and the lookup is per field, so a value that came back in
 * another column, or altered, is not known and goes through decryption (and its checks) as
 * usual. Lives for one query only.
 */
export class WrittenValues {
  private readonly byField = new Map<FieldContext, Map<string, string>>()

  constructor(items: readonly FieldValue[], stored: readonly StoredValue[]) {
    for (let i = 0; i < items.length; i++) {
      const { value, ctx } = items[i]!
      const ciphertext = stored[i]
      if (typeof value !== 'string' || typeof ciphertext !== 'string') continue
      let known = this.byField.get(ctx)
      if (!known) this.byField.set(ctx, (known = new Map()))
      known.set(ciphertext, value)
    }
  }

  /** `encryptor.decryptMany(items)`, but values this query wrote get their plaintext without decryption. */
  async decryptMany(encryptor: EnvelopeEncryptor, items: readonly FieldValue[]): Promise<StoredValue[]> {
    const out: StoredValue[] = new Array(items.length)
    const rest: FieldValue[] = []
    const restAt: number[] = []
    for (let i = 0; i < items.length; i++) {
      const { value, ctx } = items[i]!
      const plaintext = typeof value === 'string' ? this.byField.get(ctx)?.get(value) : undefined
      if (plaintext !== undefined) {
        out[i] = plaintext
      } else {
        rest.push(items[i]!)
        restAt.push(i)
      }
    }
    if (rest.length > 0) {
      const opened = await encryptor.decryptMany(rest)
      for (let j = 0; j < restAt.length; j++) out[restAt[j]!] = opened[j]!
    }
    return out
  }
}
