import type { FieldContext } from '../cipher/field-context'
import { NotEncryptedError, PfeKeyRequiredError } from '../errors'
import { looksLikePfeValue } from '../format/pfe-value'
import { PfeKeychain } from '../keys/pfe-keys'
import type { StoredValue } from './envelope-encryptor'
import { PlaintextScope, type ReadPlaintextOption } from './plaintext-scope'

/**
 * What the encryptor does with a stored string or bytes not in our format: a
 * prisma-field-encryption value is decrypted with `pfeKeys` (refused without them, whatever
 * `readPlaintext` says: never returned as if it were plaintext); any other value is returned as
 * it is where `readPlaintext` allows it, else refused (`NotEncryptedError`).
 */
export class ForeignValueReader {
  private readonly scope: PlaintextScope
  private readonly pfe: PfeKeychain | undefined

  constructor(readPlaintext: ReadPlaintextOption | undefined, pfeKeys: readonly string[] | undefined) {
    this.scope = PlaintextScope.of(readPlaintext)
    this.pfe = pfeKeys === undefined ? undefined : new PfeKeychain(pfeKeys)
  }

  allowsPlaintext(ctx: { model: string; field: string }): boolean {
    return this.scope.allows(ctx.model, ctx.field)
  }

  read(value: string | Uint8Array, ctx: FieldContext): StoredValue {
    const at = { model: ctx.model, field: ctx.field }
    if (typeof value === 'string' && ctx.kind === 'text' && looksLikePfeValue(value)) {
      if (!this.pfe) throw new PfeKeyRequiredError(at)
      return this.pfe.decrypt(value, at)
    }
    if (this.scope.allows(ctx.model, ctx.field)) return value
    throw new NotEncryptedError(at)
  }
}
