import { randomUUID } from 'node:crypto'
import { cellsContaining, dumpTables } from './support/dump-tables'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'
import { listTest, supportsScalarLists, withTags } from './support/test-database-kind'

/**
 * Nested writes and reads at any depth, the Fluent API, both forms of $transaction, the
 * composite-key model, the many-to-many relation and the self relation. Every test ends by
 * checking, with raw SQL over every table, that no plaintext it wrote was stored.
 */
let db: TestDatabase
let prisma: EncryptedClient
let written: string[]

beforeAll(async () => {
  db = await createTestDatabase()
  ;({ prisma } = encryptedClient(db))
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  await truncateTables(db)
  written = []
})
afterEach(async () => {
  const cells = await dumpTables(db)
  for (const plaintext of written) expect(cellsContaining(cells, plaintext)).toEqual([])
})

/** A unique plaintext, remembered so that afterEach can check it was never stored. */
const secret = (label: string) => {
  const value = `${label}-${randomUUID()}`
  written.push(value)
  return value
}

describe('nested writes', () => {
  test('create at depth 3 (user > posts > comments, categories, profile, self relation)', async () => {
    const s = {
      email: secret('email'),
      bio: secret('bio'),
      body: secret('body'),
      text1: secret('comment-1'),
      text2: secret('comment-2'),
      note: secret('note'),
      reportEmail: secret('report'),
      managerEmail: secret('manager'),
      reportBio: secret('report-bio'),
    }
    const user = await prisma.user.create({
      data: {
        email: s.email,
        profile: { create: { bio: s.bio } },
        manager: { create: { email: s.managerEmail } },
        reports: { create: [{ email: s.reportEmail, profile: { create: { bio: s.reportBio } } }] },
        posts: {
          create: [
            {
              title: 'first',
              body: s.body,
              comments: {
                create: [
                  { seq: 1, text: s.text1 },
                  { seq: 2, text: s.text2 },
                ],
              },
              categories: { create: [{ name: 'cat-a', secretNote: s.note }] },
            },
          ],
        },
      },
      include: {
        profile: true,
        manager: true,
        reports: { include: { profile: true } },
        posts: { include: { comments: { orderBy: { seq: 'asc' } }, categories: true } },
      },
    })
    expect(user.email).toBe(s.email)
    expect(user.profile?.bio).toBe(s.bio)
    expect(user.manager?.email).toBe(s.managerEmail)
    expect(user.reports.map((r) => [r.email, r.profile?.bio])).toEqual([[s.reportEmail, s.reportBio]])
    expect(user.posts[0]?.body).toBe(s.body)
    expect(user.posts[0]?.comments.map((c) => c.text)).toEqual([s.text1, s.text2])
    expect(user.posts[0]?.categories.map((c) => c.secretNote)).toEqual([s.note])
  })

  test('createMany under a relation', async () => {
    const bodies = [secret('cm-body-1'), secret('cm-body-2')]
    const user = await prisma.user.create({
      data: { email: secret('cm-email'), posts: { createMany: { data: bodies.map((body, i) => ({ title: `t${i}`, body })) } } },
      include: { posts: { orderBy: { id: 'asc' } } },
    })
    expect(user.posts.map((p) => p.body)).toEqual(bodies)
  })

  test('connectOrCreate, create branch and connect branch', async () => {
    const note = secret('coc-note')
    const bio = secret('coc-bio')
    const first = await prisma.post.create({
      data: {
        title: 'p1',
        author: { create: { email: secret('coc-author'), profile: { connectOrCreate: { where: { userId: 999 }, create: { bio } } } } },
        categories: { connectOrCreate: [{ where: { name: 'shared' }, create: { name: 'shared', secretNote: note } }] },
      },
      include: { categories: true, author: { include: { profile: true } } },
    })
    expect(first.categories[0]?.secretNote).toBe(note)
    expect(first.author.profile?.bio).toBe(bio)
    const second = await prisma.post.create({
      data: {
        title: 'p2',
        author: { connect: { id: first.authorId } },
        categories: { connectOrCreate: [{ where: { name: 'shared' }, create: { name: 'shared', secretNote: secret('coc-unused') } }] },
      },
      include: { categories: true },
    })
    expect(second.categories.map((c) => [c.id, c.secretNote])).toEqual([[first.categories[0]!.id, note]])
  })

  test('upsert under a to-one and a to-many relation, both branches', async () => {
    const user = await prisma.user.create({
      data: { email: secret('up-email'), posts: { create: { title: 'existing', body: secret('up-old') } } },
      include: { posts: true },
    })
    const created = { bio: secret('up-bio-created'), body: secret('up-body-created') }
    const unused = { bio: secret('up-bio-unused'), body: secret('up-body-unused') }
    const updatedBody = secret('up-body-updated')
    const afterCreate = await prisma.user.update({
      where: { id: user.id },
      data: {
        profile: { upsert: { create: { bio: created.bio }, update: { bio: unused.bio } } },
        posts: {
          upsert: [
            { where: { id: user.posts[0]!.id }, create: { title: 'x', body: unused.body }, update: { body: updatedBody } },
            { where: { id: 987654 }, create: { title: 'new', body: created.body }, update: { body: unused.body } },
          ],
        },
      },
      include: { profile: true, posts: { orderBy: { id: 'asc' } } },
    })
    expect(afterCreate.profile?.bio).toBe(created.bio)
    expect(afterCreate.posts.map((p) => p.body)).toEqual([updatedBody, created.body])
    const updatedBio = secret('up-bio-updated')
    const afterUpdate = await prisma.user.update({
      where: { id: user.id },
      data: { profile: { upsert: { create: { bio: unused.bio }, update: { bio: updatedBio } } } },
      include: { profile: true },
    })
    expect(afterUpdate.profile?.bio).toBe(updatedBio)
  })

  test('update and updateMany at depth 3, both forms of to-one update', async () => {
    const user = await prisma.user.create({
      data: {
        email: secret('u-email'),
        profile: { create: { bio: secret('u-bio-0') } },
        posts: {
          create: [
            { title: 'a', body: secret('u-a'), comments: { create: { seq: 1, text: secret('u-c') } } },
            { title: 'b', body: secret('u-b') },
          ],
        },
      },
      include: { posts: { orderBy: { id: 'asc' } } },
    })
    const [a, b] = user.posts
    const s = { bio1: secret('u-bio-1'), bio2: secret('u-bio-2'), a: secret('u-a-new'), text: secret('u-c-new'), b: secret('u-b-new') }
    await prisma.user.update({
      where: { id: user.id },
      data: {
        profile: { update: { bio: s.bio1 } },
        posts: {
          update: [
            {
              where: { id: a!.id },
              data: { body: s.a, comments: { update: { where: { postId_seq: { postId: a!.id, seq: 1 } }, data: { text: s.text } } } },
            },
          ],
          updateMany: { where: { title: 'b' }, data: { body: s.b } },
        },
      },
    })
    let read = await prisma.user.findUniqueOrThrow({
      where: { id: user.id },
      include: { profile: true, posts: { orderBy: { id: 'asc' }, include: { comments: true } } },
    })
    expect(read.profile?.bio).toBe(s.bio1)
    expect(read.posts.map((p) => p.body)).toEqual([s.a, s.b])
    expect(read.posts[0]?.comments[0]?.text).toBe(s.text)
    expect(b!.id).toBe(read.posts[1]!.id)

    await prisma.user.update({ where: { id: user.id }, data: { profile: { update: { data: { bio: s.bio2 } } } } })
    read = await prisma.user.findUniqueOrThrow({
      where: { id: user.id },
      include: { profile: true, posts: { include: { comments: true } } },
    })
    expect(read.profile?.bio).toBe(s.bio2)
  })

  test('set, connect and disconnect keep relations and values intact', async () => {
    const user = await prisma.user.create({
      data: {
        email: secret('set-email'),
        posts: {
          create: [
            { title: '1', body: secret('set-1') },
            { title: '2', body: secret('set-2') },
          ],
        },
      },
      include: { posts: { orderBy: { id: 'asc' } } },
    })
    const other = await prisma.user.create({ data: { email: secret('set-other') } })
    const cat = await prisma.category.create({ data: { name: 'c', secretNote: secret('set-note') } })
    await prisma.post.update({
      where: { id: user.posts[0]!.id },
      data: { author: { connect: { id: other.id } }, categories: { connect: [{ id: cat.id }] } },
    })
    await prisma.category.update({ where: { id: cat.id }, data: { posts: { set: [{ id: user.posts[1]!.id }] } } })
    const read = await prisma.category.findUniqueOrThrow({ where: { id: cat.id }, include: { posts: { include: { author: true } } } })
    expect(read.posts.map((p) => [p.body, p.author.email])).toEqual([[user.posts[1]!.body, user.email]])
    const moved = await prisma.user.findUniqueOrThrow({ where: { id: other.id }, include: { posts: true } })
    expect(moved.posts.map((p) => p.body)).toEqual([user.posts[0]!.body])
    await prisma.user.update({ where: { id: other.id }, data: { manager: { connect: { id: user.id } } } })
    await prisma.user.update({ where: { id: other.id }, data: { manager: { disconnect: true } } })
    expect((await prisma.user.findUniqueOrThrow({ where: { id: other.id } })).managerId).toBeNull()
  })

  listTest('{ set } and { push } on an encrypted String[]', async () => {
    const [a, b, c, d] = [secret('list-a'), secret('list-b'), secret('list-c'), secret('list-d')]
    const user = await prisma.user.create({ data: { email: secret('list-email'), tags: { set: [a] } } })
    expect(user.tags).toEqual([a])
    expect((await prisma.user.update({ where: { id: user.id }, data: { tags: { push: b } } })).tags).toEqual([a, b])
    expect((await prisma.user.update({ where: { id: user.id }, data: { tags: { push: [c, d] } } })).tags).toEqual([a, b, c, d])
    const [row] = await db.sql<{ tags: string[] }>('SELECT tags FROM users WHERE id = $1', [user.id])
    expect(row!.tags).toHaveLength(4)
    for (const t of row!.tags) expect(t.startsWith('$kfe$')).toBe(true)
    expect((await prisma.user.update({ where: { id: user.id }, data: { tags: { set: [] } } })).tags).toEqual([])
    expect((await prisma.user.update({ where: { id: user.id }, data: { tags: [d] } })).tags).toEqual([d])
  })

  test('nested deletes', async () => {
    const user = await prisma.user.create({
      data: {
        email: secret('del'),
        profile: { create: { bio: secret('del-bio') } },
        posts: {
          create: [
            { title: 'keep', body: secret('keep') },
            { title: 'drop', body: secret('drop') },
          ],
        },
      },
    })
    const after = await prisma.user.update({
      where: { id: user.id },
      data: { profile: { delete: true }, posts: { deleteMany: { title: 'drop' } } },
      include: { profile: true, posts: true },
    })
    expect(after.profile).toBeNull()
    expect(after.posts.map((p) => p.title)).toEqual(['keep'])
  })
})

describe('nested reads', () => {
  let userId: number
  let s: Record<string, string>
  beforeEach(async () => {
    s = {
      email: secret('r-email'),
      bio: secret('r-bio'),
      body: secret('r-body'),
      text: secret('r-text'),
      note: secret('r-note'),
      report: secret('r-report'),
      reportOfReport: secret('r-report-2'),
      reportBody: secret('r-report-body'),
    }
    const user = await prisma.user.create({
      data: {
        email: s.email!,
        ...withTags([s.email!]),
        profile: { create: { bio: s.bio! } },
        posts: {
          create: {
            title: 'p',
            body: s.body!,
            comments: { create: { seq: 7, text: s.text! } },
            categories: { create: { name: 'n', secretNote: s.note! } },
          },
        },
        reports: {
          create: {
            email: s.report!,
            posts: { create: { title: 'rp', body: s.reportBody! } },
            reports: { create: { email: s.reportOfReport! } },
          },
        },
      },
    })
    userId = user.id
  })

  test('include at any depth, through every relation kind', async () => {
    const user = await prisma.user.findUniqueOrThrow({
      where: { id: userId },
      include: {
        profile: { include: { user: true } },
        posts: { include: { comments: { include: { post: { include: { author: true } } } }, categories: { include: { posts: true } } } },
        reports: { include: { posts: true, reports: { include: { manager: true } } } },
      },
    })
    expect(user.profile?.bio).toBe(s.bio)
    expect(user.profile?.user.email).toBe(s.email)
    const post = user.posts[0]!
    expect(post.comments[0]?.text).toBe(s.text)
    expect(post.comments[0]?.post.author.email).toBe(s.email)
    if (supportsScalarLists()) expect(post.comments[0]?.post.author.tags).toEqual([s.email])
    expect(post.categories[0]?.secretNote).toBe(s.note)
    expect(post.categories[0]?.posts[0]?.body).toBe(s.body)
    expect(user.reports[0]?.email).toBe(s.report)
    expect(user.reports[0]?.posts[0]?.body).toBe(s.reportBody)
    expect(user.reports[0]?.reports[0]?.email).toBe(s.reportOfReport)
    expect(user.reports[0]?.reports[0]?.manager?.email).toBe(s.report)
  })

  test('select at any depth', async () => {
    const user = await prisma.user.findUniqueOrThrow({
      where: { id: userId },
      select: {
        email: true,
        posts: { select: { body: true, comments: { select: { text: true } }, categories: { select: { secretNote: true } } } },
        profile: { select: { bio: true } },
      },
    })
    expect(user).toEqual({
      email: s.email,
      profile: { bio: s.bio },
      posts: [{ body: s.body, comments: [{ text: s.text }], categories: [{ secretNote: s.note }] }],
    })
  })

  test('omit in nested reads, and _count', async () => {
    const user = await prisma.user.findUniqueOrThrow({
      where: { id: userId },
      omit: supportsScalarLists() ? { tags: true } : { phone: true },
      include: {
        posts: { omit: { body: true }, include: { comments: true, _count: { select: { comments: true } } } },
        _count: { select: { posts: true, reports: { where: { name: null } } } },
      },
    })
    expect(user.email).toBe(s.email)
    expect(supportsScalarLists() ? 'tags' in user : 'phone' in user).toBe(false)
    expect('body' in user.posts[0]!).toBe(false)
    expect(user.posts[0]?.comments[0]?.text).toBe(s.text)
    expect(user.posts[0]?._count).toEqual({ comments: 1 })
    expect(user._count).toEqual({ posts: 1, reports: 1 })
  })

  test('the Fluent API, one and several steps', async () => {
    const posts = await prisma.user.findUnique({ where: { id: userId } }).posts()
    expect(posts?.map((p) => p.body)).toEqual([s.body])
    const profile = await prisma.user.findUnique({ where: { id: userId } }).profile()
    expect(profile?.bio).toBe(s.bio)
    const chained = await prisma.post
      .findFirst({ where: { title: 'p' } })
      .author()
      .posts()
    expect(chained?.map((p) => p.body)).toEqual([s.body])
    const withArgs = await prisma.user.findUniqueOrThrow({ where: { id: userId } }).posts({ include: { comments: true, categories: true } })
    expect(withArgs.map((p) => [p.comments[0]?.text, p.categories[0]?.secretNote])).toEqual([[s.text, s.note]])
    const fromComment = await prisma.comment
      .findFirst({ where: { seq: 7 } })
      .post()
      .author()
      .profile()
    expect(fromComment?.bio).toBe(s.bio)
    const reportsOfReports = await prisma.user.findUnique({ where: { id: userId } }).reports({ include: { reports: true } })
    expect(reportsOfReports?.[0]?.reports.map((r) => r.email)).toEqual([s.reportOfReport])
    const managerOf = await prisma.user.findFirst({ where: { reports: { none: {} }, managerId: { not: null } } }).manager()
    expect(managerOf?.email).toBe(s.report)
  })
})

describe('$transaction', () => {
  test('array form', async () => {
    const [email, body] = [secret('tx-email'), secret('tx-body')]
    const [created, , all] = await prisma.$transaction([
      prisma.user.create({ data: { email, posts: { create: { title: 't', body } } } }),
      prisma.auditLog.create({ data: { message: 'created a user' } }),
      prisma.post.findMany({ include: { author: true } }),
    ])
    expect(created.email).toBe(email)
    expect(all.map((p) => [p.body, p.author.email])).toEqual([[body, email]])
  })

  test('interactive form, commit and rollback', async () => {
    const [email, phone] = [secret('itx-email'), secret('itx-phone')]
    const id = await prisma.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email } })
      const updated = await tx.user.update({ where: { id: user.id }, data: { phone } })
      expect(updated).toMatchObject({ email, phone })
      expect((await tx.user.findUniqueOrThrow({ where: { id: user.id } })).phone).toBe(phone)
      return user.id
    })
    expect(await prisma.user.findUnique({ where: { id } })).toMatchObject({ email, phone })

    const lost = secret('itx-lost')
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.user.create({ data: { email: lost } })
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
    expect(await prisma.user.count()).toBe(1)
  })
})

describe('composite key model', () => {
  test('create, findUnique, update, upsert and delete by the composite key', async () => {
    const post = await prisma.post.create({ data: { title: 'c', author: { create: { email: secret('ck-author') } } } })
    const key = { postId_seq: { postId: post.id, seq: 1 } }
    const [t1, t2, t3, t4] = [secret('ck-1'), secret('ck-2'), secret('ck-3'), secret('ck-4')]
    expect((await prisma.comment.create({ data: { postId: post.id, seq: 1, text: t1 } })).text).toBe(t1)
    expect((await prisma.comment.findUniqueOrThrow({ where: key })).text).toBe(t1)
    expect((await prisma.comment.update({ where: key, data: { text: t2 } })).text).toBe(t2)
    expect(
      (await prisma.comment.upsert({ where: key, create: { postId: post.id, seq: 1, text: secret('ck-unused') }, update: { text: t3 } }))
        .text,
    ).toBe(t3)
    expect(
      (
        await prisma.comment.upsert({
          where: { postId_seq: { postId: post.id, seq: 2 } },
          create: { postId: post.id, seq: 2, text: t4 },
          update: {},
        })
      ).text,
    ).toBe(t4)
    const [row] = await db.sql<{ text: string }>('SELECT text FROM comments WHERE post_id = $1 AND seq = 1', [post.id])
    expect(row!.text.startsWith('$kfe$')).toBe(true)
    expect((await prisma.comment.delete({ where: key })).text).toBe(t3)
    expect((await prisma.comment.findMany()).map((c) => c.text)).toEqual([t4])
  })
})
