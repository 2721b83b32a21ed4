import type { FieldContext } from '../cipher/field-context'
import type { CachedKey } from '../keys/data-key-cache'

/**
 * One data key, ready to use: its derived encryption key, its header (bytes and base64url text,
 * shared by every value it encrypts) and, per field, the additional authenticated data.
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
  ) {}

  get key(): Buffer {
    if (this.refs <= 0) throw new Error('data key used after release')
    return this.encryptionKey
  }

  aadFor(ctx: FieldContext): Buffer {
    let aad = this.aads.get(ctx)
    if (!aad) {
      aad = Buffer.concat([this.header, ctx.aadSuffix])
      this.aads.set(ctx, aad)
    }
    return aad
  }

  retain(): void {
    this.refs++
  }

  release(): void {
    if (--this.refs === 0) {
      this.encryptionKey.fill(0)
      this.aads.clear()
    }
  }
}
