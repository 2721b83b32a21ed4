import { randomBytes } from 'node:crypto'
import { encryptionModel } from './support/test-encryption-model'
import { Prisma } from '../prisma/generated/client/client'
import { LocalKeyProvider, fieldEncryption, type BlindIndexOptions } from '../src'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

/**
 * While a previous index version is configured, `@unique` on the index column cannot see a row
 * holding the same value under the old version: creates and upserts (and updates) that set a
 * unique indexed value read for one first (in the query's transaction) and fail with Prisma's own
 * P2002, so no duplicate appears and findUnique never has two rows to choose from.
 */
const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
const rootV1 = randomBytes(32)
const V1: BlindIndexOptions = { rootKey: rootV1 }
const SWITCHING: BlindIndexOptions = { version: 2, rootKey: randomBytes(32), previous: { version: 1, rootKey: rootV1 } }

let db: TestDatabase
const client = (blindIndex: BlindIndexOptions) => db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys, blindIndex }))
let v1: ReturnType<typeof client>
let switching: ReturnType<typeof client>
const byEmail = (email: string) => ({ email }) as unknown as Prisma.UserWhereUniqueInput

beforeAll(async () => {
  db = await createTestDatabase()
  v1 = client(V1)
  switching = client(SWITCHING)
})
afterAll(async () => {
  await db.close()
})
let oldRow: { id: number }
beforeEach(async () => {
  await truncateTables(db)
  oldRow = await v1.user.create({ data: { email: 'dup@x' } }) // a row still on version 1
})

async function expectDuplicate(run: () => PromiseLike<unknown>): Promise<void> {
  let error: unknown
  try {
    await run()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(Prisma.PrismaClientKnownRequestError)
  expect(error).toMatchObject({ code: 'P2002', meta: { modelName: 'User', target: ['emailIndex'] } })
  expect((error as Error).message).not.toContain('dup@x')
  const rows = await db.sql<{ n: string | number }>('SELECT count(*) AS n FROM users')
  expect(Number(rows[0]!.n)).toBe(1)
}

describe('a value held by a row on the previous version is a duplicate', () => {
  test('create (normalised: DUP@X matches)', async () => {
    await expectDuplicate(() => switching.user.create({ data: { email: ' DUP@x' } }))
  })
  test('createMany and createManyAndReturn', async () => {
    await expectDuplicate(() => switching.user.createMany({ data: [{ email: 'new@x' }, { email: 'dup@x' }] }))
    await expectDuplicate(() => switching.user.createManyAndReturn({ data: [{ email: 'dup@x' }] }))
  })
  test('a nested create', async () => {
    await expectDuplicate(() => switching.profile.create({ data: { bio: 'b', user: { create: { email: 'dup@x' } } } }))
  })
  test('upsert whose target does not exist (the create branch would run)', async () => {
    await expectDuplicate(() => switching.user.upsert({ where: { id: 999 }, create: { email: 'dup@x' }, update: {} }))
  })
  test('update of another row to the value', async () => {
    const other = await switching.user.create({ data: { email: 'other@x' } })
    let error: unknown
    try {
      await switching.user.update({ where: { id: other.id }, data: { email: 'dup@x' } })
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ code: 'P2002' })
    await expect(switching.user.findUnique({ where: { id: other.id } })).resolves.toMatchObject({ email: 'other@x' })
  })
  test('inside an interactive transaction, read in the transaction', async () => {
    await expect(
      switching.$transaction(async (tx) => {
        await tx.user.create({ data: { email: 'fresh@x' } })
        await tx.user.create({ data: { email: 'dup@x' } })
      }),
    ).rejects.toMatchObject({ code: 'P2002' })
    await expect(switching.user.count()).resolves.toBe(1)
  })
})

describe('what is not a duplicate still works', () => {
  test('a new value', async () => {
    await expect(switching.user.create({ data: { email: 'new@x' } })).resolves.toMatchObject({ email: 'new@x' })
  })
  test('upsert of the row itself, by the value or by id (the update branch runs)', async () => {
    await expect(
      switching.user.upsert({ where: byEmail('dup@x'), create: { email: 'dup@x' }, update: { name: 'a' } }),
    ).resolves.toMatchObject({ id: oldRow.id, name: 'a' })
    await expect(
      switching.user.upsert({ where: { id: oldRow.id }, create: { email: 'dup@x' }, update: { email: 'dup@x', name: 'b' } }),
    ).resolves.toMatchObject({ id: oldRow.id, name: 'b' })
    await expect(switching.user.count()).resolves.toBe(1)
  })
  test('update of the row to its own value', async () => {
    await expect(switching.user.update({ where: { id: oldRow.id }, data: { email: 'DUP@x' } })).resolves.toMatchObject({ email: 'DUP@x' })
  })
  test('without a previous version, no extra read: the constraint does the work', async () => {
    await expect(v1.user.create({ data: { email: 'dup@x' } })).rejects.toMatchObject({ code: 'P2002' })
  })
})
