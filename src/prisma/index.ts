// `kms-field-encryption/prisma`: the Prisma 7 client extension.
export { fieldEncryption, type FieldEncryptionOptions } from './extension'
export {
  prismaScopeKeyStore,
  type PrismaScopeKeyStoreOptions,
  type RawSqlClient,
  type ScopeKeyStoreDialect,
} from './prisma-scope-key-store'
