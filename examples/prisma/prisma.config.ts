import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  // For migrate and the kms-field-encryption CLI; generate needs no database.
  datasource: { url: process.env.DATABASE_URL ?? '' },
})
