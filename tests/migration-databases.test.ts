import { randomInt } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { ConfigurationError, fieldEncryption, LocalKeyProvider } from '../src'
import { DEFAULT_CONNECT_TIMEOUT_MS, openDatabase } from '../src/migration/open-database'
import { decryptColumns, encryptColumns, encryptionStatus } from '../src/migration/run-migration'
import { recomputeBlindIndexes } from '../src/migration/recompute-blind-indexes'
import type { CasWrite, SqlDatabase } from '../src/migration/sql-database'
import { runCli } from './support/migration-cli-io'
import { prismaGenerate } from './support/prisma-generate'
import { spawnCli } from './support/migration-cli-process'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'

/**
 * The migration functions and CLI on the database DATABASE_URL names (PGlite, PostgreSQL,
 * MySQL/MariaDB or SQLite), through that database's SqlDatabase: keyset batches over single and
 * composite keys, compare-and-set against an application writing meanwhile, --dry-run,
 * --shard, status, decrypt, and a CLI run killed with SIGKILL and resumed while an application
 * keeps writing. Seeded with portable SQL; the fields are those every database has (no String[]).
 * Also: a server that accepts connections and never answers, and URLs the CLI cannot open.
 */
jest.setTimeout(180_000)

let db: MigrationTestDatabase
let keys: LocalKeyProvider
const USERS = 120
const FIELDS = ['User.email', 'User.phone', 'User.avatar', 'Comment.text', 'Contact.nickname']

const email = (i: number) => ` User.${i}@Example.com`
const phone = (i: number) => (i % 3 === 0 ? null : `+33 6 ${String(i).padStart(8, '0')}`)
const avatar = (i: number) => (i % 2 === 0 ? Buffer.from([0x00, 0xff, i & 0xff, 0x89]) : null)
const nickname = (o: number, s: number) => (s === 2 ? null : `Nick ${o}-${s}`)

async function insertRows(table: string, columns: string[], rows: unknown[][]): Promise<void> {
  for (let start = 0; start < rows.length; start += 200) {
    const chunk = rows.slice(start, start + 200)
    const params: unknown[] = []
    const tuples = chunk.map((r) => `(${r.map((v) => (params.push(v), `$${params.length}`)).join(', ')})`)
    await db.sql(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${tuples.join(', ')}`, params)
  }
}

async function seed(users = USERS): Promise<void> {
  await emptyTables(db)
  const ids = Array.from({ length: users }, (_, k) => k + 1)
  await insertRows(
    'users',
    ['id', 'email', 'phone', 'avatar'],
    ids.map((i) => [i, email(i), phone(i), avatar(i)]),
  )
  await insertRows(
    'posts',
    ['id', 'title', 'author_id'],
    [1, 2, 3].map((p) => [p, `title ${p}`, p]),
  )
  await insertRows(
    'comments',
    ['post_id', 'seq', 'text'],
    [1, 2, 3].flatMap((p) => [1, 2, 3, 4, 5].map((s) => [p, s, `comment ${p}/${s}`])),
  )
  await insertRows(
    'contacts',
    ['owner_id', 'seq', 'nickname'],
    [1, 2, 3, 4].flatMap((o) => [1, 2, 3].map((s) => [o, s, nickname(o, s)])),
  )
}

const base = () => ({ model: db.encryptionModel, keys, database: db.database, fields: FIELDS })
const client = (readPlaintext = false) => db.prisma.$extends(fieldEncryption({ model: db.encryptionModel, keys, readPlaintext }))

beforeAll(async () => {
  db = await createMigrationDatabase()
})
afterAll(async () => {
  await db?.close()
})
beforeEach(async () => {
  keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  await seed()
})

describe(`the migration functions on ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'PGlite'}`, () => {
  test('status, then encrypt in keyset batches (single and composite keys); every value reads back; blind indexes work', async () => {
    const before = await encryptionStatus(base())
    const col = (r: typeof before, name: string) => r.columns.find((c) => `${c.model}.${c.field}` === name)!
    expect(col(before, 'User.email')).toMatchObject({ rows: USERS, null: 0, plaintext: USERS, current: 0 })
    expect(col(before, 'User.phone')).toMatchObject({ rows: USERS, null: USERS / 3, plaintext: (USERS * 2) / 3 })
    expect(col(before, 'Comment.text')).toMatchObject({ rows: 15, plaintext: 15 })

    const summary = await encryptColumns({ ...base(), batchSize: 7 })
    expect(summary).toMatchObject({ ok: true, failed: 0 })
    const counts = Object.fromEntries(summary.columns.map((c) => [`${c.model}.${c.field}`, c.counts.encrypted ?? 0]))
    expect(counts).toEqual({
      'User.email': USERS,
      'User.phone': (USERS * 2) / 3,
      'User.avatar': USERS / 2,
      'Comment.text': 15,
      'Contact.nickname': 8,
    })
    const raw = await db.sql<{ email: string; email_index: string | null }>('SELECT email, email_index FROM users ORDER BY id')
    expect(raw.every((r) => r.email.startsWith('$kfe$') && r.email_index !== null)).toBe(true)

    const prisma = client()
    const users = await prisma.user.findMany({ orderBy: { id: 'asc' } })
    expect(users.map((u) => u.email)).toEqual(Array.from({ length: USERS }, (_, k) => email(k + 1)))
    expect(users.map((u) => u.phone)).toEqual(Array.from({ length: USERS }, (_, k) => phone(k + 1)))
    expect(users.map((u) => (u.avatar ? Buffer.from(u.avatar) : null))).toEqual(Array.from({ length: USERS }, (_, k) => avatar(k + 1)))
    expect((await prisma.comment.findUniqueOrThrow({ where: { postId_seq: { postId: 3, seq: 5 } } })).text).toBe('comment 3/5')
    expect((await prisma.user.findFirst({ where: { email: email(77) } }))?.id).toBe(77)
    expect((await prisma.contact.findMany({ where: { nickname: 'Nick 4-3' } })).map((c) => [c.ownerId, c.seq])).toEqual([[4, 3]])

    expect((await encryptionStatus(base())).complete).toBe(true)
    const again = await encryptColumns(base())
    expect(again.written).toBe(0)
  })

  test('a dry run writes nothing (checksums unchanged); shards split the work with nothing left over', async () => {
    const tables: Array<[string, string]> = [
      ['users', 'id'],
      ['comments', 'post_id, seq'],
      ['contacts', 'owner_id, seq'],
    ]
    const before = await Promise.all(tables.map(([t, o]) => db.checksum(t, o)))
    const dry = await encryptColumns({ ...base(), dryRun: true, batchSize: 11 })
    expect(dry.dryRun).toBe(true)
    expect(dry.written).toBeGreaterThan(0)
    expect(await Promise.all(tables.map(([t, o]) => db.checksum(t, o)))).toEqual(before)

    const written: number[] = []
    for (const shard of ['1/3', '2/3', '3/3'])
      written.push((await encryptColumns({ ...base(), fields: ['User.email'], shard, batchSize: 9 })).written)
    expect(written.every((n) => n > 0 && n < USERS)).toBe(true)
    expect(written.reduce((a, b) => a + b, 0)).toBe(USERS)
    expect((await encryptionStatus({ ...base(), fields: ['User.email'] })).complete).toBe(true)
  })

  test("compare-and-set: an application's write between the migration's read and write is never overwritten", async () => {
    const prisma = client(true)
    const racy: SqlDatabase = Object.create(db.database)
    let left = 1
    racy.compareAndSet = async (target, writes: readonly CasWrite[]) => {
      if (left-- > 0) await prisma.user.update({ where: { id: Number(writes[0]!.key[0]) }, data: { phone: 'written by the app' } })
      return db.database.compareAndSet(target, writes)
    }
    const first = (await db.sql<{ id: number }>('SELECT id FROM users WHERE phone IS NOT NULL ORDER BY id LIMIT 1'))[0]!.id
    const summary = await encryptColumns({ ...base(), database: racy, fields: ['User.phone'], batchSize: 10 })
    expect(summary.columns[0]).toMatchObject({ conflicts: 1, failed: 0 })
    expect((await prisma.user.findUniqueOrThrow({ where: { id: Number(first) } })).phone).toBe('written by the app')
    expect((await encryptionStatus({ ...base(), fields: ['User.phone'] })).complete).toBe(true)
  })

  test('a plaintext that starts with $kfe$ but cannot be ours fails its row (exit-1 class), and stays as it was', async () => {
    const shaped = ['$kfe$short', '$kfe$' + 'A'.repeat(120) + '!', '$kfe$' + 'A'.repeat(120) + '@x']
    for (const [i, text] of shaped.entries()) await db.sql('UPDATE users SET email = $1 WHERE id = $2', [text, i + 1])
    const summary = await encryptColumns({ ...base(), fields: ['User.email'] })
    expect(summary.ok).toBe(false)
    expect(summary.columns[0]).toMatchObject({ failed: shaped.length })
    expect(summary.columns[0]!.failures.map((f) => f.reason)).toEqual(['KFE_MALFORMED_CIPHERTEXT'])
    const raw = await db.sql<{ email: string }>('SELECT email FROM users WHERE id <= 3 ORDER BY id')
    expect(raw.map((r) => r.email)).toEqual(shaped)
  })

  test('recomputeBlindIndexes on this database (`database`): fills the indexes that are missing, and lookups find the rows', async () => {
    await encryptColumns(base())
    await db.sql('UPDATE users SET email_index = NULL WHERE id <= 10')
    const result = await recomputeBlindIndexes({ database: db.database, model: db.encryptionModel, modelName: 'User', keys, batchSize: 4 })
    expect(result).toMatchObject({ updated: 10, skipped: 0 })
    expect(await db.sql('SELECT id FROM users WHERE email_index IS NULL')).toEqual([])
    expect((await client().user.findFirst({ where: { email: email(7) } }))?.id).toBe(7)
  })

  test('decrypt writes every plaintext back', async () => {
    await encryptColumns(base())
    const summary = await decryptColumns({ ...base(), batchSize: 13 })
    expect(summary.ok).toBe(true)
    const raw = await db.sql<{ id: number; email: string; phone: string | null }>('SELECT id, email, phone FROM users ORDER BY id')
    expect(raw.map((r) => [r.email, r.phone])).toEqual(Array.from({ length: USERS }, (_, k) => [email(k + 1), phone(k + 1)]))
  })
})

describe('a model without @id', () => {
  test('migrates by its @@unique of required fields; one whose only unique is its blind index (it changes while migrating) is refused clearly', async () => {
    const generated = await prismaGenerate(
      `model Legacy {
  region String
  num    Int
  /// @encrypted
  secret String?
  @@unique([region, num])
  @@map("legacy")
}
model Loose {
  /// @encrypted
  email      String
  /// @blindIndex(email)
  emailIndex String @unique
  @@map("loose")
}`,
      { provider: 'sqlite' },
    )
    expect(generated.exitCode).toBe(0)
    const model = generated.model!
    expect(model.models.Legacy).toMatchObject({ primaryKey: ['region', 'num'], primaryKeyColumns: ['region', 'num'] })
    expect(model.models.Loose!.primaryKeyColumns).toEqual([])

    await db.sql(
      'CREATE TABLE legacy (region VARCHAR(16) NOT NULL, num INTEGER NOT NULL, secret TEXT, CONSTRAINT legacy_key UNIQUE (region, num))',
    )
    const rows = ['eu', 'us'].flatMap((region) => Array.from({ length: 25 }, (_, n) => [region, n, `secret ${region} ${n}`]))
    await insertRows('legacy', ['region', 'num', 'secret'], rows)
    const summary = await encryptColumns({ model, keys, database: db.database, models: ['Legacy'], batchSize: 7 })
    expect(summary).toMatchObject({ ok: true, written: 50 })
    const stored = await db.sql<{ region: string; num: number; secret: string }>(
      'SELECT region, num, secret FROM legacy ORDER BY region, num',
    )
    expect(stored.every((r) => r.secret.startsWith('$kfe$'))).toBe(true)
    const back = await decryptColumns({ model, keys, database: db.database, models: ['Legacy'] })
    expect(back.written).toBe(50)
    expect((await db.sql<{ secret: string }>('SELECT secret FROM legacy ORDER BY region, num')).map((r) => r.secret)).toEqual(
      rows.map((r) => r[2]),
    )

    await expect(encryptColumns({ model, keys, database: db.database, models: ['Loose'] })).rejects.toThrow(
      /Loose: the model has no primary key/,
    )
    await db.sql('DROP TABLE legacy')
  })
})

describe('the CLI', () => {
  test('status and encrypt by URL, then a run killed with SIGKILL resumes while the application keeps writing: nothing lost', async () => {
    const ROWS = 6000
    await seed(ROWS)
    const masterKey = LocalKeyProvider.generateMasterKey()
    keys = new LocalKeyProvider({ masterKey })
    const env = { DATABASE_URL: await db.url(), KFE_LOCAL_MASTER_KEY: masterKey }
    const common = ['--encryption-model', db.encryptionModelModule, '--field', 'User.email,User.phone', '--no-progress']
    const status = await runCli(['status', '--json', ...common], { env })
    expect(status.code).toBe(0)
    expect(JSON.parse(status.stdout).columns.find((c: { field: string }) => c.field === 'email').plaintext).toBe(ROWS)

    const expected = new Map<number, { email: string; phone: string | null }>()
    for (let i = 1; i <= ROWS; i++) expected.set(i, { email: email(i), phone: phone(i) })
    const app = client(true)
    let writing = true
    let writes = 0
    const writer = (async () => {
      while (writing) {
        const id = randomInt(1, ROWS + 1)
        const next = { email: `w${writes}.${id}@example.com`, phone: writes % 3 === 0 ? null : `+1 555 w${writes}` }
        if (writes % 2 === 0) await app.user.update({ where: { id }, data: next, select: { id: true } })
        else await db.sql('UPDATE users SET email = $1, phone = $2, email_index = NULL WHERE id = $3', [next.email, next.phone, id])
        expected.set(id, next)
        writes++
        await new Promise((r) => setTimeout(r, randomInt(1, 5)))
      }
    })()
    const encrypted = async () =>
      (await db.sql<{ email: string }>('SELECT email FROM users')).filter((r) => r.email.startsWith('$kfe$')).length
    let kills = 0
    try {
      for (let attempt = 0; kills < 2 && attempt < 6; attempt++) {
        const run = spawnCli(['encrypt', '--batch-size', '100', ...common], env)
        let ended = false
        void run.exited.then(() => (ended = true))
        const target = (await encrypted()) + randomInt(300, 1500)
        while (!ended && (await encrypted()) < target) await new Promise((r) => setTimeout(r, 30))
        if (ended) {
          expect(await run.exited).toMatchObject({ code: 0 })
          break
        }
        run.child.kill('SIGKILL')
        expect((await run.exited).signal).toBe('SIGKILL')
        kills++
      }
    } finally {
      writing = false
      await writer
    }
    expect(writes).toBeGreaterThan(10)
    expect(kills).toBeGreaterThan(0)
    const final = await runCli(['encrypt', '--json', ...common], { env })
    expect(final.code).toBe(0)
    expect(JSON.parse(final.stdout)).toMatchObject({ ok: true, failed: 0 })

    const rows = await client().user.findMany({ orderBy: { id: 'asc' }, select: { id: true, email: true, phone: true } })
    expect(rows).toHaveLength(ROWS)
    for (const r of rows) expect({ email: r.email, phone: r.phone }).toEqual(expected.get(r.id))
    const raw = await db.sql<{ email: string; phone: string | null }>('SELECT email, phone FROM users')
    expect(raw.every((r) => r.email.startsWith('$kfe$') && (r.phone === null || r.phone.startsWith('$kfe$')))).toBe(true)
    const strict = client()
    for (const id of [1, 2, ROWS])
      expect((await strict.user.findFirst({ where: { email: expected.get(id)!.email }, select: { id: true } }))?.id).toBe(id)
    const check = await runCli(['status', '--check', ...common], { env })
    expect(check.code).toBe(0)
  })

  test('an unknown scheme and a missing table exit 2 with a clear message that never prints the password', async () => {
    const env = { KFE_LOCAL_MASTER_KEY: LocalKeyProvider.generateMasterKey() }
    const args = ['status', '--no-progress', '--encryption-model', db.encryptionModelModule]
    const unknown = await runCli([...args, '--database-url', 'mssql://sa:hunter2secret@127.0.0.1:1433/db'], { env })
    expect(unknown.code).toBe(2)
    expect(unknown.stdout + unknown.stderr).toMatch(/unsupported database URL mssql:\/\/sa:\*\*\*@127\.0\.0\.1:1433\/db/)
    expect(unknown.stdout + unknown.stderr).not.toContain('hunter2secret')
    const missing = await encryptionStatus({ ...base(), database: db.database, model: renamedTable(db.encryptionModel) }).catch(
      (e: unknown) => e,
    )
    expect(missing).toBeInstanceOf(ConfigurationError)
    expect((missing as Error).message).toMatch(/table .no_such_table. not found/)
  })
})

describe('a server that accepts the connection and never answers', () => {
  let server: Server
  let port: number
  const sockets: Socket[] = []
  beforeAll(async () => {
    server = createServer((socket) => sockets.push(socket)) // accepts, never writes
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as { port: number }).port
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((r) => server.close(r))
  })

  test.each(['postgresql', 'mysql'])('%s: opening fails within the connect timeout, naming no password', async (scheme) => {
    const started = Date.now()
    const error = await openDatabase(`${scheme}://user:s3cretpw@127.0.0.1:${port}/db?connect_timeout=1`).catch((e: unknown) => e)
    const took = Date.now() - started
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toMatch(/cannot connect to/)
    expect((error as Error).message).not.toContain('s3cretpw')
    expect(took).toBeLessThan(4_000)
    expect(DEFAULT_CONNECT_TIMEOUT_MS).toBeLessThanOrEqual(10_000)
  })

  test('the CLI exits 2 within the timeout', async () => {
    const started = Date.now()
    const run = await runCli(
      [
        'status',
        '--no-progress',
        '--encryption-model',
        db.encryptionModelModule,
        '--database-url',
        `mysql://root:pw0rdX@127.0.0.1:${port}/db?connect_timeout=1`,
      ],
      { env: { KFE_LOCAL_MASTER_KEY: LocalKeyProvider.generateMasterKey() } },
    )
    expect(run.code).toBe(2)
    expect(run.stdout + run.stderr).toMatch(/no answer within 1000 ms|cannot connect/)
    expect(run.stdout + run.stderr).not.toContain('pw0rdX')
    expect(Date.now() - started).toBeLessThan(5_000)
  })
})

function renamedTable(model: MigrationTestDatabase['encryptionModel']): MigrationTestDatabase['encryptionModel'] {
  const copy = JSON.parse(JSON.stringify(model)) as { models: Record<string, { table: string }> }
  copy.models.Comment!.table = 'no_such_table'
  return copy as unknown as MigrationTestDatabase['encryptionModel']
}
