import { AesGcmKey } from '../cipher/aes-gcm'
import { associatedData } from '../cipher/associated-data'
import type { FieldContext } from '../cipher/field-context'
import { FORMAT_VERSION, decodeHeader } from '../format/envelope-format'
import type { CachedKey } from '../keys/data-key-cache'

/**
 * One data key, ready to use: its derived encryption key, its header (bytes and base64url text,
 * shared by every value it encrypts), its key commitment and, per field, the additional
 * authenticated data (version, commitment, table and column: not the wrapped key, see the format).
 * Reference counted; when the last holder lets go (the key has left the cache and no batch
 * holds it) the key bytes are zeroed and the native AES-GCM context, if any, is freed.
 */
export class DataKeyEntry implements CachedKey {
  private refs = 1
  private readonly aads = new Map<FieldContext, Buffer>()
  private readonly aesKey: AesGcmKey

  constructor(
    readonly providerId: string,
    readonly wrappedKey: Buffer,
    readonly header: Buffer,
    readonly headerText: string,
    /** Taken over by the AesGcmKey: zeroed on the last release. */
    private readonly encryptionKey: Buffer,
    /** The header's key commitment (read from `header` when not given). */
    private commitment?: Buffer,
  ) {
    this.aesKey = new AesGcmKey(encryptionKey)
  }

  get key(): AesGcmKey {
    if (this.refs <= 0) throw new Error('data key used after release')
    return this.aesKey
  }

  aadFor(ctx: FieldContext): Buffer {
    let aad = this.aads.get(ctx)
    if (!aad) {
      this.commitment ??= decodeHeader(this.header, {}).commitment
      aad = associatedData(FORMAT_VERSION, this.commitment, ctx.aadSuffix)
      this.aads.set(ctx, aad)
    }
    return aad
  }

  retain(): void {
    // A released key is already zeroed: reviving it would encrypt or decrypt with zeros.
    if (this.refs <= 0) throw new Error('data key retained after release')
    this.refs++
  }

  release(): void {
    if (--this.refs === 0) {
      this.aesKey.destroy()
      this.aads.clear()
    }
  }
}
