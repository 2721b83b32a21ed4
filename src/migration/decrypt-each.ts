import type { EnvelopeEncryptor, FieldValue, StoredValue } from '../engine/envelope-encryptor'
import { isFatal } from './row-failure'

export type DecryptResult = { ok: true; value: StoredValue } | { ok: false; error: unknown }

/**
 * Decrypts a batch, telling which values failed and why. The whole batch is tried at once (one
 * data-key lookup per key); only when that fails is each value tried alone, to find the bad
 * ones. Errors that concern the whole run (the key provider is unreachable) are thrown.
 */
export async function decryptEach(encryptor: EnvelopeEncryptor, items: readonly FieldValue[]): Promise<DecryptResult[]> {
  if (items.length === 0) return []
  try {
    return (await encryptor.decryptMany(items)).map((value) => ({ ok: true, value }))
  } catch (err) {
    if (isFatal(err)) throw err
  }
  const out: DecryptResult[] = []
  for (const item of items) {
    try {
      out.push({ ok: true, value: (await encryptor.decryptMany([item]))[0]! })
    } catch (error) {
      if (isFatal(error)) throw error
      out.push({ ok: false, error })
    }
  }
  return out
}
