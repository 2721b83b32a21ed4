// `kms-field-encryption/prisma`: the Prisma 7 client extension.
export { fieldEncryption, type FieldEncryptionOptions } from './extension'
