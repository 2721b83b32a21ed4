import { createCipheriv } from 'node:crypto'
import { join } from 'node:path'
import nodeGypBuild from 'node-gyp-build'

/**
 * The optional native AES-256-GCM (native/kfe_aead.c, shipped prebuilt under prebuilds/ for
 * linux-x64 glibc): OpenSSL's AES-GCM, as node:crypto uses, but with one context per data key,
 * keyed once, instead of a new cipher object per value. Loaded with node-gyp-build from the
 * package root; used only if it passes a known-answer test against node:crypto at load. Anywhere
 * else (no binary for the platform, a failed test, `KFE_NATIVE=0`) node:crypto does the same
 * work with byte-identical output: see {@link aeadBackend}.
 */
export interface NativeAead {
  newKey(key: Uint8Array): NativeKeyHandle
  /** iv | ciphertext | tag. */
  seal(handle: NativeKeyHandle, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer
  /** The plaintext of iv | ciphertext | tag, or null when authentication fails. */
  open(handle: NativeKeyHandle, body: Uint8Array, aad: Uint8Array): Buffer | null
  /** The plaintext decoded as UTF-8 (one string, no Buffer), or null when authentication fails. */
  openText(handle: NativeKeyHandle, body: Uint8Array, aad: Uint8Array): string | null
  /**
   * `openText` of a body stored as canonical base64url (no padding) in `text` from `offset`:
   * decoding, opening and UTF-8 in one call. Undefined when that text is not canonical base64url of
   * iv | ciphertext | tag. Absent from binaries built before it (then the library decodes in JS).
   */
  openTextBase64Url?(handle: NativeKeyHandle, text: string, offset: number, aad: Uint8Array): string | null | undefined
  /** Frees the context; OpenSSL cleanses the key schedule. A destroyed handle throws on use. */
  destroy(handle: NativeKeyHandle): void
}

/** An opaque handle to one keyed OpenSSL context. */
export type NativeKeyHandle = { readonly __nativeKeyHandle: unique symbol }

export type AeadBackend = 'native' | 'node:crypto'

/** Why node:crypto is used, when it is. */
export type FallbackReason = 'disabled by KFE_NATIVE=0' | 'no prebuilt binary for this platform' | 'failed the known-answer test'

const PACKAGE_ROOT = join(__dirname, '..', '..')

/**
 * Loads the addon found by node-gyp-build under `dir` (build/Release, then prebuilds/) and
 * tests it; the reason it cannot be used otherwise. Never throws.
 */
export function loadNativeAead(dir: string): NativeAead | FallbackReason {
  let addon: NativeAead
  try {
    addon = nodeGypBuild(dir) as NativeAead
  } catch {
    return 'no prebuilt binary for this platform'
  }
  try {
    if (passesKnownAnswerTest(addon)) return addon
  } catch {
    // a throwing addon is as unusable as a wrong one
  }
  return 'failed the known-answer test'
}

/**
 * The addon must agree with node:crypto byte for byte (seal with and without AAD, an empty
 * plaintext, open as bytes and as text), reject a flipped tag bit, and a context must move
 * between sealing and opening without losing its key.
 */
export function passesKnownAnswerTest(addon: NativeAead): boolean {
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex')
  const iv = Buffer.from('cafebabefacedbaddecaf888', 'hex')
  const aad = Buffer.from('kms-field-encryption self-test')
  const plaintext = Buffer.from('známé odpovědi – known answers ✓')
  const handle = addon.newKey(key)
  try {
    for (const [p, a] of [
      [plaintext, aad],
      [plaintext, Buffer.alloc(0)],
      [Buffer.alloc(0), aad],
    ] as const) {
      const expected = nodeSeal(key, iv, p, a)
      if (!addon.seal(handle, iv, p, a).equals(expected)) return false
      if (!addon.open(handle, expected, a)?.equals(p)) return false
      if (addon.openText(handle, expected, a) !== p.toString('utf8')) return false
      const tampered = Buffer.from(expected)
      tampered[tampered.length - 1]! ^= 1
      if (addon.open(handle, tampered, a) !== null || addon.openText(handle, tampered, a) !== null) return false
      if (addon.openTextBase64Url) {
        const text = '$kf2$' + expected.toString('base64url')
        if (addon.openTextBase64Url(handle, text, 5, a) !== p.toString('utf8')) return false
        if (addon.openTextBase64Url(handle, '$kf2$' + tampered.toString('base64url'), 5, a) !== null) return false
        // Not canonical base64url: padding, a character out of the alphabet, a non-ASCII one.
        for (const bad of [text + '==', text.replace(/.$/, '+'), text.replace(/.$/, 'é')])
          if (addon.openTextBase64Url(handle, bad, 5, a) !== undefined) return false
      }
    }
    return true
  } finally {
    addon.destroy(handle)
  }
}

function nodeSeal(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  if (aad.length > 0) cipher.setAAD(aad)
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
}

const loaded: NativeAead | FallbackReason = process.env.KFE_NATIVE === '0' ? 'disabled by KFE_NATIVE=0' : loadNativeAead(PACKAGE_ROOT)

/** The addon this process uses, if any. */
export const nativeAead: NativeAead | undefined = typeof loaded === 'string' ? undefined : loaded

/** Which AES-256-GCM implementation encrypts and decrypts values in this process. */
export function aeadBackend(): AeadBackend {
  return nativeAead ? 'native' : 'node:crypto'
}

/** Why node:crypto is used (undefined when the addon is). */
export function aeadFallbackReason(): FallbackReason | undefined {
  return typeof loaded === 'string' ? loaded : undefined
}
