import { randomBytes } from 'node:crypto'
import { encryptionModel } from './support/test-encryption-model'
import { Prisma } from '../prisma/generated/client/client'
import {
  BlindIndexer,
  BlindIndexWriteError,
  InvalidFieldValueError,
  UnsupportedEncryptedFieldQueryError,
  fieldEncryption,
  type BlindIndexField,
} from '../src'
import { blindIndexFieldsOf } from '../src/blind-index/blind-index-field'
import { testLocalKeys } from './support/keys'
import { createCapturingTestDatabase, type CapturingTestDatabase } from './support/sql-capture'
import { supportsManyAndReturn } from './support/test-database-kind'

/**
 * Blind indexes through the Prisma extension, checked at the driver adapter: every statement
 * and parameter that reaches the database is captured, and after each test none of the
 * plaintexts the test used may appear there.
 */
const keys = testLocalKeys()
const client = (db: CapturingTestDatabase) => db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys }))

let db: CapturingTestDatabase
let prisma: ReturnType<typeof client>
let expected: BlindIndexer
const fields = blindIndexFieldsOf(encryptionModel)
const emailField = fields.find((f) => f.index === 'emailIndex')!
const nicknameField = fields.find((f) => f.index === 'nicknameIndex')!
const secrets = new Set<string>()

/** A plaintext of the workload (recorded: it must never reach the database). */
function secret(label: string): string {
  const value = `${label}.${randomBytes(5).toString('hex')}@Example.ORG`
  secrets.add(value)
  return value
}
const idx = (field: BlindIndexField, value: string) => expected.compute(field, value)

beforeAll(async () => {
  db = await createCapturingTestDatabase()
  prisma = client(db)
  // An indexer of its own, on the same root key: the values the extension must store.
  expected = new BlindIndexer(fields, { rootKey: keys })
  await expected.load()
})
afterAll(async () => {
  await db?.close()
})
afterEach(() => {
  expect(db.capture.leaked(secrets)).toEqual([])
})

async function storedUser(id: number) {
  const [row] = await db.sql<{ email: string; email_index: string | null }>('SELECT email, email_index FROM users WHERE id = $1', [id])
  return row!
}

async function ids(rows: Promise<Array<{ id: number }>>): Promise<number[]> {
  return (await rows).map((r) => r.id).sort((a, b) => a - b)
}

/** Runs a query that must be refused before anything reaches the database. */
async function refusedBeforeSending(run: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const before = db.capture.statements.length
  const err = await run().then(
    () => new Error('the query was not refused'),
    (e: Error) => e,
  )
  expect(db.capture.statements.length).toBe(before)
  return err as Error & Record<string, unknown>
}

describe('the SQL capture (positive control)', () => {
  it('sees the parameters that reach the database', async () => {
    const marker = `plain-marker-${randomBytes(4).toString('hex')}`
    const email = secret('control')
    db.capture.clear()
    const u = await prisma.user.create({ data: { email, name: marker } })
    // The plaintext `name` is sent as a parameter, and the capture finds it...
    expect(db.capture.leaked([marker])).toEqual([marker])
    expect(db.capture.matching(/INSERT INTO/).some((s) => s.args.includes(marker))).toBe(true)
    // ...next to the email's ciphertext and its index, never the email itself.
    const insert = db.capture.matching(/INSERT INTO/)[0]!
    expect(insert.args).toContain(idx(emailField, email))
    expect(insert.args.some((a) => typeof a === 'string' && a.startsWith('$kfe$'))).toBe(true)
    expect((await storedUser(u.id)).email_index).toBe(idx(emailField, email))
  })
})

describe('writes fill the index in the same statement', () => {
  it('create stores the index of the normalised value; equal values after normalisation collide on the unique index', async () => {
    const email = secret('  Create')
    db.capture.clear()
    const u = await prisma.user.create({ data: { email } })
    expect(u.email).toBe(email)
    expect(u.emailIndex).toBe(idx(emailField, email))
    const inserts = db.capture.matching(/^INSERT INTO/)
    expect(inserts).toHaveLength(1)
    expect(inserts[0]!.sql).toContain('"email_index"')
    const stored = await storedUser(u.id)
    expect(stored.email.startsWith('$kfe$')).toBe(true)
    expect(stored.email_index).toBe(idx(emailField, email.trim().toLowerCase()))
    await expect(prisma.user.create({ data: { email: email.trim().toUpperCase() } })).rejects.toMatchObject({ code: 'P2002' })
  })

  it('createMany and createManyAndReturn index every row', async () => {
    const emails = [secret('many1'), secret('many2'), secret('many3')]
    await prisma.user.createMany({ data: emails.slice(0, 2).map((email) => ({ email })) })
    // MySQL has no createManyAndReturn (Prisma): a third createMany there.
    if (supportsManyAndReturn()) {
      const returned = await prisma.user.createManyAndReturn({ data: [{ email: emails[2]! }] })
      expect(returned[0]!.emailIndex).toBe(idx(emailField, emails[2]!))
    } else await prisma.user.createMany({ data: [{ email: emails[2]! }] })
    const rows = await db.sql<{ email_index: string }>(
      `SELECT email_index FROM users WHERE email_index IN (${emails.map((_, i) => `$${i + 1}`).join(', ')})`,
      emails.map((e) => idx(emailField, e)),
    )
    expect(rows).toHaveLength(3)
  })

  it('update, { set }, updateMany and null keep the index in step', async () => {
    const first = secret('before')
    const second = secret('after')
    const third = secret('set')
    const u = await prisma.user.create({ data: { email: first } })
    await prisma.user.update({ where: { id: u.id }, data: { email: second } })
    expect((await storedUser(u.id)).email_index).toBe(idx(emailField, second))
    await prisma.user.update({ where: { id: u.id }, data: { email: { set: third } } })
    expect((await storedUser(u.id)).email_index).toBe(idx(emailField, third))

    const nick = secret('nick')
    await prisma.contact.createMany({ data: [1, 2, 3].map((seq) => ({ ownerId: u.id, seq, nickname: `${nick}-${seq}` })) })
    await prisma.contact.updateMany({ where: { ownerId: u.id, seq: { lte: 2 } }, data: { nickname: nick } })
    const contacts = await db.sql<{ seq: number; nickname_index: string | null }>(
      'SELECT seq, nickname_index FROM contacts WHERE owner_id = $1 ORDER BY seq',
      [u.id],
    )
    expect(contacts.map((c) => c.nickname_index)).toEqual([
      idx(nicknameField, nick),
      idx(nicknameField, nick),
      idx(nicknameField, `${nick}-3`),
    ])

    await prisma.contact.update({ where: { ownerId_seq: { ownerId: u.id, seq: 1 } }, data: { nickname: null } })
    await prisma.contact.update({ where: { ownerId_seq: { ownerId: u.id, seq: 2 } }, data: { nickname: { set: null } } })
    await prisma.contact.updateMany({ where: { ownerId: u.id, seq: 3 }, data: { nickname: null } })
    const cleared = await db.sql<{ nickname: string | null; nickname_index: string | null }>(
      'SELECT nickname, nickname_index FROM contacts WHERE owner_id = $1',
      [u.id],
    )
    expect(cleared).toEqual([1, 2, 3].map(() => ({ nickname: null, nickname_index: null })))
  })

  it('upsert indexes both its create and its update branch', async () => {
    const created = secret('upsert-create')
    const updated = secret('upsert-update')
    const a = await prisma.user.upsert({ where: { id: 987654 }, create: { email: created }, update: { email: updated } })
    expect((await storedUser(a.id)).email_index).toBe(idx(emailField, created))
    await prisma.user.upsert({ where: { id: a.id }, create: { email: created }, update: { email: updated } })
    expect((await storedUser(a.id)).email_index).toBe(idx(emailField, updated))
  })

  it('nested writes index at every depth: create, createMany, update, updateMany, upsert, to-one create/update/upsert', async () => {
    const owner = secret('owner')
    const n = [secret('n1'), secret('n2'), secret('n3'), secret('n4'), secret('n5'), secret('n6')]
    const u = await prisma.user.create({
      data: { email: owner, contacts: { create: [{ seq: 1, nickname: n[0] }], createMany: { data: [{ seq: 2, nickname: n[1] }] } } },
    })
    await prisma.user.update({
      where: { id: u.id },
      data: {
        contacts: {
          update: { where: { ownerId_seq: { ownerId: u.id, seq: 1 } }, data: { nickname: n[2] } },
          updateMany: { where: { seq: 2 }, data: { nickname: n[3] } },
          upsert: { where: { ownerId_seq: { ownerId: u.id, seq: 3 } }, create: { seq: 3, nickname: n[4] }, update: { nickname: n[4] } },
          create: { seq: 4, nickname: null },
        },
      },
    })
    const contacts = await db.sql<{ nickname_index: string | null }>(
      'SELECT nickname_index FROM contacts WHERE owner_id = $1 ORDER BY seq',
      [u.id],
    )
    expect(contacts.map((c) => c.nickname_index)).toEqual([
      idx(nicknameField, n[2]!),
      idx(nicknameField, n[3]!),
      idx(nicknameField, n[4]!),
      null,
    ])

    // To-one relations: Post.author.
    const author = secret('author')
    const post = await prisma.post.create({ data: { title: 't', author: { create: { email: author } } }, include: { author: true } })
    expect((await storedUser(post.authorId)).email_index).toBe(idx(emailField, author))
    await prisma.post.update({ where: { id: post.id }, data: { author: { update: { email: n[5] } } } })
    expect((await storedUser(post.authorId)).email_index).toBe(idx(emailField, n[5]!))
    const renamed = secret('renamed')
    await prisma.post.update({ where: { id: post.id }, data: { author: { update: { data: { email: renamed } } } } })
    expect((await storedUser(post.authorId)).email_index).toBe(idx(emailField, renamed))
    const upserted = secret('upserted')
    await prisma.post.update({
      where: { id: post.id },
      data: { author: { upsert: { create: { email: upserted }, update: { email: upserted } } } },
    })
    expect((await storedUser(post.authorId)).email_index).toBe(idx(emailField, upserted))
  })

  it.each([
    ['create', () => prisma.user.create({ data: { email: secret('direct'), emailIndex: 'v1:' + 'A'.repeat(43) } }), 'User', 'emailIndex'],
    ['update to null', () => prisma.user.update({ where: { id: 1 }, data: { emailIndex: null } }), 'User', 'emailIndex'],
    ['createMany', () => prisma.user.createMany({ data: [{ email: secret('direct'), emailIndex: 'x' }] }), 'User', 'emailIndex'],
    ['updateMany', () => prisma.user.updateMany({ data: { emailIndex: { set: 'typed-by-hand' } } }), 'User', 'emailIndex'],
    [
      'upsert',
      () => prisma.user.upsert({ where: { id: 1 }, create: { email: secret('direct') }, update: { emailIndex: 'x' } }),
      'User',
      'emailIndex',
    ],
    [
      'a nested create',
      () => prisma.user.update({ where: { id: 1 }, data: { contacts: { create: { seq: 99, nicknameIndex: 'bob' } } } }),
      'Contact',
      'nicknameIndex',
    ],
  ])('writing the index column directly is refused (%s)', async (_what, run, model, field) => {
    const err = await refusedBeforeSending(run as () => Promise<unknown>)
    expect(err).toBeInstanceOf(BlindIndexWriteError)
    expect(err).toMatchObject({ code: 'KFE_BLIND_INDEX_WRITE', model, field })
    expect(err.message).not.toMatch(/typed-by-hand|bob|AAAA/)
  })
})

describe('filters on the source become filters on the index', () => {
  let a: { id: number; email: string }, b: typeof a, c: typeof a, boss: typeof a
  let everyone: number[]
  const nickname = secret('nick')
  beforeAll(async () => {
    boss = await prisma.user.create({ data: { email: secret('boss') } })
    a = await prisma.user.create({ data: { email: secret('alice'), managerId: boss.id } })
    b = await prisma.user.create({ data: { email: secret('bob'), managerId: boss.id } })
    c = await prisma.user.create({ data: { email: secret('carol') } })
    everyone = [a.id, b.id, c.id]
    await prisma.post.create({ data: { title: 'by alice', authorId: a.id } })
    await prisma.contact.createMany({
      data: [
        { ownerId: c.id, seq: 1, nickname },
        { ownerId: c.id, seq: 2, nickname: null },
      ],
    })
  })
  const among = (where: Prisma.UserWhereInput) => ids(prisma.user.findMany({ where: { AND: [{ id: { in: everyone } }, where] } }))

  it('uses the index column and the index value in the SQL', async () => {
    db.capture.clear()
    expect(await ids(prisma.user.findMany({ where: { email: a.email } }))).toEqual([a.id])
    const select = db.capture.matching(/^SELECT/)
    expect(select).toHaveLength(1)
    expect(select[0]!.sql).toMatch(/"email_index" = \$1/)
    expect(select[0]!.sql).not.toMatch(/"email" =/)
    expect(select[0]!.args[0]).toBe(idx(emailField, a.email))
  })

  it.each<[string, (u: { a: string; b: string; c: string }) => Prisma.UserWhereInput, Array<'a' | 'b' | 'c'>]>([
    ['a bare value (normalised: case and spaces)', (u) => ({ email: `  ${u.a.toUpperCase()} ` }), ['a']],
    ['equals', (u) => ({ email: { equals: u.b } }), ['b']],
    ['in', (u) => ({ email: { in: [u.a, u.c, 'nobody@example.org'] } }), ['a', 'c']],
    ['an empty in', () => ({ email: { in: [] } }), []],
    ['notIn', (u) => ({ email: { notIn: [u.a] } }), ['b', 'c']],
    ['not (a value)', (u) => ({ email: { not: u.a } }), ['b', 'c']],
    ['not: { equals }', (u) => ({ email: { not: { equals: u.b } } }), ['a', 'c']],
    ['not: { in }', (u) => ({ email: { not: { in: [u.a, u.b] } } }), ['c']],
    ['equals together with in', (u) => ({ email: { equals: u.a, in: [u.a, u.b] } }), ['a']],
    ["mode: 'insensitive' (the index lowercases)", (u) => ({ email: { equals: u.c.toUpperCase(), mode: 'insensitive' } }), ['c']],
    [
      'AND / OR / NOT at depth',
      (u) => ({ OR: [{ email: u.a }, { AND: [{ NOT: { email: u.b } }, { NOT: [{ email: u.a }] }, { email: { in: [u.b, u.c] } }] }] }),
      ['a', 'c'],
    ],
    ['the source and the index column together', (u) => ({ email: u.a, emailIndex: { not: null } }), ['a']],
  ])('%s', async (_what, where, want) => {
    const u = { a: a.email, b: b.email, c: c.email }
    const byName = { a: a.id, b: b.id, c: c.id }
    expect(await among(where(u))).toEqual(want.map((k) => byName[k]).sort((x, y) => x - y))
  })

  it('inside relation filters: some, every, none, is, isNot, a bare to-one where, include and _count', async () => {
    expect(await ids(prisma.user.findMany({ where: { reports: { some: { email: a.email } } } }))).toEqual([boss.id])
    expect(await ids(prisma.user.findMany({ where: { id: boss.id, reports: { every: { email: { in: [a.email, b.email] } } } } }))).toEqual([
      boss.id,
    ])
    expect(await ids(prisma.user.findMany({ where: { id: boss.id, reports: { none: { email: c.email } } } }))).toEqual([boss.id])
    expect(await ids(prisma.user.findMany({ where: { id: boss.id, reports: { none: { email: a.email } } } }))).toEqual([])
    expect((await prisma.post.findMany({ where: { author: { is: { email: a.email } } } })).map((p) => p.authorId)).toEqual([a.id])
    expect((await prisma.post.findMany({ where: { author: { email: a.email } } })).map((p) => p.authorId)).toEqual([a.id])
    expect(await prisma.post.count({ where: { author: { isNot: { email: a.email } }, authorId: a.id } })).toBe(0)
    expect(await ids(prisma.user.findMany({ where: { manager: { is: { email: boss.email } } } }))).toEqual([a.id, b.id])
    expect(await ids(prisma.user.findMany({ where: { contacts: { some: { nickname } } } }))).toEqual([c.id])
    expect(await among({ contacts: { some: { nickname: null } } })).toEqual([c.id])
    expect(await among({ contacts: { every: { nickname: { not: nickname } } } })).toEqual([a.id, b.id])
    const withReports = await prisma.user.findUniqueOrThrow({ where: { id: boss.id }, include: { reports: { where: { email: b.email } } } })
    expect(withReports.reports.map((r) => r.id)).toEqual([b.id])
    const counted = await prisma.user.findUniqueOrThrow({
      where: { id: boss.id },
      select: { _count: { select: { reports: { where: { email: a.email } } } } },
    })
    expect(counted._count.reports).toBe(1)
  })

  it('null: { field: null }, equals null and not null', async () => {
    const owner = { ownerId: c.id }
    const seqs = async (where: Prisma.ContactWhereInput) =>
      (await prisma.contact.findMany({ where: { ...owner, ...where }, orderBy: { seq: 'asc' } })).map((x) => x.seq)
    expect(await seqs({ nickname: null })).toEqual([2])
    expect(await seqs({ nickname: { equals: null } })).toEqual([2])
    expect(await seqs({ nickname: { not: null } })).toEqual([1])
    db.capture.clear()
    await seqs({ nickname: null })
    expect(db.capture.matching(/"nickname_index" IS NULL/)).toHaveLength(1)
  })

  it('unique lookups use the index value: findUnique, findUniqueOrThrow, update, delete, upsert, cursor', async () => {
    // Prisma's WhereUniqueInput type names only unique columns; the plaintext form needs a cast.
    const byEmail = (email: string) => ({ email }) as unknown as Prisma.UserWhereUniqueInput
    expect((await prisma.user.findUnique({ where: byEmail(` ${a.email.toLowerCase()}`) }))?.id).toBe(a.id)
    expect(
      (await prisma.user.findUniqueOrThrow({ where: { email: { equals: b.email } } as unknown as Prisma.UserWhereUniqueInput })).id,
    ).toBe(b.id)
    expect(await prisma.user.findUnique({ where: byEmail('nobody@example.org') })).toBeNull()
    // The email as an extra filter next to the id.
    expect(await prisma.user.findUnique({ where: { id: a.id, email: b.email } })).toBeNull()
    expect((await prisma.user.findUnique({ where: { id: a.id, email: a.email } }))?.id).toBe(a.id)
    await prisma.user.update({ where: byEmail(c.email), data: { name: 'updated by email' } })
    expect((await prisma.user.findUniqueOrThrow({ where: { id: c.id } })).name).toBe('updated by email')
    const page = await prisma.user.findMany({ cursor: byEmail(b.email), where: { id: { in: everyone } }, orderBy: { id: 'asc' } })
    expect(page.map((u) => u.id)).toEqual([b.id, c.id])

    const throwaway = await prisma.user.create({ data: { email: secret('throwaway') } })
    await prisma.user.delete({ where: byEmail(throwaway.email) })
    expect(await prisma.user.findUnique({ where: { id: throwaway.id } })).toBeNull()

    const fresh = secret('upsert-by-email')
    const created = await prisma.user.upsert({
      where: byEmail(fresh),
      create: { email: fresh, name: 'created' },
      update: { name: 'updated' },
    })
    const again = await prisma.user.upsert({
      where: byEmail(fresh.toUpperCase()),
      create: { email: fresh, name: 'created' },
      update: { name: 'updated' },
    })
    expect(again).toMatchObject({ id: created.id, name: 'updated' })
  })

  it('connect, connectOrCreate, set and disconnect by the source', async () => {
    const byEmail = (email: string) => ({ email }) as unknown as Prisma.UserWhereUniqueInput
    const post = await prisma.post.create({ data: { title: 'connected', author: { connect: byEmail(b.email) } } })
    expect(post.authorId).toBe(b.id)
    const existing = await prisma.post.create({
      data: { title: 'coc', author: { connectOrCreate: { where: byEmail(c.email), create: { email: c.email } } } },
    })
    expect(existing.authorId).toBe(c.id)
    const newcomer = secret('newcomer')
    const created = await prisma.post.create({
      data: { title: 'coc2', author: { connectOrCreate: { where: byEmail(newcomer), create: { email: newcomer } } } },
    })
    expect((await storedUser(created.authorId)).email_index).toBe(idx(emailField, newcomer))

    const lead = await prisma.user.create({
      data: { email: secret('lead'), reports: { connect: [byEmail(newcomer)] } },
      include: { reports: true },
    })
    expect(lead.reports.map((r) => r.id)).toEqual([created.authorId])
    await prisma.user.update({ where: { id: lead.id }, data: { reports: { disconnect: [byEmail(newcomer)] } } })
    expect(await prisma.user.count({ where: { managerId: lead.id } })).toBe(0)
    await prisma.user.update({ where: { id: lead.id }, data: { reports: { set: [byEmail(newcomer)] } } })
    expect(await prisma.user.count({ where: { managerId: lead.id } })).toBe(1)

    // Nested to-many writes addressed by the source: update, upsert (both branches), delete.
    const hire = secret('hire')
    await prisma.user.update({
      where: { id: lead.id },
      data: {
        reports: {
          update: { where: byEmail(newcomer), data: { name: 'updated through the lead' } },
          upsert: { where: byEmail(hire), create: { email: hire }, update: { name: 'never' } },
        },
      },
    })
    expect((await prisma.user.findFirstOrThrow({ where: { email: newcomer } })).name).toBe('updated through the lead')
    expect((await prisma.user.findFirstOrThrow({ where: { email: hire } })).managerId).toBe(lead.id)
    await prisma.user.update({
      where: { id: lead.id },
      data: { reports: { upsert: { where: byEmail(hire), create: { email: hire }, update: { name: 'upserted' } } } },
    })
    expect((await prisma.user.findFirstOrThrow({ where: { email: hire } })).name).toBe('upserted')
    await prisma.user.update({ where: { id: lead.id }, data: { reports: { delete: [byEmail(hire)] } } })
    expect(await prisma.user.findFirst({ where: { email: hire } })).toBeNull()
  })

  it('the Fluent API starts from a lookup by the source', async () => {
    const posts = await prisma.user.findUnique({ where: { email: a.email } as Prisma.UserWhereUniqueInput }).posts()
    expect(posts?.map((p) => p.authorId)).toEqual([a.id])
  })

  it('filters on the index column itself accept index values only', async () => {
    expect(await among({ emailIndex: idx(emailField, a.email) })).toEqual([a.id])
    expect(await among({ emailIndex: { in: [idx(emailField, a.email), idx(emailField, b.email)] } })).toEqual([a.id, b.id])
    expect(await among({ emailIndex: { startsWith: 'v1:' } })).toEqual(everyone)
    expect(await among({ emailIndex: null })).toEqual([])
    for (const where of [{ emailIndex: a.email }, { emailIndex: { contains: 'alice' } }, { emailIndex: { in: [a.email] } }]) {
      const err = await refusedBeforeSending(() => prisma.user.findMany({ where }))
      expect(err).toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
      expect(err).toMatchObject({ model: 'User', field: 'emailIndex' })
      expect(err.message).not.toContain(a.email)
    }
  })
})

describe('everything else on an encrypted field is refused before the query runs', () => {
  const e = 'someone@example.org'
  beforeAll(() => {
    secrets.add(e)
  })
  it.each<[string, () => Promise<unknown>, { model: string; field: string; operator: string }]>([
    [
      'contains',
      () => prisma.user.findMany({ where: { email: { contains: e } } }),
      { model: 'User', field: 'email', operator: 'contains' },
    ],
    [
      'startsWith',
      () => prisma.user.findMany({ where: { email: { startsWith: e } } }),
      { model: 'User', field: 'email', operator: 'startsWith' },
    ],
    [
      'endsWith',
      () => prisma.user.findFirst({ where: { email: { endsWith: e } } }),
      { model: 'User', field: 'email', operator: 'endsWith' },
    ],
    ['lt', () => prisma.user.findMany({ where: { email: { lt: e } } }), { model: 'User', field: 'email', operator: 'lt' }],
    ['gt', () => prisma.user.count({ where: { email: { gt: e } } }), { model: 'User', field: 'email', operator: 'gt' }],
    ['lte', () => prisma.user.findMany({ where: { email: { lte: e } } }), { model: 'User', field: 'email', operator: 'lte' }],
    ['gte', () => prisma.user.deleteMany({ where: { email: { gte: e } } }), { model: 'User', field: 'email', operator: 'gte' }],
    [
      'search',
      () => prisma.user.findMany({ where: { email: { search: e } } as Prisma.UserWhereInput }),
      { model: 'User', field: 'email', operator: 'search' },
    ],
    [
      'not: { contains }',
      () => prisma.user.findMany({ where: { email: { not: { contains: e } } } }),
      { model: 'User', field: 'email', operator: 'contains' },
    ],
    [
      "mode: 'insensitive' on an index that keeps case",
      () => prisma.contact.findMany({ where: { nickname: { equals: e, mode: 'insensitive' } } }),
      { model: 'Contact', field: 'nickname', operator: 'mode: insensitive' },
    ],
    ['orderBy', () => prisma.user.findMany({ orderBy: { email: 'asc' } }), { model: 'User', field: 'email', operator: 'orderBy' }],
    [
      'orderBy through a relation',
      () => prisma.post.findMany({ orderBy: { author: { email: 'desc' } } }),
      { model: 'User', field: 'email', operator: 'orderBy' },
    ],
    ['distinct', () => prisma.user.findMany({ distinct: ['email'] }), { model: 'User', field: 'email', operator: 'distinct' }],
    ['groupBy', () => prisma.user.groupBy({ by: ['email'] }), { model: 'User', field: 'email', operator: 'groupBy' }],
    [
      'having',
      () => prisma.user.groupBy({ by: ['name'], having: { email: { _count: { gt: 1 } } } }),
      { model: 'User', field: 'email', operator: 'having' },
    ],
    ['_min', () => prisma.user.aggregate({ _min: { email: true } }), { model: 'User', field: 'email', operator: '_min' }],
    [
      'contains inside a relation filter',
      () => prisma.post.findMany({ where: { author: { is: { email: { contains: e } } } } }),
      { model: 'User', field: 'email', operator: 'contains' },
    ],
    [
      'startsWith in a nested include',
      () => prisma.user.findMany({ include: { reports: { where: { email: { startsWith: e } } } } }),
      { model: 'User', field: 'email', operator: 'startsWith' },
    ],
    [
      'a nested updateMany where',
      () =>
        prisma.user.update({
          where: { id: 1 },
          data: { reports: { updateMany: { where: { email: { contains: e } }, data: { name: 'x' } } } },
        }),
      { model: 'User', field: 'email', operator: 'contains' },
    ],
    [
      'equality on a field without a blind index',
      () => prisma.user.findMany({ where: { phone: e } }),
      { model: 'User', field: 'phone', operator: 'equals' },
    ],
  ])('%s', async (_what, run, where) => {
    const err = await refusedBeforeSending(run)
    expect(err).toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
    expect(err).toMatchObject({ code: 'KFE_UNSUPPORTED_QUERY', ...where })
    expect(err.message).toContain(`${where.model}.${where.field}`)
    expect(err.message).not.toContain(e)
  })

  it.each<[string, () => Promise<unknown>]>([
    ['a number', () => prisma.user.findMany({ where: { email: 42 as unknown as string } })],
    ['in without a list', () => prisma.user.findMany({ where: { email: { in: e as unknown as string[] } } })],
    ['a number in a list', () => prisma.user.findMany({ where: { email: { in: [e, 7 as unknown as string] } } })],
    ['a number written', () => prisma.user.create({ data: { email: 42 as unknown as string } })],
  ])('a value of the wrong type is refused (%s)', async (_what, run) => {
    const err = await refusedBeforeSending(run)
    expect(err).toBeInstanceOf(InvalidFieldValueError)
    expect(err).toMatchObject({ model: 'User', field: 'email' })
  })
})
