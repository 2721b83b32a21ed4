import type { FieldContext } from '../cipher/field-context'
import { looksEncryptedBytes, looksEncryptedText, splitBytes, splitText, type SplitEnvelope } from '../format/envelope-format'
import { looksShortBytes, looksShortText, splitShortEnvelope } from '../format/short-format'
import type { DataKeyEntry } from './data-key-entry'
import type { DataKeySource } from './data-key-source'
import type { StoredValue } from './envelope-encryptor'
import { openValue } from './stored-values'

/** What `CachedKeyOpener.open` returns for a value it leaves to the batch path. */
export const NOT_OPENED: unique symbol = Symbol('not opened')

/**
 * The read path's fast lane, for one result walk: opens an unscoped value of ours (version 1 or 2)
 * at once, in the walk, when its data key is in the cache now, with no batch bookkeeping (no value
 * object, no arrays, no await). Anything else (a key to load, a scope, plaintext or another
 * library's value) comes back as NOT_OPENED, for the caller to hand to `decryptMany`, which does
 * every check the slow way. A value that is ours but malformed, or fails to open, throws the same
 * typed error `decryptMany` would. `release` (always, in a finally) lets go of the keys it used.
 */
export class CachedKeyOpener {
  private lastId: string | undefined
  private lastEntry: DataKeyEntry | undefined
  private readonly held: DataKeyEntry[] = []
  private opened = 0

  /** `counters.valuesDecrypted` counts the values opened here, at `release`. */
  constructor(
    private readonly keys: DataKeySource,
    private readonly counters: { valuesDecrypted: number },
  ) {}

  open(value: unknown, ctx: FieldContext): StoredValue | typeof NOT_OPENED {
    let split: SplitEnvelope
    if (ctx.kind === 'text') {
      if (typeof value !== 'string') return NOT_OPENED
      if (looksEncryptedText(value)) split = splitText(value, ctx, this.lastId)
      else if (looksShortText(value)) split = splitShortEnvelope(value, ctx, this.lastId)
      else return NOT_OPENED
    } else {
      if (!(value instanceof Uint8Array)) return NOT_OPENED
      if (looksEncryptedBytes(value)) split = splitBytes(value, ctx)
      else if (looksShortBytes(value)) split = splitShortEnvelope(value, ctx)
      else return NOT_OPENED
    }
    let entry = split.headerId === this.lastId ? this.lastEntry : undefined
    if (entry === undefined) {
      entry = this.keys.tryForDecryption(split.headerId) // retained: released by `release`
      if (entry === undefined) return NOT_OPENED
      this.held.push(entry)
      this.lastId = split.headerId
      this.lastEntry = entry
    }
    const plain = openValue(entry, split, ctx)
    this.opened++
    return plain
  }

  release(): void {
    this.counters.valuesDecrypted += this.opened
    this.opened = 0
    for (const e of this.held) e.release()
    this.held.length = 0
    this.lastId = undefined
    this.lastEntry = undefined
  }
}
