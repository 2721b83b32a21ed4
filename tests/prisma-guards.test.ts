import { InvalidFieldValueError, UnsupportedEncryptedFieldQueryError } from '../src'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import type { QueryRecorder } from './support/query-recorder'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'
import { supportsScalarLists, testDatabaseKind, withTags } from './support/test-database-kind'

/**
 * What the extension refuses, and that a refused query never reaches the database:
 * - a value of the wrong type for an encrypted field (nothing is written);
 * - a filter, order, distinct, groupBy, cursor or min/max on an encrypted field, wherever it
 *   sits in the query.
 * The query guards use fields without a blind index (phone, tags, Post.body, Comment.text,
 * Profile.bio), whose every comparison must stay refused.
 */
let db: TestDatabase
let prisma: EncryptedClient
let recorder: QueryRecorder
let userId: number
let postId: number

beforeAll(async () => {
  db = await createTestDatabase()
  ;({ prisma, recorder } = encryptedClient(db))
  await truncateTables(db)
  const user = await prisma.user.create({
    data: {
      email: 'guard@example.com',
      phone: '+1 555 0100',
      profile: { create: { bio: 'bio' } },
      posts: { create: { title: 'p', body: 'body', comments: { create: { seq: 1, text: 'c' } } } },
    },
    include: { posts: true },
  })
  userId = user.id
  postId = user.posts[0]!.id
})
afterAll(async () => {
  await db.close()
})
beforeEach(() => recorder.clear())

/** The query is refused with a typed error naming the field, and nothing reached the database. */
async function expectRefused(query: () => PromiseLike<unknown>, model: string, field: string): Promise<void> {
  let error: unknown
  try {
    await query()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
  expect(error).toMatchObject({ code: 'KFE_UNSUPPORTED_QUERY', model, field })
  expect(recorder.queries).toEqual([])
}

async function tableSnapshot(): Promise<unknown> {
  const tables = ['users', 'profiles', 'posts', 'comments', 'Category', '_CategoryToPost']
  return Promise.all(tables.map((t) => db.sql(`SELECT * FROM "${t}" ORDER BY 1, 2`)))
}

describe('a value of the wrong type is refused and nothing is written', () => {
  const bad = <T>(v: unknown) => v as T

  const cases: Array<[string, () => PromiseLike<unknown>, string, string]> = [
    ['number for a String', () => prisma.user.create({ data: { email: bad<string>(42) } }), 'User', 'email'],
    [
      'object for a String?',
      () => prisma.user.create({ data: { email: 'x', phone: bad<string>({ toString: () => 'x' }) } }),
      'User',
      'phone',
    ],
    ['Buffer for a String', () => prisma.user.create({ data: { email: bad<string>(Buffer.from('x')) } }), 'User', 'email'],
    ['number in a String[]', () => prisma.user.create({ data: { email: 'x', tags: bad<string[]>(['ok', 7]) } }), 'User', 'tags'],
    ['string for a String[]', () => prisma.user.create({ data: { email: 'x', tags: bad<string[]>('not a list') } }), 'User', 'tags'],
    [
      'string for Bytes',
      () => prisma.user.create({ data: { email: 'x', avatar: bad<Uint8Array<ArrayBuffer>>('not bytes') } }),
      'User',
      'avatar',
    ],
    [
      'number array for Bytes',
      () => prisma.user.create({ data: { email: 'x', avatar: bad<Uint8Array<ArrayBuffer>>([1, 2, 3]) } }),
      'User',
      'avatar',
    ],
    ['bad item in createMany', () => prisma.user.createMany({ data: [{ email: 'fine' }, { email: bad<string>(true) }] }), 'User', 'email'],
    [
      'bad value in a nested create',
      () => prisma.user.create({ data: { email: 'x', posts: { create: [{ title: 't', body: bad<string>(1) }] } } }),
      'Post',
      'body',
    ],
    [
      'bad value at depth 3',
      () =>
        prisma.user.update({
          where: { id: userId },
          data: {
            phone: 'new',
            posts: { update: { where: { id: postId }, data: { comments: { create: { seq: 2, text: bad<string>(['c']) } } } } },
          },
        }),
      'Comment',
      'text',
    ],
    ['bad { set }', () => prisma.user.update({ where: { id: userId }, data: { phone: { set: bad<string>(5) } } }), 'User', 'phone'],
    ['bad { push }', () => prisma.user.update({ where: { id: userId }, data: { tags: { push: bad<string>(5) } } }), 'User', 'tags'],
    [
      'unknown field operation',
      () => prisma.user.update({ where: { id: userId }, data: { phone: bad<string>({ increment: 1 }) } }),
      'User',
      'phone',
    ],
    [
      'bad value in upsert update',
      () => prisma.user.upsert({ where: { id: userId }, create: { email: 'c' }, update: { phone: bad<string>(1) } }),
      'User',
      'phone',
    ],
    [
      'bad value in a nested upsert',
      () =>
        prisma.user.update({
          where: { id: userId },
          data: { profile: { upsert: { create: { bio: 'ok' }, update: { bio: bad<string>(1) } } } },
        }),
      'Profile',
      'bio',
    ],
  ]

  skipListCases(cases)
  test.each(cases.filter(onThisDatabase))('%s', async (_, query, model, field) => {
    const before = await tableSnapshot()
    recorder.clear()
    let error: unknown
    try {
      await query()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(InvalidFieldValueError)
    expect(error).toMatchObject({ code: 'KFE_INVALID_FIELD_VALUE', model, field })
    expect(recorder.queries).toEqual([])
    expect(await tableSnapshot()).toEqual(before)
  })

  test('the message names the type, never the value', async () => {
    await expect(prisma.user.create({ data: { email: 'x', phone: bad<string>(123456789) } })).rejects.toThrow(
      /User\.phone: expected a string, got number/,
    )
    await expect(prisma.user.create({ data: { email: 'x', phone: bad<string>(123456789) } })).rejects.not.toThrow(/123456789/)
  })
})

describe('queries that would compare or order ciphertext are refused before reaching the database', () => {
  const cases: Array<[string, () => PromiseLike<unknown>, string, string]> = [
    // top level, every operation that takes a where
    ['findMany where equals', () => prisma.user.findMany({ where: { phone: '+1 555 0100' } }), 'User', 'phone'],
    ['findFirst where contains', () => prisma.post.findFirst({ where: { body: { contains: 'b' } } }), 'Post', 'body'],
    ['findUnique where with an extra filter', () => prisma.user.findUnique({ where: { id: userId, phone: 'x' } }), 'User', 'phone'],
    [
      'findUniqueOrThrow by composite key and text',
      () => prisma.comment.findUniqueOrThrow({ where: { postId_seq: { postId, seq: 1 }, text: 'c' } }),
      'Comment',
      'text',
    ],
    ['count where', () => prisma.profile.count({ where: { bio: { startsWith: 'b' } } }), 'Profile', 'bio'],
    ['aggregate where', () => prisma.post.aggregate({ where: { body: { not: 'x' } }, _count: true }), 'Post', 'body'],
    ['null check mixed with a value', () => prisma.post.findMany({ where: { body: { not: null, equals: 'x' } } }), 'Post', 'body'],
    ['isEmpty on a non-list field value', () => prisma.user.findMany({ where: { tags: { isEmpty: true, has: 'x' } } }), 'User', 'tags'],
    ['groupBy where', () => prisma.user.groupBy({ by: ['name'], where: { tags: { has: 'x' } } }), 'User', 'tags'],
    ['update where', () => prisma.user.update({ where: { id: userId, phone: 'x' }, data: { name: 'n' } }), 'User', 'phone'],
    ['updateMany where', () => prisma.comment.updateMany({ where: { text: 'c' }, data: { seq: 5 } }), 'Comment', 'text'],
    [
      'updateManyAndReturn where',
      () => prisma.user.updateManyAndReturn({ where: { tags: { hasSome: ['x'] } }, data: { name: 'n' } }),
      'User',
      'tags',
    ],
    [
      'upsert where',
      () => prisma.profile.upsert({ where: { id: 1, bio: 'b' }, create: { bio: 'b', userId }, update: {} }),
      'Profile',
      'bio',
    ],
    ['delete where', () => prisma.post.delete({ where: { id: postId, body: 'body' } }), 'Post', 'body'],
    ['deleteMany where', () => prisma.user.deleteMany({ where: { tags: { hasSome: ['a'] } } }), 'User', 'tags'],
    // logical operators
    ['inside AND', () => prisma.user.findMany({ where: { AND: [{ id: userId }, { phone: 'x' }] } }), 'User', 'phone'],
    ['inside OR', () => prisma.post.findMany({ where: { OR: [{ title: 'p' }, { body: 'x' }] } }), 'Post', 'body'],
    ['inside NOT', () => prisma.user.findMany({ where: { NOT: { tags: { has: 'x' } } } }), 'User', 'tags'],
    [
      'inside NOT inside OR',
      () => prisma.user.findMany({ where: { OR: [{ NOT: [{ name: 'a' }, { phone: { in: ['x'] } }] }] } }),
      'User',
      'phone',
    ],
    // relation filters
    ['some', () => prisma.user.findMany({ where: { posts: { some: { body: 'x' } } } }), 'Post', 'body'],
    ['every', () => prisma.post.findMany({ where: { comments: { every: { text: { endsWith: 'x' } } } } }), 'Comment', 'text'],
    ['none', () => prisma.user.findMany({ where: { reports: { none: { phone: 'x' } } } }), 'User', 'phone'],
    ['is', () => prisma.post.findMany({ where: { author: { is: { phone: 'x' } } } }), 'User', 'phone'],
    ['isNot', () => prisma.user.findMany({ where: { profile: { isNot: { bio: 'x' } } } }), 'Profile', 'bio'],
    ['to-one shorthand', () => prisma.profile.findMany({ where: { user: { phone: 'x' } } }), 'User', 'phone'],
    [
      'relation filter at depth 3',
      () => prisma.user.findMany({ where: { posts: { some: { comments: { some: { text: 'x' } } } } } }),
      'Comment',
      'text',
    ],
    [
      'relation filter inside OR inside a relation filter',
      () => prisma.comment.findMany({ where: { post: { is: { OR: [{ title: 'p' }, { author: { profile: { bio: 'x' } } }] } } } }),
      'Profile',
      'bio',
    ],
    // nested reads
    ['include where', () => prisma.user.findMany({ include: { posts: { where: { body: { contains: 'x' } } } } }), 'Post', 'body'],
    [
      'include where at depth 2',
      () => prisma.user.findMany({ include: { posts: { include: { comments: { where: { text: 'x' } } } } } }),
      'Comment',
      'text',
    ],
    ['select where', () => prisma.user.findMany({ select: { reports: { where: { phone: 'x' } } } }), 'User', 'phone'],
    [
      '_count select where',
      () => prisma.user.findMany({ select: { _count: { select: { posts: { where: { body: 'x' } } } } } }),
      'Post',
      'body',
    ],
    [
      '_count where inside an include',
      () => prisma.user.findMany({ include: { posts: { include: { _count: { select: { comments: { where: { text: 'x' } } } } } } } }),
      'Comment',
      'text',
    ],
    ['Fluent API arguments', () => prisma.user.findUnique({ where: { id: userId } }).posts({ where: { body: 'x' } }), 'Post', 'body'],
    [
      'include where in a write',
      () => prisma.user.update({ where: { id: userId }, data: { name: 'n' }, include: { posts: { where: { body: 'x' } } } }),
      'Post',
      'body',
    ],
    // nested-write filters
    [
      'connect',
      () => prisma.user.update({ where: { id: userId }, data: { posts: { connect: { id: postId, body: 'x' } } } }),
      'Post',
      'body',
    ],
    ['set', () => prisma.user.update({ where: { id: userId }, data: { posts: { set: [{ id: postId, body: 'x' }] } } }), 'Post', 'body'],
    [
      'disconnect',
      () => prisma.user.update({ where: { id: userId }, data: { reports: { disconnect: { id: 1, phone: 'x' } } } }),
      'User',
      'phone',
    ],
    [
      'nested update where',
      () =>
        prisma.user.update({
          where: { id: userId },
          data: { posts: { update: { where: { id: postId, body: 'x' }, data: { title: 't' } } } },
        }),
      'Post',
      'body',
    ],
    [
      'nested to-one update where',
      () => prisma.user.update({ where: { id: userId }, data: { profile: { update: { where: { bio: 'x' }, data: { bio: 'y' } } } } }),
      'Profile',
      'bio',
    ],
    [
      'nested updateMany where',
      () => prisma.post.update({ where: { id: postId }, data: { comments: { updateMany: { where: { text: 'x' }, data: { seq: 3 } } } } }),
      'Comment',
      'text',
    ],
    [
      'nested deleteMany',
      () => prisma.user.update({ where: { id: userId }, data: { posts: { deleteMany: { body: 'x' } } } }),
      'Post',
      'body',
    ],
    [
      'nested delete',
      () => prisma.post.update({ where: { id: postId }, data: { comments: { delete: { postId_seq: { postId, seq: 1 }, text: 'x' } } } }),
      'Comment',
      'text',
    ],
    [
      'nested upsert where',
      () =>
        prisma.user.update({
          where: { id: userId },
          data: { posts: { upsert: { where: { id: postId, body: 'x' }, create: { title: 't' }, update: {} } } },
        }),
      'Post',
      'body',
    ],
    [
      'nested connectOrCreate where',
      () =>
        prisma.user.update({
          where: { id: userId },
          data: { profile: { connectOrCreate: { where: { userId, bio: 'x' }, create: { bio: 'y' } } } },
        }),
      'Profile',
      'bio',
    ],
    // ordering, distinct, grouping, cursor, aggregates
    ['orderBy', () => prisma.user.findMany({ orderBy: { phone: 'asc' } }), 'User', 'phone'],
    ['orderBy in a list', () => prisma.post.findMany({ orderBy: [{ id: 'asc' }, { body: 'desc' }] }), 'Post', 'body'],
    ['orderBy through a relation', () => prisma.post.findMany({ orderBy: { author: { phone: 'asc' } } }), 'User', 'phone'],
    ['orderBy with nulls', () => prisma.post.findMany({ orderBy: { body: { sort: 'asc', nulls: 'last' } } }), 'Post', 'body'],
    ['orderBy in an include', () => prisma.post.findMany({ include: { comments: { orderBy: { text: 'asc' } } } }), 'Comment', 'text'],
    ['distinct', () => prisma.user.findMany({ distinct: ['phone'] }), 'User', 'phone'],
    ['distinct in an include', () => prisma.post.findMany({ include: { comments: { distinct: ['text'] } } }), 'Comment', 'text'],
    ['groupBy by', () => prisma.user.groupBy({ by: ['phone'] }), 'User', 'phone'],
    ['groupBy orderBy', () => prisma.post.groupBy({ by: ['title'], orderBy: { _max: { body: 'asc' } } }), 'Post', 'body'],
    ['groupBy having', () => prisma.post.groupBy({ by: ['title'], having: { body: { _max: { equals: 'x' } } } }), 'Post', 'body'],
    ['groupBy _min', () => prisma.post.groupBy({ by: ['title'], _min: { body: true } }), 'Post', 'body'],
    ['cursor', () => prisma.user.findMany({ cursor: { id: userId, phone: 'x' } }), 'User', 'phone'],
    ['aggregate _min', () => prisma.user.aggregate({ _min: { phone: true } }), 'User', 'phone'],
    ['aggregate _max', () => prisma.comment.aggregate({ _max: { text: true } }), 'Comment', 'text'],
    ['aggregate orderBy', () => prisma.profile.aggregate({ orderBy: { bio: 'asc' }, _count: true }), 'Profile', 'bio'],
  ]

  skipListCases(cases)
  test.each(cases.filter(onThisDatabase))('%s', async (_, query, model, field) => {
    await expectRefused(query, model, field)
  })

  test('the same queries on non-encrypted fields go through (the guards are specific)', async () => {
    await prisma.user.findMany({
      where: { AND: [{ id: userId }, { name: null }] },
      orderBy: { createdAt: 'asc' },
      distinct: ['name'],
      cursor: { id: userId },
    })
    await prisma.user.findMany({
      where: { posts: { some: { comments: { some: { seq: 1 } } } } },
      include: { posts: { where: { title: 'p' }, orderBy: { title: 'asc' } } },
    })
    await prisma.post.groupBy({ by: ['title'], _min: { id: true }, orderBy: { title: 'asc' }, having: { id: { _max: { gt: 0 } } } })
    await prisma.user.update({ where: { id: userId }, data: { posts: { connect: { id: postId, title: 'p' } } } })
    expect(recorder.queries.map((q) => q.operation)).toEqual(['findMany', 'findMany', 'groupBy', 'update'])
  })

  test('an encrypted field set to undefined is no filter (as Prisma reads it) and goes through', async () => {
    const optionalPhone: string | undefined = undefined
    const found = await prisma.user.findMany({
      where: { phone: optionalPhone, id: userId, posts: { some: { body: undefined } } },
      orderBy: { phone: undefined },
    })
    expect(found.map((u) => u.phone)).toEqual(['+1 555 0100'])
    expect(recorder.queries).toHaveLength(1)
  })

  test('NULL and emptiness checks on an encrypted field go through and answer as on plaintext', async () => {
    const other = await prisma.user.create({ data: { email: 'presence@example.com', ...withTags(['t']) } })
    const ids = [userId, other.id]
    await prisma.user.update({ where: { id: userId }, data: { ...withTags([]) } })
    const byId = (rows: Array<{ id: number }>) => rows.map((r) => r.id).sort((a, b) => a - b)
    expect(byId(await prisma.user.findMany({ where: { id: { in: ids }, phone: null } }))).toEqual([other.id])
    expect(byId(await prisma.user.findMany({ where: { id: { in: ids }, phone: { equals: null } } }))).toEqual([other.id])
    expect(byId(await prisma.user.findMany({ where: { id: { in: ids }, phone: { not: null } } }))).toEqual([userId])
    if (supportsScalarLists()) {
      expect(byId(await prisma.user.findMany({ where: { id: { in: ids }, tags: { isEmpty: true } } }))).toEqual([userId])
      expect(byId(await prisma.user.findMany({ where: { id: { in: ids }, NOT: { tags: { isEmpty: true } } } }))).toEqual([other.id])
    }
    expect(await prisma.post.count({ where: { body: { not: null }, author: { id: userId } } })).toBe(1)
    await prisma.user.delete({ where: { id: other.id } })
  })

  test('the error names the operator and never a value', async () => {
    const error = await prisma.user.findMany({ where: { phone: { startsWith: '+1 555 0100' } } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
    expect((error as UnsupportedEncryptedFieldQueryError).operator).toBe('startsWith')
    expect((error as Error).message).toContain('User.phone')
    expect((error as Error).message).not.toContain('555')
  })
})

type GuardCase = [string, () => PromiseLike<unknown>, string, string]

/** The cases on `User.tags` (String[]) run where lists exist; elsewhere they are listed as skipped, by name. */
function onThisDatabase(c: GuardCase): boolean {
  return supportsScalarLists() || c[3] !== 'tags'
}

function skipListCases(cases: GuardCase[]): void {
  const skipped = cases.filter((c) => !onThisDatabase(c))
  if (skipped.length > 0) test.skip.each(skipped)(`%s [skipped on ${testDatabaseKind()}: String[] is PostgreSQL-only]`, () => undefined)
}
