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

/** Decodes canonical base64url, or returns undefined. */
export function decodeBase64Url(text: string): Buffer | undefined {
  return isCanonicalBase64Url(text) ? Buffer.from(text, 'base64url') : undefined
}
