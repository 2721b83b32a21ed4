import { defineConfig, LocalKeyProvider } from 'kms-field-encryption'
import { encryptionModel } from './src/generated/encryption/index.js'

// The database URL comes from prisma.config.ts (or DATABASE_URL, or --database-url).
export default defineConfig({
  model: encryptionModel,
  keys: () => LocalKeyProvider.fromEnv(),
})
