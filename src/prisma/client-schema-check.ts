import { ConfigurationError } from '../errors'
import type { EncryptionModel } from '../model/encryption-model'
import { schemaHashOf } from '../model/schema-hash'

const REGENERATE = 'run `prisma generate` (all generators, not only the client) and restart'

/**
 * Refuses a Prisma client whose schema is not the one the encryption model was generated from:
 * a field annotated `/// @encrypted` after the last run of our generator (only the client was
 * regenerated, or our generator failed) would otherwise be stored in clear.
 *
 * The client's schema text is read from `client._engineConfig.inlineSchema`: a Prisma internal
 * (Prisma 7 keeps the schema there for its query compiler; no public API exposes it, and the
 * public runtime data model carries no `///` documentation). If it is absent this client cannot
 * be checked, and the extension refuses to start rather than risk a stale model.
 */
export function checkClientSchema(client: unknown, model: EncryptionModel): void {
  if (typeof model.schemaHash !== 'string') {
    throw new ConfigurationError(
      `the encryption model carries no schema hash (it was written by an older kms-field-encryption, or by hand): ${REGENERATE}`,
    )
  }
  const inlineSchema = (client as { _engineConfig?: { inlineSchema?: unknown } } | null)?._engineConfig?.inlineSchema
  if (typeof inlineSchema !== 'string') {
    throw new ConfigurationError(
      'cannot read the schema this Prisma client was generated from (client._engineConfig.inlineSchema), ' +
        'so a stale encryption model cannot be ruled out: this Prisma version is not supported',
    )
  }
  if (schemaHashOf(inlineSchema) !== model.schemaHash) {
    throw new ConfigurationError(
      `the encryption model was generated from another schema than this Prisma client (one of them is stale): ${REGENERATE}`,
    )
  }
}
