import { createHash } from 'node:crypto'
import { IV_BYTES, KEY_BYTES, TAG_BYTES, openWithIv } from '../cipher/aes-gcm'
import { ConfigurationError, DecryptionFailedError, MalformedCiphertextError, UnknownKeyProviderError, type FieldLocation } from '../errors'
import { parsePfeValue } from '../format/pfe-value'

/**
 * The keys of prisma-field-encryption (@47ng/cloak), to read its values: at run time
 * (`EncryptorOptions.pfeKeys`, while its rows are being converted) and in `encrypt --from-pfe-key`.
 *
 *   key    : "k1.aesgcm256." + base64url(32 random bytes), with '=' padding (Buffer base64
 *            made URL-safe); any base64 alphabet is accepted when decoding
 *   key id : fingerprint = the first 8 hex characters of SHA-256 over the UTF-8 text of the whole
 *            serialised key ("k1.aesgcm256.…"), not over the raw key bytes
 *   cipher : AES-256-GCM, the raw key as is, no additional authenticated data; plaintext UTF-8
 * The value format is in src/format/pfe-value.ts.
 */
const KEY_PREFIX = 'k1.aesgcm256.'

interface PfeKey {
  fingerprint: string
  key: Buffer
}

/** The fingerprint prisma-field-encryption writes into each value for this key text. */
export function pfeKeyFingerprint(keyText: string): string {
  return createHash('sha256').update(keyText, 'utf8').digest('hex').slice(0, 8)
}

/**
 * prisma-field-encryption's own environment: `PRISMA_FIELD_ENCRYPTION_KEY` (its current key) and
 * `PRISMA_FIELD_DECRYPTION_KEYS` (comma-separated older keys). Read only when you call this: pass
 * the result as `pfeKeys`. Throws ConfigurationError when neither is set (never returns no keys
 * silently).
 */
export function pfeKeysFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const keys = [env.PRISMA_FIELD_ENCRYPTION_KEY, ...(env.PRISMA_FIELD_DECRYPTION_KEYS ?? '').split(',')]
    .map((k) => k?.trim() ?? '')
    .filter((k) => k !== '')
  if (keys.length === 0)
    throw new ConfigurationError('pfeKeysFromEnv: neither PRISMA_FIELD_ENCRYPTION_KEY nor PRISMA_FIELD_DECRYPTION_KEYS is set')
  return [...new Set(keys)]
}

/** The prisma-field-encryption keys the user supplied, found by fingerprint. */
export class PfeKeychain {
  private readonly keys = new Map<string, PfeKey>()

  constructor(keyTexts: readonly string[]) {
    if (!Array.isArray(keyTexts)) throw new ConfigurationError('prisma-field-encryption keys must be a list of k1.aesgcm256.… texts')
    for (const raw of keyTexts) {
      const text = typeof raw === 'string' ? raw.trim() : ''
      if (!text.startsWith(KEY_PREFIX)) {
        throw new ConfigurationError(`a prisma-field-encryption key must look like ${KEY_PREFIX}<base64> (as PRISMA_FIELD_ENCRYPTION_KEY)`)
      }
      const secret = text.slice(KEY_PREFIX.length)
      if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(secret))
        throw new ConfigurationError('a prisma-field-encryption key is not base64 after k1.aesgcm256.')
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
    const parts = typeof value === 'string' ? parsePfeValue(value) : undefined
    if (!parts) throw new MalformedCiphertextError(at, 'not a prisma-field-encryption value')
    const entry = this.keys.get(parts.fingerprint.toLowerCase())
    if (!entry) throw new UnknownKeyProviderError(`prisma-field-encryption key ${parts.fingerprint}`, at)
    const iv = Buffer.from(parts.ivText, 'base64')
    const body = Buffer.from(parts.bodyText, 'base64')
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new MalformedCiphertextError(at, 'truncated prisma-field-encryption value')
    try {
      return openWithIv(entry.key, iv, body).toString('utf8')
    } catch {
      throw new DecryptionFailedError(
        at,
        'the prisma-field-encryption value failed authentication (altered, or encrypted with another key of the same fingerprint)',
      )
    }
  }
}
