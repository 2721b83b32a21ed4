import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPg } from '@prisma/adapter-pg'
import { fieldEncryption, LocalKeyProvider } from 'kms-field-encryption'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { encryptionModel, uniqueBy } from './generated/encryption/index.js'
import { PrismaClient } from './generated/prisma/client.js'

// With DATABASE_URL: your PostgreSQL (after `npx prisma migrate deploy`). Without: PostgreSQL
// in this process (PGlite, in memory) with the migration applied, so the example runs anywhere.
const pglite = process.env.DATABASE_URL ? undefined : new PGlite()
if (pglite) await pglite.exec(readFileSync(new URL('../prisma/migrations/20260101000000_init/migration.sql', import.meta.url), 'utf8'))
const adapter = pglite ? new PrismaPGlite(pglite) : new PrismaPg({ connectionString: process.env.DATABASE_URL })

const prisma = new PrismaClient({ adapter }).$extends(fieldEncryption({ model: encryptionModel, keys: LocalKeyProvider.fromEnv() }))

const created = await prisma.user.create({ data: { email: 'ada@example.com', phone: '+44 20 7946 0958', name: 'Ada' } })
console.log(`created user ${created.id}`)

const read = await prisma.user.findUnique({ where: { id: created.id } })
console.log(`read back: ${read?.email}, ${read?.phone}`)

// Lookups by an encrypted field go through its blind index (normalised: lowercase, trim).
// findFirst takes { email } as it is; findUnique needs uniqueBy (Prisma's unique type lists emailIndex).
const found = await prisma.user.findUnique({ where: uniqueBy.User.email(prisma.user, ' ADA@example.com') })
console.log(`found by email: user ${found?.id}, ${found?.name}`)

// What the table holds: ciphertext (raw SQL bypasses the extension).
const [row] = await prisma.$queryRaw<{ email: string }[]>`SELECT email FROM "User" WHERE id = ${created.id}`
console.log(`stored email: ${row?.email.slice(0, 17)}… (${row?.email.length} characters)`)

await prisma.$disconnect()
await pglite?.close()
