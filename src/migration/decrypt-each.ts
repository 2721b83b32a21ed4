import type { DecryptResult, EnvelopeEncryptor, FieldValue } from '../engine/envelope-encryptor'
import { isFatal } from './row-failure'

export type { DecryptResult } from '../engine/envelope-encryptor'

/**
 * Decrypts a batch, telling which values failed and why. Each distinct data key is resolved
 * once for the whole batch, so a key that cannot be unwrapped costs one provider call, not one
 * per value. Errors that concern the whole run (the key provider is unreachable) are thrown.
 */
export async function decryptEach(encryptor: EnvelopeEncryptor, items: readonly FieldValue[]): Promise<DecryptResult[]> {
  if (items.length === 0) return []
  const results = await encryptor.decryptManySettled(items)
  for (const r of results) if (!r.ok && isFatal(r.error)) throw r.error
  return results
}
