// The ORM-free core: importing it loads neither @prisma/client nor typeorm. The ORM adapters
// live at `kms-field-encryption/prisma` and `kms-field-encryption/typeorm`.
export * from './errors'
export type { GeneratedDataKey, KeyProvider } from './keys/key-provider'
export { LocalKeyProvider, type LocalKeyProviderOptions } from './keys/local-key-provider'
export {
  AwsKmsKeyProvider,
  DEFAULT_ENCRYPTION_CONTEXT,
  type AwsKmsKeyProviderOptions,
  type AwsKmsKeyDescription,
} from './keys/aws-kms-key-provider'
export type { DataKeyCacheOptions, DataKeyCacheStats } from './keys/data-key-cache'
export { checkScope, type ScopeKeys } from './keys/scope-keys'
export { MemoryScopeKeyStore, type ScopeKeyRecord, type ScopeKeyStore } from './keys/scope-key-store'
export { sqlScopeKeyStore, type ScopeKeySql, type SqlScopeKeyStoreOptions } from './keys/sql-scope-key-store'
export { localScopeKeys, type LocalScopeKeys, type LocalScopeKeysOptions } from './keys/local-scope-keys'
export { awsKmsScopeKeys, type AwsKmsScopeKeys, type AwsKmsScopeKeysOptions } from './keys/aws-kms-scope-keys'
export type { ScopedCacheOptions } from './engine/scoped-data-keys'
export {
  EnvelopeEncryptor,
  type EncryptorOptions,
  type EncryptorStats,
  type EncryptionEvent,
  type FieldValue,
  type StoredValue,
  type ValueState,
} from './engine/envelope-encryptor'
export type { ReadPlaintextOption } from './engine/plaintext-scope'
export { pfeKeysFromEnv } from './keys/pfe-keys'
export { fieldContext, type FieldContext } from './cipher/field-context'
export { aeadBackend, aeadFallbackReason, type AeadBackend, type FallbackReason } from './cipher/native-aead'
export type * from './model/encryption-model'
export { fieldEncryption, type FieldEncryptionOptions } from './prisma/lazy-field-encryption'
export {
  prismaScopeKeyStore,
  type PrismaScopeKeyStoreOptions,
  type RawSqlClient,
  type ScopeKeyStoreDialect,
} from './prisma/prisma-scope-key-store'
export {
  BlindIndexer,
  normalizeForBlindIndex,
  BLIND_INDEX_NORMALIZATIONS,
  isStoredIndex,
  storedIndexVersion,
  type BlindIndexField,
  type BlindIndexOptions,
  type PreviousBlindIndexVersion,
  type RootKeySource,
} from './blind-index'
export {
  recomputeBlindIndexes,
  type RecomputeBlindIndexesOptions,
  type RecomputeProgress,
  type RecomputeResult,
  type RecomputeDatabaseOption,
  type SqlExecutor,
} from './migration/recompute-blind-indexes'
export type { RewrappedDataKey } from './keys/key-provider'
export { defineConfig, type KfeConfig } from './config/kfe-config'
export {
  encryptColumns,
  rotateColumns,
  decryptColumns,
  encryptionStatus,
  type MigrationOptions,
  type EncryptOptions,
  type StatusOptions,
  type RotateColumnsOptions,
} from './migration/run-migration'
export type { MigrationSummary, ColumnSummary, FailureClass } from './migration/migration-summary'
export type { StatusReport, ColumnStatus, BlindIndexStatus } from './migration/status-report'
export type { MigrationProgress } from './migration/migration-progress'
export type { ColumnTarget } from './migration/column-target'
export {
  openDatabase,
  pgliteDatabase,
  pgPoolDatabase,
  mariadbPoolDatabase,
  betterSqliteDatabase,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type OpenDatabaseOptions,
} from './migration/open-database'
export type { SqlDatabase, RowFilter, Shard, StoredRow, CasWrite } from './migration/sql-database'
