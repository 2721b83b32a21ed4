import { randomInt } from 'node:crypto'
import { encryptionModel } from './support/test-encryption-model'
import { blindIndexFieldsOf } from '../src/blind-index/blind-index-field'
import { BlindIndexer } from '../src/blind-index/blind-indexer'
import { fieldEncryption, LocalKeyProvider } from '../src'
import { spawnCli, type CliProcess } from './support/migration-cli-process'
import { createMigrationDatabase, type MigrationTestDatabase } from './support/migration-database'

/**
 * The migration is killed with SIGKILL at random moments while an application keeps writing,
 * then run again until it finishes. At the end every value must decrypt to exactly what it
 * should be (the seed, or the application's last write), every blind index must match, and no
 * application write may have been lost.
 *
 * On PGlite (the default run) the database lives in this process and is served over TCP on
 * 127.0.0.1 (tests/support/migration-pglite-server.ts), so the migration runs as a separate
 * process that can really be killed. With DATABASE_URL it runs against that server.
 */
const ROWS = 50_000
const KILLS = 5
const FIELDS = 'User.email,User.phone'

jest.setTimeout(180_000)

let db: MigrationTestDatabase
beforeAll(async () => {
  db = await createMigrationDatabase()
})
afterAll(async () => {
  await db.close()
})

const email = (i: number): string => `person.${i}@example.com`
const phone = (i: number): string | null => (i % 4 === 0 ? null : `+1 555 ${String(i).padStart(7, '0')}`)

test(`${ROWS} rows, a concurrent writer, ${KILLS} SIGKILLs at random points: every value ends encrypted exactly once, and every write survives`, async () => {
  await db.sql(
    `INSERT INTO users (id, email, phone, tags)
     SELECT g, 'person.' || g || '@example.com', CASE WHEN g % 4 = 0 THEN NULL ELSE '+1 555 ' || lpad(g::text, 7, '0') END, ARRAY[]::text[]
       FROM generate_series(1, $1::int) g`,
    [ROWS],
  )
  const masterKey = LocalKeyProvider.generateMasterKey()
  const keys = new LocalKeyProvider({ masterKey })
  const url = await db.url()
  const env = { DATABASE_URL: url, KFE_LOCAL_MASTER_KEY: masterKey }
  const args = ['encrypt', '--field', FIELDS, '--batch-size', '500', '--no-progress']

  // What each row must hold at the end: the seed, unless the application wrote something since.
  const expected = new Map<number, { email: string; phone: string | null }>()
  for (let i = 1; i <= ROWS; i++) expected.set(i, { email: email(i), phone: phone(i) })

  // The application: half of its writes go through the extension (encrypted, with the blind
  // index), half come from an old instance that still writes plaintext (and no index).
  const app = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys, readPlaintext: true }))
  let writing = true
  let writes = 0
  const writer = (async () => {
    while (writing) {
      const id = randomInt(1, ROWS + 1)
      const next = { email: `w${writes}.${id}@example.com`, phone: writes % 3 === 0 ? null : `+1 555 w${writes}` }
      if (writes % 2 === 0) {
        await app.user.update({ where: { id }, data: next, select: { id: true } })
      } else {
        await db.sql('UPDATE users SET email = $1, phone = $2, email_index = NULL WHERE id = $3', [next.email, next.phone, id])
      }
      expected.set(id, next)
      writes++
      await new Promise((r) => setTimeout(r, randomInt(0, 3)))
    }
  })()

  // Progress over both columns, so kills also land in the second one.
  const encryptedCount = async (): Promise<number> =>
    Number(
      (
        await db.sql<{ n: string }>(
          `SELECT (count(*) FILTER (WHERE left(email, 5) = '$kfe$') + count(*) FILTER (WHERE left(phone, 5) = '$kfe$'))::text AS n FROM users`,
        )
      )[0]!.n,
    )

  let kills = 0
  const runs: string[] = []
  try {
    for (let attempt = 0; kills < KILLS; attempt++) {
      if (attempt > 3 * KILLS) throw new Error(`could not kill the migration mid-run ${KILLS} times:\n${runs.join('\n')}`)
      const before = await encryptedCount()
      const run: CliProcess = spawnCli(args, env)
      // Wait until this run has made some progress (some hundreds of rows), then a random moment more.
      const target = before + randomInt(200, 6000)
      let ended = false
      void run.exited.then(() => (ended = true))
      while (!ended && (await encryptedCount()) < target) await new Promise((r) => setTimeout(r, 50))
      if (!ended) await new Promise((r) => setTimeout(r, randomInt(0, 400)))
      if (ended) {
        // It finished before we struck: start over with more plaintext (the writer keeps adding some).
        runs.push(`finished before the kill: ${run.output().slice(-300)}`)
        if ((await run.exited).code !== 0) throw new Error(`the migration failed on its own:\n${run.output()}`)
        continue
      }
      run.child.kill('SIGKILL')
      const { signal } = await run.exited
      expect(signal).toBe('SIGKILL')
      kills++
      runs.push(`killed at ${await encryptedCount()} encrypted values`)
    }
  } finally {
    writing = false
    await writer
  }
  expect(writes).toBeGreaterThan(50)

  // The run after the last kill (and after the writer stopped) finishes the job.
  const final = spawnCli(['encrypt', '--field', FIELDS, '--json', '--no-progress'], env)
  const { code } = await final.exited
  if (code !== 0) throw new Error(`final run exited ${code}:\n${final.output()}\nearlier runs: ${runs.join('\n')}`)
  const summary = JSON.parse(final.output()) as { ok: boolean; failed: number }
  expect(summary).toMatchObject({ ok: true, failed: 0 })

  // Every value is encrypted, decrypts to exactly what it should (encrypted twice would decrypt to
  // a "$kfe$..." string), and every blind index matches its plaintext.
  const raw = await db.sql<{ id: number; email: string; phone: string | null; email_index: string }>(
    'SELECT id, email, phone, email_index FROM users ORDER BY id',
  )
  expect(raw).toHaveLength(ROWS)
  const strict = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys }))
  const users = await strict.user.findMany({ select: { id: true, email: true, phone: true }, orderBy: { id: 'asc' } })
  const indexer = new BlindIndexer(blindIndexFieldsOf(encryptionModel), { rootKey: keys })
  await indexer.load()
  const emailIndex = indexer.indexNamed('User', 'emailIndex')!
  let wrong = 0
  users.forEach((u, i) => {
    const want = expected.get(u.id)!
    const r = raw[i]!
    const ok =
      u.email === want.email &&
      u.phone === want.phone &&
      r.email.startsWith('$kfe$') &&
      (r.phone === null || r.phone.startsWith('$kfe$')) &&
      r.email_index === indexer.compute(emailIndex, want.email)
    if (!ok) wrong++
  })
  expect({ wrong, kills }).toEqual({ wrong: 0, kills: KILLS })
})

test('SIGINT stops after the batches in flight, prints the summary, exits 130; running again finishes the rest', async () => {
  await db.sql('TRUNCATE users RESTART IDENTITY CASCADE')
  await db.sql(
    `INSERT INTO users (id, email, tags) SELECT g, 'stop.' || g || '@example.com', ARRAY[]::text[] FROM generate_series(1, 20000) g`,
  )
  const env = { DATABASE_URL: await db.url(), KFE_LOCAL_MASTER_KEY: LocalKeyProvider.generateMasterKey() }
  const encrypted = async () =>
    Number((await db.sql<{ n: string }>(`SELECT count(*)::text AS n FROM users WHERE left(email, 5) = '$kfe$'`))[0]!.n)

  const run = spawnCli(['encrypt', '--field', 'User.email', '--batch-size', '200'], env)
  let ended = false
  void run.exited.then(() => (ended = true))
  while (!ended && (await encrypted()) < 1000) await new Promise((r) => setTimeout(r, 50))
  expect(ended).toBe(false)
  run.child.kill('SIGINT')
  const { code } = await run.exited
  expect(code).toBe(130)
  expect(run.output()).toMatch(/SIGINT: finishing the batches in flight/)
  expect(run.output()).toMatch(/Interrupted: run the same command again to finish/)
  const done = await encrypted()
  expect(done).toBeGreaterThanOrEqual(1000)
  expect(done).toBeLessThan(20000)

  const rest = spawnCli(['encrypt', '--field', 'User.email', '--json', '--no-progress'], env)
  expect((await rest.exited).code).toBe(0)
  expect(JSON.parse(rest.output())).toMatchObject({ ok: true, written: 20000 - done })
  expect(await encrypted()).toBe(20000)
})
