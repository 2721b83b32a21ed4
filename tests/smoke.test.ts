import { fieldEncryption } from '../src'
import { encryptionModel } from '../prisma/generated/encryption'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { testLocalKeys } from './support/keys'

let db: TestDatabase
beforeAll(async () => { db = await createTestDatabase() })
afterAll(async () => { await db.close() })

test('smoke', async () => {
  const prisma = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys: testLocalKeys() }))
  const u = await prisma.user.create({ data: { email: 'ada@example.com', tags: ['a', 'b'], posts: { create: [{ title: 't', body: 'secret body' }] } }, include: { posts: true } })
  console.log(JSON.stringify(u))
  console.log(await db.sql('select * from users'))
  const posts = await prisma.user.findUnique({ where: { id: u.id } }).posts()
  console.log('fluent', posts)
  const prof = await prisma.user.findUnique({ where: { id: u.id } }).profile()
  console.log('fluent', prof)
})
