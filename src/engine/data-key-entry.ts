import { AesGcmKey } from '../cipher/aes-gcm'
import { associatedData } from '../cipher/associated-data'
import type { FieldContext } from '../cipher/field-context'
import { FORMAT_VERSION, decodeHeader } from '../format/envelope-format'
import { SHORT_FORMAT_VERSION, keyHeaderOfV1, shortCacheId, shortKeyId } from '../format/short-format'
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
  private readonly shortAads = new Map<FieldContext, Buffer>()
  private short: { keyId: Buffer; cacheId: string; keyHeader: string } | undefined
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
    return this.aadIn(this.aads, FORMAT_VERSION, ctx)
  }

  /** The AAD of a short value (format version 2) of this field. */
  shortAadFor(ctx: FieldContext): Buffer {
    return this.aadIn(this.shortAads, SHORT_FORMAT_VERSION, ctx)
  }

  /** A field's AAD for one format version, made once per field. */
  private aadIn(made: Map<FieldContext, Buffer>, version: number, ctx: FieldContext): Buffer {
    let aad = made.get(ctx)
    if (!aad) {
      aad = associatedData(version, this.commitmentBytes(), ctx.aadSuffix)
      made.set(ctx, aad)
    }
    return aad
  }

  /** The key id short values of this key carry (9 bytes). */
  get keyId(): Buffer {
    return this.shortForm().keyId
  }

  /** The id the cache knows this key by for short values ("$kf2$" + key id text). */
  get shortCacheId(): string {
    return this.shortForm().cacheId
  }

  /** The key-header column text written beside this key's short values. */
  get keyHeader(): string {
    return this.shortForm().keyHeader
  }

  private shortForm(): { keyId: Buffer; cacheId: string; keyHeader: string } {
    if (!this.short) {
      const keyId = shortKeyId(this.commitmentBytes())
      this.short = { keyId, cacheId: shortCacheId(keyId), keyHeader: keyHeaderOfV1(this.header) }
    }
    return this.short
  }

  private commitmentBytes(): Buffer {
    return (this.commitment ??= decodeHeader(this.header, {}).commitment)
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
      this.shortAads.clear()
    }
  }
}
