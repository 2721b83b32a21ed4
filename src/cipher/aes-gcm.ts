import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { nativeAead, type NativeKeyHandle } from './native-aead'
import type { RandomIvs } from './random-ivs'

/** AES-256-GCM sizes: the key, the IV (96 bits, the size GCM is made for) and the tag. */
export const KEY_BYTES = 32
export const IV_BYTES = 12
export const TAG_BYTES = 16

const NO_AAD = Buffer.alloc(0)

/**
 * The one AES-256-GCM in the library (stored values, locally wrapped data keys, values read from
 * prisma-field-encryption). `seal` draws a random IV (from `ivs` when a batch draws them
 * together, else its own) and returns iv | ciphertext | tag.
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer = NO_AAD, ivs?: RandomIvs): Buffer {
  const iv = ivs ? ivs.take() : randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  if (aad.length > 0) cipher.setAAD(aad)
  const head = cipher.update(plaintext)
  const tail = cipher.final()
  return Buffer.concat([iv, head, tail, cipher.getAuthTag()], IV_BYTES + head.length + tail.length + TAG_BYTES)
}

/** Opens iv | ciphertext | tag (what `seal` returns); throws when authentication fails. */
export function open(key: Buffer, sealed: Buffer, aad: Buffer = NO_AAD): Buffer {
  return openWithIv(key, sealed.subarray(0, IV_BYTES), sealed.subarray(IV_BYTES), aad)
}

/**
 * Opens ciphertext | tag under an IV stored apart (layouts other than ours, such as
 * prisma-field-encryption's); throws when the sizes are wrong or authentication fails.
 */
export function openWithIv(key: Buffer, iv: Buffer, ciphertextAndTag: Buffer, aad: Buffer = NO_AAD): Buffer {
  if (iv.length !== IV_BYTES || ciphertextAndTag.length < TAG_BYTES) throw new RangeError('AES-GCM input too short')
  const decipher = createDecipheriv('aes-256-gcm', key, iv)
  if (aad.length > 0) decipher.setAAD(aad)
  const end = ciphertextAndTag.length - TAG_BYTES
  decipher.setAuthTag(ciphertextAndTag.subarray(end))
  const head = decipher.update(ciphertextAndTag.subarray(0, end))
  const tail = decipher.final()
  return tail.length === 0 ? head : Buffer.concat([head, tail])
}

/**
 * One AES-256-GCM key used for many values (a data key's encryption key): `seal`, `open` and
 * `openText` as the functions above, through the native addon when it is loaded (one OpenSSL
 * context keyed once; see `native-aead.ts`), else node:crypto; the bytes are the same either way.
 * `destroy` zeroes the key bytes and frees the native context; any use after it throws.
 */
export class AesGcmKey {
  #key: Buffer
  #handle: NativeKeyHandle | undefined
  #destroyed = false

  /** Takes `key` over (does not copy it): `destroy` zeroes these very bytes. */
  constructor(key: Buffer, useNative = true) {
    if (key.length !== KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key')
    this.#key = key
    try {
      this.#handle = useNative && nativeAead ? nativeAead.newKey(key) : undefined
    } catch (err) {
      key.fill(0) // taken over: a key that cannot be set up is zeroed, not left to the garbage collector
      throw err
    }
  }

  /** Whether this key runs on the native addon. */
  get isNative(): boolean {
    return this.#handle !== undefined
  }

  get destroyed(): boolean {
    return this.#destroyed
  }

  seal(plaintext: Buffer, aad: Buffer = NO_AAD, ivs?: RandomIvs): Buffer {
    if (this.#destroyed) throw new Error('AES-GCM key used after destroy')
    if (this.#handle === undefined) return seal(this.#key, plaintext, aad, ivs)
    return nativeAead!.seal(this.#handle, ivs ? ivs.take() : randomBytes(IV_BYTES), plaintext, aad)
  }

  /** Opens iv | ciphertext | tag; throws when the input is too short or authentication fails. */
  open(sealed: Buffer, aad: Buffer = NO_AAD): Buffer {
    if (this.#destroyed) throw new Error('AES-GCM key used after destroy')
    if (this.#handle === undefined) return open(this.#key, sealed, aad)
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new RangeError('AES-GCM input too short')
    const plain = nativeAead!.open(this.#handle, sealed, aad)
    if (plain === null) throw new Error('AES-GCM authentication failed')
    return plain
  }

  /** `open`, the plaintext decoded as UTF-8. */
  openText(sealed: Buffer, aad: Buffer = NO_AAD): string {
    if (this.#destroyed) throw new Error('AES-GCM key used after destroy')
    if (this.#handle === undefined) return open(this.#key, sealed, aad).toString('utf8')
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new RangeError('AES-GCM input too short')
    const plain = nativeAead!.openText(this.#handle, sealed, aad)
    if (plain === null) throw new Error('AES-GCM authentication failed')
    return plain
  }

  /**
   * Native only: `openText` of a body stored as base64url in `text` from `offset`, in one call
   * (decoding included: no Buffer per value). The plaintext; null when authentication fails;
   * undefined when this key is not native, or the text is not canonical base64url of a body (the
   * caller then decodes it itself, and names the problem).
   */
  openTextBase64Url(text: string, offset: number, aad: Buffer = NO_AAD): string | null | undefined {
    if (this.#destroyed) throw new Error('AES-GCM key used after destroy')
    if (this.#handle === undefined || !nativeAead!.openTextBase64Url) return undefined
    return nativeAead!.openTextBase64Url(this.#handle, text, offset, aad)
  }

  /** Zeroes the key bytes and frees the native context (OpenSSL cleanses its key schedule). Idempotent. */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#key.fill(0)
    if (this.#handle !== undefined) nativeAead!.destroy(this.#handle)
    this.#handle = undefined
  }
}
