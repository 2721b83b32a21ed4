import type { fieldEncryption as prismaFieldEncryption, FieldEncryptionOptions } from './extension'

export type { FieldEncryptionOptions }

/**
 * `fieldEncryption` as the package root exports it (0.x): the Prisma extension module, and with
 * it `@prisma/client/extension`, is loaded on the first call, so importing the root works when
 * Prisma is not installed. Prefer `import { fieldEncryption } from 'kms-field-encryption/prisma'`.
 */
export function fieldEncryption(options: FieldEncryptionOptions): ReturnType<typeof prismaFieldEncryption> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const extension = require('./extension') as typeof import('./extension')
  return extension.fieldEncryption(options)
}
