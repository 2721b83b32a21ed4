import { encryptionModel, uniqueBy, type UniqueWhereOf } from '../prisma/generated/encryption'
import { renderUniqueLookups } from '../src/generator/render-unique-lookups'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import { createTestDatabase, type TestDatabase } from './support/test-database'

/**
 * `uniqueBy.User.email(prisma.user, email)`: unique lookups by an encrypted field without a cast.
 * This file type-checks with `npm run typecheck` (no `as` anywhere below), and the lookups find
 * the rows through the blind index.
 */
let db: TestDatabase
let prisma: EncryptedClient

beforeAll(async () => {
  db = await createTestDatabase()
  prisma = encryptedClient(db).prisma
})
afterAll(async () => {
  await db.close()
})

test('findUnique, update, upsert and delete by the encrypted field, typed, through the blind index', async () => {
  const ada = await prisma.user.create({ data: { email: 'Ada@Example.com', name: 'Ada' } })
  const found = await prisma.user.findUnique({ where: uniqueBy.User.email(prisma.user, ' ada@example.com') })
  expect(found).toMatchObject({ id: ada.id, email: 'Ada@Example.com' })
  // The result keeps Prisma's types: select narrows it.
  const picked = await prisma.user.findUnique({ where: uniqueBy.User.email(prisma.user, 'ada@example.com'), select: { name: true } })
  expect(picked).toEqual({ name: 'Ada' })
  const updated = await prisma.user.update({ where: uniqueBy.User.email(prisma.user, 'ADA@example.com'), data: { name: 'Ada L.' } })
  expect(updated.name).toBe('Ada L.')
  const upserted = await prisma.user.upsert({
    where: uniqueBy.User.email(prisma.user, 'grace@example.com'),
    create: { email: 'grace@example.com' },
    update: {},
  })
  expect(upserted.id).not.toBe(ada.id)
  await prisma.user.delete({ where: uniqueBy.User.email(prisma.user, 'grace@example.com') })
  expect(await prisma.user.findUnique({ where: uniqueBy.User.email(prisma.user, 'grace@example.com') })).toBeNull()
  // The helper's type is the delegate's own unique-where type.
  const where: UniqueWhereOf<typeof prisma.user> = { id: ada.id }
  expect((await prisma.user.findUnique({ where }))?.id).toBe(ada.id)
})

test('only unique blind indexes get a helper (Contact.nickname has a non-unique one)', () => {
  expect(Object.keys(uniqueBy)).toEqual(['User', 'Patient'])
  expect(Object.keys(uniqueBy.User)).toEqual(['email'])
  expect(Object.keys(uniqueBy.Patient)).toEqual(['ssn'])
  expect(encryptionModel.models.Contact.blindIndexes.nicknameIndex.isUnique).toBe(false)
  expect(renderUniqueLookups({ version: 1, provider: 'postgresql', models: {} })).toMatch(/export const uniqueBy = \{\n\} as const/)
})
