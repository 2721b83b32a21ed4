import { randomBytes, randomUUID } from 'node:crypto'
import {
  DecryptionFailedError,
  FieldEncryptionError,
  KeyProviderError,
  MalformedCiphertextError,
  NotEncryptedError,
  UnknownKeyProviderError,
} from '../src'
import { cellsContaining, dumpTables, listTables } from './support/dump-tables'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import { flipByte, type Region } from './support/envelope-surgery'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'
import { listTest, supportsManyAndReturn, supportsScalarLists, TAGS_COLUMN, withTags } from './support/test-database-kind'

/**
 * What the database really holds, read with raw SQL: null stays NULL, everything else is
 * ciphertext (text and bytes forms) that round-trips exactly; a dump of every table after a
 * varied workload holds no plaintext; an altered or moved value is refused with a typed error.
 */
let db: TestDatabase
const keys = testLocalKeys()
let prisma: EncryptedClient

beforeAll(async () => {
  db = await createTestDatabase()
  ;({ prisma } = encryptedClient(db, { keys }))
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  await truncateTables(db)
})

async function storedUser(id: number): Promise<{ email: string; phone: string | null; tags: string[] | null; avatar: Uint8Array | null }> {
  const [row] = await db.sql<{ email: string; phone: string | null; tags: string[] | null; avatar: Uint8Array | null }>(
    `SELECT email, phone${TAGS_COLUMN}, avatar FROM users WHERE id = $1`,
    [id],
  )
  return row!
}

describe('values', () => {
  test('null stays null: stored NULL, read null', async () => {
    const user = await prisma.user.create({
      data: { email: 'x', phone: null, avatar: null, posts: { create: { title: 't', body: null } } },
      include: { posts: true },
    })
    expect(user).toMatchObject({ phone: null, avatar: null })
    expect(user.posts[0]!.body).toBeNull()
    expect(await storedUser(user.id)).toMatchObject({ phone: null, avatar: null })
    expect(await db.sql('SELECT body FROM posts')).toEqual([{ body: null }])
    await prisma.user.update({ where: { id: user.id }, data: { phone: 'p', avatar: Buffer.from('a') } })
    const cleared = await prisma.user.update({ where: { id: user.id }, data: { phone: { set: null }, avatar: null } })
    expect(cleared).toMatchObject({ phone: null, avatar: null })
    expect(await storedUser(user.id)).toMatchObject({ phone: null, avatar: null })
  })

  test('the empty string is encrypted, not stored as is', async () => {
    const user = await prisma.user.create({ data: { email: '', phone: '', ...withTags(['']) } })
    expect(user).toMatchObject({ email: '', phone: '', ...withTags(['']) })
    const row = await storedUser(user.id)
    for (const v of [row.email, row.phone, ...(row.tags ?? [])]) expect(v).toMatch(/^\$kfe\$[A-Za-z0-9_-]{100,}$/)
    if (supportsScalarLists()) expect(row.tags).toHaveLength(1)
    expect(await prisma.user.findUniqueOrThrow({ where: { id: user.id } })).toMatchObject({ email: '', phone: '', ...withTags(['']) })
  })

  test('unicode round-trips exactly (emoji, ZWJ sequences, CJK, combining marks, RTL, NUL)', async () => {
    const samples = [
      '😀',
      '👩‍👩‍👧‍👦 family',
      '中文字符と日本語のテキスト',
      'e\u0301 vs \u00e9',
      'Z\u0351\u0362a\u0353lgo',
      'مرحبا بالعالم',
      'tab\tnew\nline',
      'nul \u0000 inside',
      '\u{10FFFF}\u{1F9EA}',
    ]
    const user = await prisma.user.create({ data: { email: samples[0]!, phone: samples[3]!, ...withTags(samples) } })
    const read = await prisma.user.findUniqueOrThrow({ where: { id: user.id } })
    if (supportsScalarLists()) expect(read.tags).toEqual(samples)
    for (const sample of samples) {
      const each = await prisma.post.create({ data: { title: 'unicode', body: sample, author: { connect: { id: user.id } } } })
      expect((await prisma.post.findUniqueOrThrow({ where: { id: each.id } })).body).toBe(sample)
    }
    expect(read.phone).toBe('e\u0301 vs \u00e9') // no normalisation
    expect(read.phone!.length).toBe(7)
    expect(read.email).toBe('😀')
  })

  test('a 1 MB string and a 1 MB byte array round-trip', async () => {
    const big = randomBytes(768 * 1024).toString('base64') // 1 MiB of text
    const bytes = randomBytes(1024 * 1024)
    expect(big.length).toBe(1024 * 1024)
    const user = await prisma.user.create({ data: { email: big, avatar: bytes } })
    const read = await prisma.user.findUniqueOrThrow({ where: { id: user.id } })
    expect(read.email === big).toBe(true)
    expect(Buffer.from(read.avatar!).equals(bytes)).toBe(true)
    const row = await storedUser(user.id)
    expect(row.email.startsWith('$kfe$')).toBe(true)
    expect(row.email.includes(big.slice(0, 64))).toBe(false)
  })

  test('Bytes round-trip as bytes and are stored with the 0x89 "KFE" prefix', async () => {
    const avatar = new Uint8Array([0, 1, 2, 253, 254, 255, 0x89, 0x4b, 0x46, 0x45])
    const user = await prisma.user.create({ data: { email: 'b', avatar } })
    expect(user.avatar).toBeInstanceOf(Uint8Array)
    expect(Array.from(user.avatar!)).toEqual(Array.from(avatar))
    const read = await prisma.user.findUniqueOrThrow({ where: { id: user.id } })
    expect(Array.from(read.avatar!)).toEqual(Array.from(avatar))
    const stored = Buffer.from((await storedUser(user.id)).avatar!)
    expect(Array.from(stored.subarray(0, 4))).toEqual([0x89, 0x4b, 0x46, 0x45])
    expect(stored.length).toBeGreaterThan(avatar.length + 100)
    const empty = await prisma.user.update({ where: { id: user.id }, data: { avatar: new Uint8Array(0) } })
    expect(empty.avatar).toEqual(new Uint8Array(0))
    expect(Buffer.from((await storedUser(user.id)).avatar!).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x4b, 0x46, 0x45]))
  })
})

describe('a dump of every table after a varied workload', () => {
  test('holds none of the plaintexts written', async () => {
    const written: Array<string | Uint8Array> = []
    const s = (label: string) => {
      const v = `${label}-${randomUUID()}`
      written.push(v)
      return v
    }
    const avatar = Buffer.from(s('avatar-bytes'))
    const user = await prisma.user.create({
      data: {
        email: s('email'),
        phone: s('phone'),
        ...withTags([s('tag-1'), s('tag-2')]),
        avatar,
        profile: { create: { bio: s('bio') } },
        reports: { create: [{ email: s('report-email'), ...withTags({ set: [s('report-tag')] }) }] },
        posts: {
          create: [
            {
              title: 'visible title',
              body: s('body'),
              comments: { create: [{ seq: 1, text: s('comment') }] },
              categories: { create: { name: 'visible name', secretNote: s('note') } },
            },
          ],
        },
      },
      include: { posts: true },
    })
    await prisma.user.createMany({ data: [{ email: s('many-1') }, { email: s('many-2'), ...withTags([s('many-tag')]) }] })
    if (supportsManyAndReturn()) await prisma.user.createManyAndReturn({ data: [{ email: s('cmar'), phone: s('cmar-phone') }] })
    else await prisma.user.create({ data: { email: s('cmar'), phone: s('cmar-phone') } })
    await prisma.user.update({
      where: { id: user.id },
      data: {
        ...withTags({ push: s('pushed') }),
        phone: s('phone-2'),
        posts: { update: { where: { id: user.posts[0]!.id }, data: { body: s('body-2') } } },
      },
    })
    await prisma.user.updateMany({ where: { name: null, id: { not: user.id } }, data: { phone: s('updatemany-phone') } })
    await prisma.user.upsert({ where: { id: 999 }, create: { email: s('upsert-created') }, update: {} })
    await prisma.user.upsert({ where: { id: user.id }, create: { email: s('upsert-unused') }, update: { email: s('upsert-updated') } })
    await prisma.post.create({
      data: {
        title: 't2',
        body: s('post-2'),
        author: { connect: { id: user.id } },
        categories: {
          connectOrCreate: { where: { name: 'visible name' }, create: { name: 'visible name', secretNote: s('note-unused') } },
        },
      },
    })
    await prisma.comment.upsert({
      where: { postId_seq: { postId: user.posts[0]!.id, seq: 2 } },
      create: { postId: user.posts[0]!.id, seq: 2, text: s('comment-2') },
      update: {},
    })
    await prisma.$transaction([
      prisma.category.create({ data: { name: 'second', secretNote: s('tx-note') } }),
      prisma.auditLog.create({ data: { message: 'plain audit message' } }),
    ])
    await prisma.$transaction(async (tx) => {
      await tx.profile.update({ where: { userId: user.id }, data: { bio: s('bio-2') } })
    })

    const tables = await listTables(db)
    expect(tables).toEqual(expect.arrayContaining(['users', 'profiles', 'posts', 'Category', 'comments', 'audit_log', '_CategoryToPost']))
    const cells = await dumpTables(db)
    for (const table of ['users', 'profiles', 'posts', 'Category', 'comments', '_CategoryToPost']) {
      expect(cells.some((c) => c.table === table)).toBe(true)
    }
    const leaks = written.flatMap((p) => cellsContaining(cells, p).map((c) => `${c.table}.${c.column}`))
    expect(leaks).toEqual([])
    // The dump does see what is stored in the clear, so a leak could not hide from it.
    expect(cellsContaining(cells, 'plain audit message').map((c) => c.table)).toEqual(['audit_log'])
    expect(cellsContaining(cells, 'visible title').map((c) => c.column)).toEqual(['title'])
    await db.prisma.user.update({ where: { id: user.id }, data: { avatar: avatar } })
    expect(cellsContaining(await dumpTables(db), avatar).map((c) => c.column)).toEqual(['avatar'])
  })
})

describe('an altered value is refused with a typed error that names the field and not the value', () => {
  const email = 'tamper-target@example.com'

  /** Writes a value with the client, alters it in the table, reads it back (warm and cold cache). */
  async function readAltered(alter: (stored: string) => string): Promise<unknown[]> {
    const user = await prisma.user.create({ data: { email: `${email}-${randomUUID()}` } })
    const stored = (await storedUser(user.id)).email
    const altered = alter(stored)
    expect(altered).not.toBe(stored)
    await db.sql('UPDATE users SET email = $1 WHERE id = $2', [altered, user.id])
    const cold = encryptedClient(db, { keys }).prisma
    const errors: unknown[] = []
    for (const client of [prisma, cold]) {
      const result = await client.user.findUniqueOrThrow({ where: { id: user.id } }).then(
        (u) => u.email,
        (e: unknown) => e,
      )
      errors.push(result)
    }
    return errors
  }

  function expectTypedRefusal(
    error: unknown,
    type: abstract new (...args: never[]) => FieldEncryptionError,
    field = 'email',
    model = 'User',
  ): void {
    expect(error).toBeInstanceOf(type)
    expect(error).toMatchObject({ model, field })
    expect((error as Error).message).toContain(`${model}.${field}`)
    expect((error as Error).message).not.toContain(email)
    expect((error as Error).message).not.toContain('tamper-target')
  }

  const regions: Array<[Region, number, abstract new (...args: never[]) => FieldEncryptionError]> = [
    ['version', 0, MalformedCiphertextError],
    ['headerLength', 1, MalformedCiphertextError],
    ['providerId', 0, UnknownKeyProviderError],
    ['wrappedKey', 0, KeyProviderError], // the master-key fingerprint: wrong key
    ['wrappedKey', 40, KeyProviderError], // the wrapped bytes: fails authentication
    ['commitment', 5, DecryptionFailedError],
    ['commitment', 31, DecryptionFailedError],
    ['iv', 0, DecryptionFailedError],
    ['iv', 11, DecryptionFailedError],
    ['ciphertext', 0, DecryptionFailedError],
    ['ciphertext', 20, DecryptionFailedError],
    ['tag', 0, DecryptionFailedError],
    ['tag', 15, DecryptionFailedError],
  ]

  test.each(regions)('one bit of the %s (byte %i)', async (region, offset, type) => {
    for (const error of await readAltered((v) => flipByte(v, region, offset) as string)) expectTypedRefusal(error, type)
  })

  test('the high bit of a provider id character (which ASCII decoding would drop)', async () => {
    for (const error of await readAltered((v) => flipByte(v, 'providerId', 2, 0x80) as string))
      expectTypedRefusal(error, MalformedCiphertextError)
  })

  test('a key-provider refusal says which: wrong key or failed authentication', async () => {
    const [wrongKey] = await readAltered((v) => flipByte(v, 'wrappedKey', 0) as string)
    expect(wrongKey).toMatchObject({ reason: 'wrong-key', code: 'KFE_KEY_WRONG_KEY' })
    const [mangled] = await readAltered((v) => flipByte(v, 'wrappedKey', 40) as string)
    expect(mangled).toMatchObject({ reason: 'invalid-ciphertext', code: 'KFE_KEY_INVALID_CIPHERTEXT' })
  })

  test.each([2, 5, 8, 60, 150, 200, -30, -1])('one character replaced at position %i of the text form', async (position) => {
    for (const error of await readAltered((v) => {
      const at = position < 0 ? v.length + position : position
      const replacement = v[at] === 'A' ? 'B' : 'A'
      return v.slice(0, at) + replacement + v.slice(at + 1)
    })) {
      expectTypedRefusal(error, FieldEncryptionError)
    }
  })

  test('a truncated or extended value', async () => {
    for (const error of await readAltered((v) => v.slice(0, -4))) expectTypedRefusal(error, FieldEncryptionError)
    for (const error of await readAltered((v) => v + 'AAAA')) expectTypedRefusal(error, DecryptionFailedError)
    for (const error of await readAltered((v) => v.slice(0, 160))) expectTypedRefusal(error, MalformedCiphertextError)
  })

  test('an altered Bytes value (bytes form)', async () => {
    const avatar = Buffer.from('tamper-target avatar bytes')
    for (const [region, type] of [
      ['version', MalformedCiphertextError],
      ['commitment', DecryptionFailedError],
      ['iv', DecryptionFailedError],
      ['tag', DecryptionFailedError],
    ] as const) {
      const user = await prisma.user.create({ data: { email: `b-${region}`, avatar } })
      const stored = (await storedUser(user.id)).avatar!
      await db.sql('UPDATE users SET avatar = $1 WHERE id = $2', [flipByte(stored, region), user.id])
      const error = await prisma.user.findUniqueOrThrow({ where: { id: user.id } }).then(
        (u) => u.avatar,
        (e: unknown) => e,
      )
      expectTypedRefusal(error, type, 'avatar')
      expect((error as Error).message).not.toContain('avatar bytes')
    }
  })

  listTest('one altered item of a String[] fails the whole read', async () => {
    const user = await prisma.user.create({ data: { email: 'l', tags: ['first-tag', 'second-tag'] } })
    const stored = (await storedUser(user.id)).tags!
    await db.sql('UPDATE users SET tags = $1 WHERE id = $2', [[stored[0], flipByte(stored[1]!, 'ciphertext', 3)], user.id])
    const error = await prisma.user.findMany().catch((e: unknown) => e)
    expectTypedRefusal(error, DecryptionFailedError, 'tags')
  })
})

describe('a value moved to another column is refused (the cipher binds table and column)', () => {
  test('to another column of the same table', async () => {
    const user = await prisma.user.create({ data: { email: 'moved-email@example.com', phone: 'p' } })
    await db.sql('UPDATE users SET phone = email WHERE id = $1', [user.id])
    const error = await prisma.user.findUniqueOrThrow({ where: { id: user.id } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DecryptionFailedError)
    expect(error).toMatchObject({ model: 'User', field: 'phone' })
    expect((error as Error).message).not.toContain('moved-email')
  })

  listTest('into a list column of the same table', async () => {
    const user = await prisma.user.create({ data: { email: 'moved-into-list', tags: ['t'] } })
    await db.sql('UPDATE users SET tags = ARRAY[email] WHERE id = $1', [user.id])
    await expect(prisma.user.findUniqueOrThrow({ where: { id: user.id } })).rejects.toMatchObject({
      code: 'KFE_DECRYPTION_FAILED',
      model: 'User',
      field: 'tags',
    })
  })

  test('to a column of another table', async () => {
    const user = await prisma.user.create({ data: { email: 'e', posts: { create: { title: 't', body: 'moved body' } } } })
    await prisma.category.create({ data: { name: 'c', secretNote: 'note' } })
    await db.sql('UPDATE "Category" SET secret_note = (SELECT body FROM posts LIMIT 1)')
    await expect(prisma.category.findMany()).rejects.toMatchObject({
      code: 'KFE_DECRYPTION_FAILED',
      model: 'Category',
      field: 'secretNote',
    })
    await prisma.profile.create({ data: { bio: 'b', userId: user.id } })
    await db.sql('UPDATE profiles SET biography = (SELECT body FROM posts LIMIT 1)')
    await expect(prisma.profile.findMany()).rejects.toMatchObject({ code: 'KFE_DECRYPTION_FAILED', model: 'Profile', field: 'bio' })
  })
})

describe('a stored value not in our format', () => {
  test('throws NotEncryptedError, naming the field and not the value', async () => {
    const user = await prisma.user.create({ data: { email: 'e' } })
    await db.sql(`UPDATE users SET phone = 'plaintext phone 555' WHERE id = $1`, [user.id])
    const error = await prisma.user.findUniqueOrThrow({ where: { id: user.id } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NotEncryptedError)
    expect(error).toMatchObject({ code: 'KFE_NOT_ENCRYPTED', model: 'User', field: 'phone' })
    expect((error as Error).message).not.toContain('555')
    await db.sql(`UPDATE users SET phone = NULL, avatar = $1 WHERE id = $2`, [Buffer.from([1, 2]), user.id])
    await expect(prisma.user.findMany()).rejects.toMatchObject({ code: 'KFE_NOT_ENCRYPTED', field: 'avatar' })
  })

  test('passes through with readPlaintext: true, which still refuses altered ciphertext', async () => {
    const migrating = encryptedClient(db, { keys, readPlaintext: true }).prisma
    const user = await migrating.user.create({ data: { email: 'enc@example.com', ...withTags(['enc']) } })
    await db.sql(`UPDATE users SET phone = 'legacy phone', avatar = $1 WHERE id = $2`, [Buffer.from([1, 2]), user.id])
    if (supportsScalarLists()) await db.sql(`UPDATE users SET tags = array_append(tags, 'legacy tag') WHERE id = $1`, [user.id])
    const read = await migrating.user.findUniqueOrThrow({ where: { id: user.id } })
    expect(read).toMatchObject({ email: 'enc@example.com', phone: 'legacy phone', ...withTags(['enc', 'legacy tag']) })
    expect(Array.from(read.avatar!)).toEqual([1, 2])
    await expect(prisma.user.findUniqueOrThrow({ where: { id: user.id } })).rejects.toBeInstanceOf(NotEncryptedError)

    const stored = (await storedUser(user.id)).email
    await db.sql('UPDATE users SET email = $1 WHERE id = $2', [flipByte(stored, 'tag', 3), user.id])
    await expect(migrating.user.findUniqueOrThrow({ where: { id: user.id } })).rejects.toBeInstanceOf(DecryptionFailedError)
  })
})
