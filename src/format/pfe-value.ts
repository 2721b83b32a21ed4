/**
 * Values written by prisma-field-encryption (which uses @47ng/cloak), recognised without a key.
 * The format, from @47ng/cloak's source:
 *
 *   value  : "v1.aesgcm256." + fingerprint + "." + base64url(iv, 12 bytes: 16 characters) + "."
 *            + base64url(ciphertext | 16-byte GCM tag), '=' padding optional
 *   key id : fingerprint = the first 8 hex characters of SHA-256 over the UTF-8 text of the whole
 *            serialised key ("k1.aesgcm256.…"), see src/keys/pfe-keys.ts
 *
 * Checked character by character (no regular expression over the body), so a value of any size
 * is recognised in linear time and constant stack.
 */
export const PFE_PREFIX = 'v1.aesgcm256.'
const FINGERPRINT_CHARS = 8
const IV_CHARS = 16
/** base64url of at least the 16-byte tag. */
const MIN_BODY_CHARS = 22

/** The parts of a prisma-field-encryption value (still encoded). */
export interface PfeValueParts {
  fingerprint: string
  ivText: string
  bodyText: string
}

/** Whether a value has the shape of a prisma-field-encryption value (no key needed). */
export function looksLikePfeValue(value: unknown): value is string {
  return typeof value === 'string' && parsePfeValue(value) !== undefined
}

/** The parts of a prisma-field-encryption value, or undefined if `value` does not have its shape. */
export function parsePfeValue(value: string): PfeValueParts | undefined {
  if (!value.startsWith(PFE_PREFIX)) return undefined
  const fpEnd = PFE_PREFIX.length + FINGERPRINT_CHARS
  const ivEnd = fpEnd + 1 + IV_CHARS
  if (value.length < ivEnd + 1 + MIN_BODY_CHARS || value.charCodeAt(fpEnd) !== DOT || value.charCodeAt(ivEnd) !== DOT) return undefined
  for (let i = PFE_PREFIX.length; i < fpEnd; i++) if (!isHex(value.charCodeAt(i))) return undefined
  for (let i = fpEnd + 1; i < ivEnd; i++) if (!isBase64Url(value.charCodeAt(i))) return undefined
  let end = value.length
  let padding = 0
  while (padding < 2 && end > ivEnd + 1 && value.charCodeAt(end - 1) === EQUALS) {
    end--
    padding++
  }
  if (end - (ivEnd + 1) < MIN_BODY_CHARS) return undefined
  for (let i = ivEnd + 1; i < end; i++) if (!isBase64Url(value.charCodeAt(i))) return undefined
  return { fingerprint: value.slice(PFE_PREFIX.length, fpEnd), ivText: value.slice(fpEnd + 1, ivEnd), bodyText: value.slice(ivEnd + 1) }
}

const DOT = 0x2e
const EQUALS = 0x3d

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)
}

function isBase64Url(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f
}
