import type { FieldContext } from '../cipher/field-context'
import { DecryptionFailedError, MalformedCiphertextError } from '../errors'
import {
  TEXT_PREFIX,
  looksEncryptedBytes,
  looksEncryptedText,
  splitBytes,
  splitText,
  textBodyStart,
  type SplitEnvelope,
} from '../format/envelope-format'
import { KEY_ID_CHARS, SHORT_TEXT_PREFIX, looksShortBytes, looksShortText, splitShortEnvelope } from '../format/short-format'
import type { DataKeyEntry } from './data-key-entry'
import type { DataKeySource } from './data-key-source'
import type { StoredValue } from './envelope-encryptor'
import { locate, openValue } from './stored-values'

/** A short value's cache id: "$kf2$" and the key id's 12 characters, where its body starts. */
const SHORT_ID_CHARS = SHORT_TEXT_PREFIX.length + KEY_ID_CHARS

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
    if (ctx.kind === 'text') return typeof value === 'string' ? this.openText(value, ctx) : NOT_OPENED
    let split: SplitEnvelope
    {
      if (!(value instanceof Uint8Array)) return NOT_OPENED
      if (looksEncryptedBytes(value)) split = splitBytes(value, ctx)
      else if (looksShortBytes(value)) split = splitShortEnvelope(value, ctx)
      else return NOT_OPENED
    }
    const entry = this.entryFor(split.headerId)
    if (entry === undefined) return NOT_OPENED
    const plain = openValue(entry, split, ctx)
    this.opened++
    return plain
  }

  /**
   * A text value: its data key found by the header id (version 1) or short id (version 2) sliced
   * from the text, the body opened from the text itself in one native call (no Buffer); where the
   * addon is not loaded, or refuses the body's base64url, the value is split and opened as
   * `decryptMany` does (which names the problem).
   */
  private openText(value: string, ctx: FieldContext): StoredValue | typeof NOT_OPENED {
    let short: boolean
    let bodyStart: number
    let id: string
    const last = this.lastId
    if (looksEncryptedText(value)) {
      short = false
      bodyStart = textBodyStart(value, ctx)
      id =
        last !== undefined && last.length === bodyStart - TEXT_PREFIX.length && value.startsWith(last, TEXT_PREFIX.length)
          ? last
          : value.slice(TEXT_PREFIX.length, bodyStart)
    } else if (looksShortText(value)) {
      short = true
      bodyStart = SHORT_ID_CHARS
      if (value.length < bodyStart) throw new MalformedCiphertextError(locate(ctx), 'truncated key id')
      id = last !== undefined && last.length === bodyStart && value.startsWith(last) ? last : value.slice(0, bodyStart)
    } else return NOT_OPENED
    const entry = this.entryFor(id)
    if (entry === undefined) return NOT_OPENED
    const plain = entry.key.openTextBase64Url(value, bodyStart, short ? entry.shortAadFor(ctx) : entry.aadFor(ctx))
    if (plain === null) throw new DecryptionFailedError(locate(ctx))
    this.opened++
    if (plain !== undefined) return plain
    return openValue(entry, short ? splitShortEnvelope(value, ctx, id) : splitText(value, ctx, id), ctx)
  }

  /** The cached data key of an id (the last one used, or from the cache: retained until `release`). */
  private entryFor(id: string): DataKeyEntry | undefined {
    if (id === this.lastId) return this.lastEntry
    const entry = this.keys.tryForDecryption(id)
    if (entry === undefined) return undefined
    this.held.push(entry)
    this.lastId = id
    this.lastEntry = entry
    return entry
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
