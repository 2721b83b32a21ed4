import { associatedData } from '../cipher/associated-data'
import type { FieldContext } from '../cipher/field-context'
import { FORMAT_VERSION, decodeHeader } from '../format/envelope-format'
import type { CachedKey } from '../keys/data-key-cache'

/**
 * One data key, ready to use: its derived encryption key, its header (bytes and base64url text,
 * shared by every value it encrypts), its key commitment and, per field, the additional
 * authenticated data (version, commitment, table and column: not the wrapped key, see the format).
 * Reference counted; the key bytes are zeroed when the last holder lets go.
 */
export class DataKeyEntry implements CachedKey {
  private refs = 1
  private readonly aads = new Map<FieldContext, Buffer>()

  constructor(
    readonly providerId: string,
    readonly wrappedKey: Buffer,
    readonly header: Buffer,
    readonly headerText: string,
    private readonly encryptionKey: Buffer,
    /** The header's key commitment (read from `header` when not given). */
    private commitment?: Buffer,
  ) {}

  get key(): Buffer {
    if (this.refs <= 0) throw new Error('data key used after release')
    return this.encryptionKey
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
      this.encryptionKey.fill(0)
      this.aads.clear()
    }
  }
}
