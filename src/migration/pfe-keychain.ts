import { createHash } from 'node:crypto'
import { IV_BYTES, KEY_BYTES, TAG_BYTES, openWithIv } from '../cipher/aes-gcm'
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

interface PfeKey {
  fingerprint: string
  key: Buffer
}

/**
 * Whether a value has the shape of a prisma-field-encryption value (no key needed). The body,
 * which can be megabytes long, is checked by a search for a character outside base64url (one
 * linear scan, no quantifier, no backtracking: a `{22,}`-style pattern ran out of stack on a
 * 4 MB value); the short fixed-size parts by exact patterns.
 */
export function looksLikePfeValue(value: unknown): value is string {
  if (typeof value !== 'string' || !value.startsWith(PFE_PREFIX)) return false
  const fingerprintEnd = PFE_PREFIX.length + 8
  const ivEnd = fingerprintEnd + 1 + 16
  if (value[fingerprintEnd] !== '.' || value[ivEnd] !== '.') return false
  if (!FINGERPRINT.test(value.slice(PFE_PREFIX.length, fingerprintEnd)) || !IV.test(value.slice(fingerprintEnd + 1, ivEnd))) return false
  // The body: at least the 16-byte tag (22 characters), then up to two '=' of padding.
  let end = value.length
  if (value[end - 1] === '=') end--
  if (value[end - 1] === '=') end--
  const body = value.slice(ivEnd + 1, end)
  return body.length >= 22 && !NOT_BASE64URL.test(body)
}

const FINGERPRINT = /^[0-9a-fA-F]{8}$/
const IV = /^[A-Za-z0-9_-]{16}$/
const NOT_BASE64URL = /[^A-Za-z0-9_-]/

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
      return openWithIv(entry.key, iv, body).toString('utf8')
    } catch {
      throw new DecryptionFailedError(at, 'the prisma-field-encryption value failed authentication (altered, or encrypted with another key of the same fingerprint)')
    }
  }
}
