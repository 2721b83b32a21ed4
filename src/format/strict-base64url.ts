/**
 * Base64url decoding that refuses anything but the canonical encoding. Node's own decoder skips
 * unknown characters and ignores the unused low bits of the last character, so two different
 * stored strings could decode to the same bytes; a flipped character must never go unnoticed.
 */
const ALPHABET = /^[A-Za-z0-9_-]*$/
const CODE: Record<string, number> = {}
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => (CODE[c] = i))

export function isCanonicalBase64Url(text: string): boolean {
  const rem = text.length % 4
  if (rem === 1 || !ALPHABET.test(text)) return false
  if (rem === 0) return true
  const last = CODE[text[text.length - 1]!]!
  // 2 chars carry 1 byte (4 unused bits), 3 chars carry 2 bytes (2 unused bits).
  return rem === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0
}

/** Below this length the alphabet scan is the cheaper strict check; above it, the round trip. */
const ROUND_TRIP_FROM_CHARS = 128

/** Decodes canonical base64url, or returns undefined. */
export function decodeBase64Url(text: string): Buffer | undefined {
  if (text.length < ROUND_TRIP_FROM_CHARS) return isCanonicalBase64Url(text) ? Buffer.from(text, 'base64url') : undefined
  // Canonical means: the one text that encodes these bytes. Re-encoding what Node decoded and
  // comparing is exactly that test (any skipped, aliased or low-bit-altered character changes
  // the re-encoded text), and costs less than the regex on long values (about 1 µs instead of 3
  // on 1 KB). The equally strict regex path is kept for short text, where it is cheaper.
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : undefined
}

/** Alphabet index by character code, -1 outside the alphabet. */
const INDEX = new Int8Array(128).fill(-1)
for (const c in CODE) INDEX[c.charCodeAt(0)] = CODE[c]!

/**
 * The 24 bits that the 4 base64url characters at `at` encode (always canonical: 4 characters
 * carry exactly 3 bytes), or -1 if the text is too short or a character is not in the alphabet.
 * No allocation: for reading a few leading bytes of a long value.
 */
export function decodeQuantum(text: string, at: number): number {
  if (at < 0 || text.length < at + 4) return -1
  let bits = 0
  for (let i = at; i < at + 4; i++) {
    const c = text.charCodeAt(i)
    const v = c < 128 ? INDEX[c]! : -1
    if (v < 0) return -1
    bits = (bits << 6) | v
  }
  return bits
}
