import { createCipheriv, createHash, randomBytes } from 'node:crypto'

/**
 * prisma-field-encryption values made with node:crypto, following @47ng/cloak's source (not our
 * decoder), so the migration's reader is checked against the format, not against itself:
 *   key   "k1.aesgcm256." + URL-safe base64 (with '=' padding) of 32 random bytes
 *   value "v1.aesgcm256." + first 8 hex chars of SHA-256(key text) + "." + b64url(12-byte iv)
 *         + "." + b64url(ciphertext | 16-byte tag), AES-256-GCM, no AAD
 */
export function pfeKey(): string {
  return `k1.aesgcm256.${urlSafe(randomBytes(32).toString('base64'))}`
}

export function pfeEncrypt(plaintext: string, key: string): string {
  const raw = Buffer.from(key.slice('k1.aesgcm256.'.length), 'base64')
  const fingerprint = createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 8)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', raw, iv)
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return ['v1', 'aesgcm256', fingerprint, urlSafe(iv.toString('base64')), urlSafe(body.toString('base64'))].join('.')
}

/** cloak's `b64.encode`: Node's base64, made URL-safe, padding kept. */
function urlSafe(base64: string): string {
  return base64.replace(/\+/g, '-').replace(/\//g, '_')
}
