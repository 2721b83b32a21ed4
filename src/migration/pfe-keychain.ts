import { createDecipheriv, createHash } from 'node:crypto'
import { ConfigurationError, DecryptionFailedError, MalformedCiphertextError, UnknownKeyProviderError, type FieldLocation } from '../errors'

/**
 * Reads values written by prisma-field-encryption (which uses @47ng/cloak), so that `encrypt`
 * can move them to this library's format. The format, from @47ng/cloak's source:
 *
 *   key    : "k1.aesgcm256." + base64url(32 random bytes), with '=' padding (Buffer base64
 *            made URL-safe); any base64 alphabet is accepted when decoding
 *   key id : fingerprint = the first 8 hex characters of SHA-256 over the UTF-8 text of the whole
 *            serialised key ("k1.aesgcm256.…"), not over the raw key bytes
 *   value  : "v1.aesgcm256." + fingerprint + "." + base64url(iv, 12 bytes: 16 characters) + "."
 *            + base64url(ciphertext | 16-byte GCM tag), '=' padding optional
 *   cipher : AES-256-GCM, the raw key as is, no additional authenticated data; plaintext UTF-8
 */
export const PFE_PREFIX = 'v1.aesgcm256.'
const KEY_PREFIX = 'k1.aesgcm256.'
const KEY_BYTES = 32
const IV_BYTES = 12
const TAG_BYTES = 16

interface PfeKey {
  fingerprint: string
  key: Buffer
}

/**
 * Whether a value has the shape of a prisma-field-encryption value (no key needed). Checked
 * character by character, not with a regular expression, so that values of any size (PFE
 * values of several megabytes) are checked in linear time and constant stack.
 */
export function looksLikePfeValue(value: unknown): value is string {
  if (typeof value !== 'string' || !value.startsWith(PFE_PREFIX)) return false
  const fingerprintEnd = PFE_PREFIX.length + 8
  const ivEnd = fingerprintEnd + 1 + 16
  if (value.charCodeAt(fingerprintEnd) !== DOT || value.charCodeAt(ivEnd) !== DOT) return false
  if (!every(value, PFE_PREFIX.length, fingerprintEnd, isHexDigit) || !every(value, fingerprintEnd + 1, ivEnd, isBase64UrlDigit)) return false
  // The body: at least the 16-byte tag (22 characters), then up to two '=' of padding.
  let end = value.length
  for (let pad = 0; pad < 2 && value.charCodeAt(end - 1) === EQUALS; pad++) end--
  return end - (ivEnd + 1) >= 22 && every(value, ivEnd + 1, end, isBase64UrlDigit)
}

const DOT = 0x2e
const EQUALS = 0x3d

function every(text: string, from: number, to: number, test: (code: number) => boolean): boolean {
  for (let i = from; i < to; i++) if (!test(text.charCodeAt(i))) return false
  return true
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}

function isBase64UrlDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f
}

/** The fingerprint prisma-field-encryption writes into each value for this key text. */
export function pfeKeyFingerprint(keyText: string): string {
  return createHash('sha256').update(keyText, 'utf8').digest('hex').slice(0, 8)
}

/** The prisma-field-encryption keys the user supplied (`--from-pfe-key`), found by fingerprint. */
export class PfeKeychain {
  private readonly keys = new Map<string, PfeKey>()

  constructor(keyTexts: readonly string[]) {
    for (const raw of keyTexts) {
      const text = raw.trim()
      if (!text.startsWith(KEY_PREFIX)) {
        throw new ConfigurationError(`a prisma-field-encryption key must look like ${KEY_PREFIX}<base64> (as PRISMA_FIELD_ENCRYPTION_KEY)`)
      }
      const secret = text.slice(KEY_PREFIX.length)
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(secret)) throw new ConfigurationError('a prisma-field-encryption key is not base64 after k1.aesgcm256.')
      const key = Buffer.from(secret, 'base64')
      if (key.length !== KEY_BYTES) {
        throw new ConfigurationError(`a prisma-field-encryption key must hold ${KEY_BYTES} bytes; this one holds ${key.length}`)
      }
      const fingerprint = pfeKeyFingerprint(text).toLowerCase()
      this.keys.set(fingerprint, { fingerprint, key })
    }
  }

  get size(): number {
    return this.keys.size
  }

  /** Decrypts one prisma-field-encryption value. Throws typed errors naming the field, never the value. */
  decrypt(value: string, at: FieldLocation): string {
    if (!looksLikePfeValue(value)) throw new MalformedCiphertextError(at, 'not a prisma-field-encryption value')
    const [, , fingerprint, ivText, bodyText] = value.split('.') as [string, string, string, string, string]
    const entry = this.keys.get(fingerprint.toLowerCase())
    if (!entry) throw new UnknownKeyProviderError(`prisma-field-encryption key ${fingerprint}`, at)
    const iv = Buffer.from(ivText, 'base64')
    const body = Buffer.from(bodyText, 'base64')
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new MalformedCiphertextError(at, 'truncated prisma-field-encryption value')
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, iv)
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
      const head = decipher.update(body.subarray(0, body.length - TAG_BYTES))
      const tail = decipher.final()
      return Buffer.concat([head, tail]).toString('utf8')
    } catch {
      throw new DecryptionFailedError(at, 'the prisma-field-encryption value failed authentication (altered, or encrypted with another key of the same fingerprint)')
    }
  }
}
