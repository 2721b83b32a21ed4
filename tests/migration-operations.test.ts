import { encryptionModel, withoutRowScopedModels } from './support/test-encryption-model'
import { ConfigurationError, EnvelopeEncryptor, fieldContext, fieldEncryption, LocalKeyProvider } from '../src'
import { decryptColumns, encryptColumns, encryptionStatus } from '../src/migration/run-migration'
import type { CasWrite, SqlDatabase } from '../src/migration/sql-database'
import { flipByte } from './support/envelope-surgery'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { seedPlaintext, seedValues } from './support/migration-seed'

let db: MigrationTestDatabase
let keys: LocalKeyProvider

beforeAll(async () => {
  db = await createMigrationDatabase()
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  await emptyTables(db)
  await seedPlaintext(db)
})

const base = () => ({ model: withoutRowScopedModels(encryptionModel), keys, database: db.database })

/** The application: `readPlaintext` while migrating (values not encrypted yet pass through), or strict. */
function client(readPlaintext = false) {
  return db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys, readPlaintext }))
}

describe('status', () => {
  test('counts, per column, NULL and plaintext values and missing blind indexes before anything is encrypted', async () => {
    const report = await encryptionStatus(base())
    const col = (name: string) => report.columns.find((c) => `${c.model}.${c.field}` === name)!
    expect(col('User.email')).toMatchObject({ rows: 60, null: 0, plaintext: 60, current: 0, older: 0, unreadable: 0 })
    expect(col('User.email').blindIndexes).toEqual([{ name: 'emailIndex', current: 0, stale: 0, missing: 60 }])
    expect(col('User.phone')).toMatchObject({ rows: 60, null: 20, plaintext: 40 })
    expect(col('User.tags')).toMatchObject({ rows: 60, null: 12, plaintext: 48 }) // empty lists count as NULL
    expect(col('User.avatar')).toMatchObject({ rows: 60, null: 30, plaintext: 30 })
    expect(col('Comment.text')).toMatchObject({ rows: 60, plaintext: 60 })
    expect(col('Contact.nickname')).toMatchObject({ rows: 30, null: 10, plaintext: 20 })
    expect(report.complete).toBe(false)
  })
})

describe('encrypt', () => {
  test('encrypts every plaintext value of every annotated column; the extension reads each back; blind indexes work', async () => {
    const summary = await encryptColumns(base())
    expect(summary.ok).toBe(true)
    expect(summary.failed).toBe(0)
    const counts = Object.fromEntries(summary.columns.map((c) => [`${c.model}.${c.field}`, c.counts.encrypted ?? 0]))
    expect(counts).toEqual({
      'User.email': 60,
      'User.phone': 40,
      'User.tags': 48,
      'User.avatar': 30,
      'Profile.bio': 25,
      'Post.body': 15,
      'Category.secretNote': 2,
      'Comment.text': 60,
      'Contact.nickname': 20,
      // Seeded with no rows (its key-header columns, stored format v2, are not wired in the migration yet).
      'Patient.name': 0,
      'Patient.ssn': 0,
      'Patient.scan': 0,
    })

    // Nothing readable is left in the tables.
    const raw = await db.sql<{ email: string; phone: string | null; tags: string[]; avatar: Uint8Array | null; email_index: string }>(
      'SELECT email, phone, tags, avatar, email_index FROM users ORDER BY id',
    )
    for (const r of raw) {
      expect(r.email.startsWith('$kfe$')).toBe(true)
      if (r.phone !== null) expect(r.phone.startsWith('$kfe$')).toBe(true)
      for (const t of r.tags) expect(t.startsWith('$kfe$')).toBe(true)
      if (r.avatar !== null) expect(Buffer.from(r.avatar).subarray(0, 4).toString('latin1')).toBe('\x89KFE')
      expect(r.email_index).toMatch(/^v1:/)
    }

    // The application reads plaintext back, through every shape.
    const prisma = client()
    const users = await prisma.user.findMany({ orderBy: { id: 'asc' } })
    expect(users).toHaveLength(60)
    for (const u of users) {
      expect(u.email).toBe(seedValues.email(u.id))
      expect(u.phone).toBe(seedValues.phone(u.id))
      expect(u.tags).toEqual(seedValues.tags(u.id))
      expect(u.avatar === null ? null : Buffer.from(u.avatar)).toEqual(seedValues.avatar(u.id))
    }
    const comments = await prisma.comment.findMany()
    expect(comments).toHaveLength(60)
    for (const c of comments) expect(c.text).toBe(seedValues.comment(c.postId, c.seq))
    expect((await prisma.profile.findUnique({ where: { id: 7 } }))!.bio).toBe('bio of 7')
    expect((await prisma.category.findUnique({ where: { id: 2 } }))!.secretNote).toBe('note 2')

    // Blind indexes the migration filled answer the application's lookups (email normalises case and spaces).
    expect((await prisma.user.findFirst({ where: { email: 'user.17@example.com' } }))?.id).toBe(17)
    expect((await prisma.contact.findMany({ where: { nickname: 'Nick 4-3' } })).map((c) => [c.ownerId, c.seq])).toEqual([[4, 3]])

    const after = await encryptionStatus(base())
    expect(after.complete).toBe(true)
  })

  test('is idempotent: a second run finds nothing to do and writes nothing', async () => {
    await encryptColumns(base())
    const before = await db.checksum('users', 'id')
    const again = await encryptColumns(base())
    expect(again.written).toBe(0)
    expect(again.columns.every((c) => c.rows === 0)).toBe(true)
    expect(await db.checksum('users', 'id')).toBe(before)
  })

  test('a dry run writes nothing (table checksums unchanged) and says what it would do', async () => {
    const tables: Array<[string, string]> = [
      ['users', 'id'],
      ['comments', 'post_id, seq'],
      ['contacts', 'owner_id, seq'],
      ['profiles', 'id'],
    ]
    const before = await Promise.all(tables.map(([t, o]) => db.checksum(t, o)))
    const summary = await encryptColumns({ ...base(), dryRun: true })
    expect(summary.dryRun).toBe(true)
    expect(summary.written).toBe(300)
    expect(await Promise.all(tables.map(([t, o]) => db.checksum(t, o)))).toEqual(before)
    expect((await encryptionStatus(base())).columns.find((c) => c.field === 'email')!.plaintext).toBe(60)
  })

  test('--model and --field narrow the work; a name that matches nothing is an error, not a silent no-op', async () => {
    const summary = await encryptColumns({ ...base(), models: ['Comment'], fields: [] })
    expect(summary.columns.map((c) => `${c.model}.${c.field}`)).toEqual(['Comment.text'])
    const one = await encryptColumns({ ...base(), fields: ['User.phone'] })
    expect(one.columns.map((c) => `${c.model}.${c.field}`)).toEqual(['User.phone'])
    expect((await db.sql<{ email: string }>('SELECT email FROM users WHERE id = 1'))[0]!.email).toBe(seedValues.email(1))
    await expect(encryptColumns({ ...base(), models: ['Usr'] })).rejects.toThrow(ConfigurationError)
    await expect(encryptColumns({ ...base(), fields: ['User.mail'] })).rejects.toThrow(/--field User.mail/)
  })

  test('pages through composite primary keys in small batches, reading each row exactly once', async () => {
    const reads: number[] = []
    const counting: SqlDatabase = Object.create(db.database)
    counting.readBatch = async (...args) => {
      const rows = await db.database.readBatch(...args)
      reads.push(rows.length)
      return rows
    }
    const summary = await encryptColumns({ ...base(), database: counting, fields: ['Comment.text'], batchSize: 7 })
    expect(summary.columns[0]!.rows).toBe(60)
    expect(summary.columns[0]!.counts.encrypted).toBe(60)
    expect(reads).toEqual([7, 7, 7, 7, 7, 7, 7, 7, 4])
    const texts = await client().comment.findMany({ orderBy: [{ postId: 'asc' }, { seq: 'asc' }] })
    expect(texts.map((c) => c.text)).toEqual(texts.map((c) => seedValues.comment(c.postId, c.seq)))
  })

  test('shards k/n split the key space: together they encrypt every row, each row once', async () => {
    const shards = await Promise.all(
      [1, 2, 3].map((k) => encryptColumns({ ...base(), fields: ['User.email', 'Comment.text'], shard: `${k}/3`, batchSize: 8 })),
    )
    for (const field of ['email', 'text']) {
      const perShard = shards.map((s) => s.columns.find((c) => c.field === field)!.counts.encrypted ?? 0)
      expect(perShard.every((n) => n > 5)).toBe(true) // the hash spreads rows over the shards
      expect(perShard.reduce((a, b) => a + b, 0)).toBe(60)
    }
    const report = await encryptionStatus({ ...base(), fields: ['User.email', 'Comment.text'] })
    expect(report.columns.map((c) => c.current)).toEqual([60, 60])
    await expect(encryptColumns({ ...base(), shard: '4/3' })).rejects.toThrow(ConfigurationError)
  })
})

describe('compare-and-set', () => {
  /** A database on which an "application" writes `write(key)` to the column just before the migration's first write. */
  function racing(write: (w: CasWrite) => Promise<void>, times: number): SqlDatabase {
    const racy: SqlDatabase = Object.create(db.database)
    let left = times
    racy.compareAndSet = async (target, writes) => {
      if (left-- > 0) await write(writes[0]!)
      return db.database.compareAndSet(target, writes)
    }
    return racy
  }

  test("an application's write between the migration's read and write is never overwritten: the row is read again", async () => {
    const prisma = client(true)
    const database = racing(async (w) => {
      await prisma.user.update({ where: { id: Number(w.key[0]) }, data: { phone: 'written by the app' } })
    }, 1)
    const summary = await encryptColumns({ ...base(), database, fields: ['User.phone'], batchSize: 10 })
    const phone = summary.columns[0]!
    expect(phone.conflicts).toBe(1)
    expect(phone.failed).toBe(0)
    expect(phone.counts).toEqual({ encrypted: 39, 'already encrypted': 1 }) // the app's write was already encrypted
    expect((await prisma.user.findUnique({ where: { id: 1 } }))!.phone).toBe('written by the app')
    expect((await prisma.user.findUnique({ where: { id: 2 } }))!.phone).toBe(seedValues.phone(2))
  })

  test('a plaintext written meanwhile (an old application instance) is encrypted on the retry, not lost', async () => {
    const database = racing(async (w) => {
      await db.sql('UPDATE users SET email = $1 WHERE id = $2', ['changed@example.com', Number(w.key[0])])
    }, 1)
    const summary = await encryptColumns({ ...base(), database, fields: ['User.email'], batchSize: 10 })
    expect(summary.columns[0]).toMatchObject({ conflicts: 1, failed: 0, counts: { encrypted: 60 } })
    const prisma = client(true)
    expect((await prisma.user.findUnique({ where: { id: 1 } }))!.email).toBe('changed@example.com')
    expect((await prisma.user.findFirst({ where: { email: 'changed@example.com' } }))!.id).toBe(1)
  })

  test('a row that keeps changing fails after maxAttempts, with its reason, and the run says so', async () => {
    let n = 0
    const database = racing(async () => {
      await db.sql('UPDATE users SET phone = $1 WHERE id = 1', [`busy ${n++}`])
    }, 100)
    const summary = await encryptColumns({ ...base(), database, fields: ['User.phone'], batchSize: 100, maxAttempts: 3 })
    expect(summary.ok).toBe(false)
    expect(summary.failed).toBe(1)
    expect(summary.columns[0]!.failures).toEqual([
      expect.objectContaining({ reason: 'KFE_MIGRATION_CONFLICT', count: 1, sampleKeys: [['1']] }),
    ])
    expect(summary.columns[0]!.counts.encrypted).toBe(39)
    expect((await db.sql<{ phone: string }>('SELECT phone FROM users WHERE id = 1'))[0]!.phone).toMatch(/^busy/)
  })
})

describe('unreadable values', () => {
  /** Row 1: altered ciphertext; row 2: truncated; row 4: encrypted by a key provider that is not configured. */
  async function encryptAndDamage(): Promise<void> {
    await encryptColumns({ ...base(), fields: ['User.phone'] })
    const [a, b] = await db.sql<{ phone: string }>('SELECT phone FROM users WHERE id IN (1, 2) ORDER BY id')
    await db.sql('UPDATE users SET phone = $1 WHERE id = 1', [flipByte(a!.phone, 'ciphertext') as string])
    await db.sql('UPDATE users SET phone = $1 WHERE id = 2', [b!.phone.slice(0, 20)])
    const elsewhere = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey(), id: 'elsewhere' })
    const stranger = await new EnvelopeEncryptor({ keys: elsewhere }).encrypt(
      '+33 6 00000004',
      fieldContext('User', 'phone', 'users', 'phone'),
    )
    await db.sql('UPDATE users SET phone = $1 WHERE id = 4', [stranger])
  }

  test('status counts them by reason; decrypt writes back every other value and leaves them untouched', async () => {
    await encryptAndDamage()
    const report = await encryptionStatus({ ...base(), fields: ['User.phone'] })
    const phone = report.columns[0]!
    expect(phone).toMatchObject({ rows: 60, null: 20, current: 37, unreadable: 3 })
    expect(Object.fromEntries(phone.unreadableReasons.map((r) => [r.reason, r.sampleKeys]))).toEqual({
      KFE_DECRYPTION_FAILED: [['1']],
      KFE_MALFORMED_CIPHERTEXT: [['2']],
      KFE_UNKNOWN_KEY_PROVIDER: [['4']],
    })
    // Messages name the field, never a value.
    for (const r of phone.unreadableReasons) expect(r.message).toMatch(/^User\.phone: /)

    const damaged = await db.sql<{ id: number; phone: string }>('SELECT id, phone FROM users WHERE id IN (1, 2, 4) ORDER BY id')
    const summary = await decryptColumns({ ...base(), fields: ['User.phone'] })
    expect(summary.ok).toBe(false)
    expect(summary.failed).toBe(3)
    expect(summary.columns[0]!.counts.decrypted).toBe(37)
    expect(await db.sql('SELECT id, phone FROM users WHERE id IN (1, 2, 4) ORDER BY id')).toEqual(damaged)
    const plain = await db.sql<{ id: number; phone: string | null }>('SELECT id, phone FROM users WHERE id NOT IN (1, 2, 4) ORDER BY id')
    for (const r of plain) expect(r.phone).toBe(seedValues.phone(r.id))
  })
})
