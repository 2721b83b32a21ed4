// Blind indexes, Prisma-free: what an ORM adapter or the CLI needs.
export { BlindIndexer, withDefaultRootKey, type BlindIndexOptions, type PreviousBlindIndexVersion } from './blind-indexer'
export { BlindIndexBatch, type BlindIndexPurpose, type BlindIndexTicket } from './blind-index-batch'
export { blindIndexFieldsOf, blindIndexFieldsOfModel, blindIndexName, type BlindIndexField } from './blind-index-field'
export { deriveBlindIndexKey, blindIndexMac } from './blind-index-key'
export { BLIND_INDEX_NORMALIZATIONS, foldsCase, normalizeForBlindIndex, normalizationProblem } from './normalize'
export type { RootKeySource } from './root-key-source'
export { isStoredIndex, storedIndexPrefix, storedIndexVersion } from './stored-index-format'
