/**
 * Text is stored as UTF-8, which cannot hold an unpaired UTF-16 surrogate (`"a\ud800b"`): Node would
 * write U+FFFD in its place, so the database would hold another string than the caller has. Such
 * strings are refused wherever text becomes bytes (the encryptor, the blind index).
 */
/** What a string with an unpaired UTF-16 surrogate is called in errors (never the value itself). */
export const LONE_SURROGATE = 'a string with a lone UTF-16 surrogate (not valid Unicode; UTF-8 would store U+FFFD instead)'

/** `String.prototype.isWellFormed` (Node 20+; not yet in the ES2022 lib types). */
export function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed()
}
