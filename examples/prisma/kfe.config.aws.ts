// The same configuration with AWS KMS (use it with `--config kfe.config.aws.ts`, or name it
// kfe.config.ts): new values go to KMS, values under the local key stay readable until `rotate`.
// Blind indexes made under the local key's root key: pin that key or recompute (README, "The root key").
import { AwsKmsKeyProvider, defineConfig, LocalKeyProvider } from 'kms-field-encryption'
import { encryptionModel } from './src/generated/encryption/index.js'

export default defineConfig({
  model: encryptionModel,
  keys: () => {
    // With a blind index, KMS also holds its root key: `npx kms-field-encryption keygen --kms-key-id alias/app-pii`.
    const wrappedBlindIndexRootKey = process.env.KFE_KMS_WRAPPED_ROOT_KEY
    if (!wrappedBlindIndexRootKey) throw new Error('set KFE_KMS_WRAPPED_ROOT_KEY (from keygen --kms-key-id)')
    return [new AwsKmsKeyProvider({ keyId: 'alias/app-pii', wrappedBlindIndexRootKey }), LocalKeyProvider.fromEnv()]
  },
  databaseUrl: process.env.DATABASE_URL, // may be undefined: then prisma.config.ts's datasource.url
})
