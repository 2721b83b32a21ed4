// `kms-field-encryption/typeorm`: the TypeORM adapter (TypeORM 1.x and 0.3.20+).
export { Encrypted, BlindIndex, EncryptionScope, KeyHeader, type BlindIndexDecoratorOptions } from './decorators'
export {
  encryptDataSource,
  type TypeOrmEncryptionBaseOptions,
  type TypeOrmEncryptionEncryptorOptions,
  type TypeOrmEncryptionKeysOptions,
  type TypeOrmEncryptionOptions,
} from './encrypt-data-source'
export { encryptionModelOf } from './entity-model'
export { blindIndexValues } from './blind-index-values'
export { typeOrmScopeKeyStore, type TypeOrmScopeKeyStoreOptions } from './typeorm-scope-key-store'
