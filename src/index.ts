export * from './errors'
export type { GeneratedDataKey, KeyProvider } from './keys/key-provider'
export { LocalKeyProvider, type LocalKeyProviderOptions } from './keys/local-key-provider'
export { AwsKmsKeyProvider, DEFAULT_ENCRYPTION_CONTEXT, type AwsKmsKeyProviderOptions, type AwsKmsKeyDescription } from './keys/aws-kms-key-provider'
export { DataKeyCache, type DataKeyCacheOptions, type DataKeyCacheStats } from './keys/data-key-cache'
export { KeyRing } from './keys/key-ring'
export { EnvelopeEncryptor, type EncryptorOptions, type EncryptorStats, type EncryptionEvent, type StoredValue, type ValueState } from './engine/envelope-encryptor'
export type { ReadPlaintextOption } from './engine/plaintext-scope'
export { pfeKeysFromEnv } from './keys/pfe-keys'
export { fieldContext, type FieldContext } from './cipher/field-context'
export type * from './model/encryption-model'
export { ModelRegistry } from './model/model-registry'
export { fieldEncryption, type FieldEncryptionOptions } from './prisma/extension'
export {
  BlindIndexer,
  blindIndexFieldsOf,
  normalizeForBlindIndex,
  BLIND_INDEX_NORMALIZATIONS,
  isStoredIndex,
  storedIndexPrefix,
  storedIndexVersion,
  type BlindIndexField,
  type BlindIndexOptions,
  type PreviousBlindIndexVersion,
  type RootKeySource,
} from './blind-index'
export { recomputeBlindIndexes, type RecomputeBlindIndexesOptions, type RecomputeProgress, type RecomputeResult, type SqlExecutor } from './migration/recompute-blind-indexes'
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
export { openDatabase, pgliteDatabase, pgPoolDatabase } from './migration/open-database'
export type { SqlDatabase, RowFilter, Shard, StoredRow, CasWrite } from './migration/sql-database'
