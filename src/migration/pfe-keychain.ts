/**
 * prisma-field-encryption values and keys: the reader lives in the core (the encryptor reads
 * such values at run time with `pfeKeys`); the migration uses the same one.
 */
export { PFE_PREFIX, looksLikePfeValue } from '../format/pfe-value'
export { PfeKeychain, pfeKeyFingerprint, pfeKeysFromEnv } from '../keys/pfe-keys'
