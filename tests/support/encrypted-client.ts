import { encryptionModel } from './test-encryption-model'
import { fieldEncryption, type FieldEncryptionOptions } from '../../src'
import { testLocalKeys } from './keys'
import { QueryRecorder, RECORDER_NAME } from './query-recorder'
import type { TestDatabase } from './test-database'

/**
 * The test database's client with the encryption extension (generated model, a fresh local
 * key unless `keys` is given), and behind it a recorder of what actually goes to the database.
 */
export function encryptedClient(db: TestDatabase, options: Partial<FieldEncryptionOptions> = {}) {
  const recorder = new QueryRecorder()
  const prisma = db.prisma
    .$extends(
      fieldEncryption({
        model: encryptionModel,
        ...(options.encryptor ? {} : { keys: testLocalKeys() }),
        allowQueryExtensionsAfter: [RECORDER_NAME],
        ...options,
      } as FieldEncryptionOptions),
    )
    .$extends(recorder.extension)
  return { prisma, recorder }
}

export type EncryptedClient = ReturnType<typeof encryptedClient>['prisma']
