import { UnsupportedEncryptedFieldQueryError } from '../src'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import type { QueryRecorder } from './support/query-recorder'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

/**
 * Two ways a filter could compare a column with plaintext or ciphertext without an error:
 * - `having` on a blind index column: the same rule as `where` (only stored index values pass,
 *   on the column and in `_min`/`_max`; anything else is refused before the query is sent);
 * - field references (`prisma.user.fields.email`): comparing a plain column with an encrypted
 *   field or a blind index (or the reverse) would compare with ciphertext: refused.
 */
let db: TestDatabase
let prisma: EncryptedClient
let recorder: QueryRecorder
let stored: string

beforeAll(async () => {
  db = await createTestDatabase()
  ;({ prisma, recorder } = encryptedClient(db))
  await truncateTables(db)
  await prisma.user.create({ data: { email: 'having@example.com', name: 'Ann', phone: 'Ann' } })
  await prisma.user.create({ data: { email: 'other@example.com', name: 'Bob' } })
  const rows = await db.sql<{ email_index: string }>(`SELECT email_index FROM users WHERE name = 'Ann'`)
  stored = rows[0]!.email_index
})
afterAll(async () => {
  await db.close()
})
beforeEach(() => recorder.clear())

async function expectRefused(query: () => PromiseLike<unknown>, model: string, field: string, operator?: RegExp): Promise<void> {
  let error: unknown
  try {
    await query()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
  expect(error).toMatchObject({ code: 'KFE_UNSUPPORTED_QUERY', model, field })
  if (operator) expect((error as UnsupportedEncryptedFieldQueryError).operator).toMatch(operator)
  expect((error as Error).message).not.toContain('having@example.com')
  expect(recorder.queries).toEqual([])
}

describe('having on a blind index column takes only stored index values', () => {
  const refused: Array<[string, () => PromiseLike<unknown>]> = [
    ['a bare plaintext', () => prisma.user.groupBy({ by: ['emailIndex'], having: { emailIndex: 'having@example.com' } })],
    ['equals plaintext', () => prisma.user.groupBy({ by: ['emailIndex'], having: { emailIndex: { equals: 'having@example.com' } } })],
    ['contains', () => prisma.user.groupBy({ by: ['emailIndex'], having: { emailIndex: { contains: 'having' } } })],
    [
      'in with a plaintext',
      () => prisma.user.groupBy({ by: ['emailIndex'], having: { emailIndex: { in: [stored, 'having@example.com'] } } }),
    ],
    [
      '_min equals plaintext',
      () => prisma.user.groupBy({ by: ['name'], having: { emailIndex: { _min: { equals: 'having@example.com' } } } }),
    ],
    ['_max contains', () => prisma.user.groupBy({ by: ['name'], having: { emailIndex: { _max: { contains: 'having' } } } })],
    ['_min gt', () => prisma.user.groupBy({ by: ['name'], having: { emailIndex: { _min: { gt: 'h' } } } })],
    [
      'inside OR',
      () => prisma.user.groupBy({ by: ['emailIndex'], having: { OR: [{ name: 'Ann' }, { emailIndex: 'having@example.com' }] } }),
    ],
    ['inside NOT', () => prisma.user.groupBy({ by: ['emailIndex'], having: { NOT: { emailIndex: { not: 'having@example.com' } } } })],
  ]
  test.each(refused)('%s is refused', async (_name, query) => {
    await expectRefused(query, 'User', 'emailIndex')
  })

  test('stored index values and _count filters run', async () => {
    await expect(prisma.user.groupBy({ by: ['emailIndex'], having: { emailIndex: stored } })).resolves.toEqual([{ emailIndex: stored }])
    const byName = await prisma.user.groupBy({ by: ['name'], having: { emailIndex: { _min: { equals: stored } } } })
    expect(byName).toEqual([{ name: 'Ann' }])
    const counted = await prisma.user.groupBy({ by: ['name'], having: { emailIndex: { _count: { gt: 0 } } }, orderBy: { name: 'asc' } })
    expect(counted).toEqual([{ name: 'Ann' }, { name: 'Bob' }])
  })
})

describe('field references to encrypted fields or blind indexes are refused', () => {
  const f = () => prisma.user.fields
  const refused: Array<[string, () => PromiseLike<unknown>, string, string]> = [
    ['plain lt encrypted', () => prisma.user.findMany({ where: { name: { lt: f().email } } }), 'User', 'email'],
    ['plain equals encrypted (no index)', () => prisma.user.findMany({ where: { name: { equals: f().phone } } }), 'User', 'phone'],
    ['plain equals blind index', () => prisma.user.findMany({ where: { name: { equals: f().emailIndex } } }), 'User', 'emailIndex'],
    ['nested in not', () => prisma.user.findMany({ where: { NOT: { name: { not: { gte: f().phone } } } } }), 'User', 'phone'],
    [
      'in a relation filter',
      () => prisma.user.findMany({ where: { posts: { some: { title: { equals: prisma.post.fields.body } } } } }),
      'Post',
      'body',
    ],
    ['in count', () => prisma.user.count({ where: { name: { gt: f().phone } } }), 'User', 'phone'],
    ['in updateMany', () => prisma.user.updateMany({ where: { name: { equals: f().email } }, data: { name: 'x' } }), 'User', 'email'],
    ['encrypted equals plain (reverse)', () => prisma.user.findMany({ where: { phone: { equals: f().name } } }), 'User', 'phone'],
    ['blind index equals plain', () => prisma.user.findMany({ where: { emailIndex: { equals: f().name } } }), 'User', 'emailIndex'],
    ['in having', () => prisma.user.groupBy({ by: ['name'], having: { name: { equals: f().phone } } }), 'User', 'phone'],
  ]
  test.each(refused)('%s', async (_name, query, model, field) => {
    await expectRefused(query, model, field)
  })

  test('the blind-indexed source compared with a field reference is refused before the query', async () => {
    await expect(prisma.user.findMany({ where: { email: { equals: f().name } } })).rejects.toMatchObject({ model: 'User', field: 'email' })
    expect(recorder.queries).toEqual([])
  })

  test('references between plain columns still run', async () => {
    await expect(
      prisma.user.findMany({ where: { name: { equals: f().name } }, select: { name: true }, orderBy: { id: 'asc' } }),
    ).resolves.toEqual([{ name: 'Ann' }, { name: 'Bob' }])
  })
})
