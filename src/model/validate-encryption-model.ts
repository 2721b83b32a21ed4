import { ConfigurationError } from '../errors'
import type { EncryptionModel } from './encryption-model'

const HOW = "pass the encryptionModel that `prisma generate` wrote (import { encryptionModel } from './generated/encryption')"

/**
 * Checks that `model` is a generated encryption model (of this format version), so a mistake in
 * the options is a `ConfigurationError` at construction, not a TypeError on the first query.
 * `name` is how the caller names the option (e.g. `fieldEncryption options.model`).
 */
export function validateEncryptionModel(model: unknown, name = 'model'): EncryptionModel {
  if (model === undefined || model === null) throw new ConfigurationError(`${name} is required: ${HOW}`)
  if (typeof model !== 'object' || Array.isArray(model)) throw new ConfigurationError(`${name} is not an encryption model: ${HOW}`)
  const m = model as Record<string, unknown>
  if ('encryptionModel' in m || (isObject(m.default) && 'encryptionModel' in m.default)) {
    throw new ConfigurationError(`${name} is the generated module, not its encryptionModel: ${HOW}`)
  }
  if (m.version !== 1 || !isObject(m.models)) {
    throw new ConfigurationError(`${name} is not an encryption model of format version 1: ${HOW}, and run \`prisma generate\` again`)
  }
  for (const [key, description] of Object.entries(m.models)) {
    const d = description as Record<string, unknown> | null
    const ok =
      isObject(d) &&
      typeof d.name === 'string' &&
      typeof d.table === 'string' &&
      Array.isArray(d.primaryKey) &&
      isObject(d.encryptedFields) &&
      isObject(d.relations) &&
      (d.blindIndexes === undefined || isObject(d.blindIndexes))
    if (!ok) throw new ConfigurationError(`${name}.models.${key} is not a model description: run \`prisma generate\` again`)
  }
  return model as EncryptionModel
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
