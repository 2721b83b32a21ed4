import { ConfigurationError } from '../errors'
import { RandomIvs } from '../cipher/random-ivs'
import { BYTES_PREFIX, TEXT_PREFIX } from '../format/envelope-format'
import { SHORT_BYTES_PREFIX } from '../format/short-format'
import { DataKeyEntry } from './data-key-entry'
import type { DataKeySource } from './data-key-source'
import type { FieldValue, StoredValue } from './envelope-encryptor'
import { scopedContext, type ScopeState } from './scoped-data-keys'
import { locate, toPlainBytes } from './stored-values'
import { groupByScope } from './value-scopes'

/**
 * The encryptor's write path: each value sealed under a data key of its scope (or the unscoped
 * one), at most `maxUses` values per data key. Every value's type and every scope are checked
 * before any data key is asked for; any failure fails the whole call (nothing to write).
 * A field whose context has `shortForm` gets a short value (format version 2), and its key header
 * goes to `keyHeaders` at the same index: without `keyHeaders` such a field is refused (its value
 * would be written without the key header that opens it).
 */
export async function sealValues(
  keys: DataKeySource,
  maxUses: number,
  items: readonly FieldValue[],
  keyHeaders?: Array<string | undefined>,
): Promise<StoredValue[]> {
  if (!keyHeaders)
    for (const { ctx } of items)
      if (ctx.shortForm)
        throw new ConfigurationError(
          `${ctx.model}.${ctx.field} is written in the short form (it has a key header): seal it with encryptManyWithKeyHeaders; nothing was encrypted`,
        )
  const plaintexts = items.map(({ value, ctx }) => toPlainBytes(value, ctx))
  const out: StoredValue[] = new Array(items.length)
  const groups = groupByScope(items)
  if (!groups) {
    await sealRun(keys, maxUses, items, plaintexts, out, keyHeaders)
    return out
  }
  const runs = [...groups].map(([scope, indices]) => {
    const state = scope === undefined ? undefined : keys.scope(scope, locate(items[indices[0]!]!.ctx))
    return [state, indices] as const
  })
  // Each scope's data key is found or made concurrently.
  const settled = await Promise.allSettled(
    runs.map(([state, indices]) => sealRun(keys, maxUses, items, plaintexts, out, keyHeaders, state, indices)),
  )
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
  return out
}

/** Seals the values at `indices` (default: all) with data keys of one scope (or unscoped). */
async function sealRun(
  keys: DataKeySource,
  maxUses: number,
  items: readonly FieldValue[],
  plaintexts: Buffer[],
  out: StoredValue[],
  keyHeaders: Array<string | undefined> | undefined,
  scope?: ScopeState,
  indices?: number[],
): Promise<void> {
  const n = indices?.length ?? items.length
  let done = 0
  while (done < n) {
    const take = Math.min(n - done, maxUses)
    // A warm cache hands the key over synchronously: no await (and no extra tick) per call.
    const pending = keys.forEncryption(take, scope, locate(items[indices?.[done] ?? done]!.ctx))
    const entry = pending instanceof DataKeyEntry ? pending : await pending
    try {
      const ivs = new RandomIvs(take)
      let short = false
      for (let k = done; k < done + take; k++) {
        const i = indices ? indices[k]! : k
        const { ctx } = items[i]!
        const fieldCtx = scope ? scopedContext(scope, ctx) : ctx
        if (ctx.shortForm) {
          const body = entry.key.seal(plaintexts[i]!, entry.shortAadFor(fieldCtx), ivs)
          out[i] =
            ctx.kind === 'text' ? entry.shortCacheId + body.toString('base64url') : Buffer.concat([SHORT_BYTES_PREFIX, entry.keyId, body])
          keyHeaders![i] = entry.keyHeader
          short = true
          continue
        }
        const body = entry.key.seal(plaintexts[i]!, entry.aadFor(fieldCtx), ivs)
        out[i] =
          ctx.kind === 'text'
            ? TEXT_PREFIX + entry.headerText + body.toString('base64url')
            : Buffer.concat([BYTES_PREFIX, entry.header, body])
      }
      // This process reads its own short values back without their key headers.
      if (short) keys.rememberShort(entry, scope)
    } finally {
      entry.release()
    }
    done += take
  }
}
