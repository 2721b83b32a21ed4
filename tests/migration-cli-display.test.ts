import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalKeyProvider } from '../src'
import { formatProgressLine } from '../src/cli/progress-format'
import { runCli } from './support/migration-cli-io'
import { spawnCli } from './support/migration-cli-process'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { seedPlaintext, SMALL_SEED } from './support/migration-seed'

/**
 * What a person at the terminal sees from the command: --version, --help (search paths, exit
 * codes), progress lines that fit the terminal, the whole column's total after a resume, the
 * summary (blind indexes filled, rows/s), SIGINT's exit code, and the URL of prisma.config.ts.
 */
const ROOT = join(__dirname, '..')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
let db: MigrationTestDatabase
let env: NodeJS.ProcessEnv
const tmp = mkdtempSync(join(tmpdir(), 'kfe-cli-display-'))

jest.setTimeout(120_000)

beforeAll(async () => {
  db = await createMigrationDatabase()
})
afterAll(async () => {
  await db.close()
  rmSync(tmp, { recursive: true, force: true })
})
beforeEach(async () => {
  await emptyTables(db)
  await seedPlaintext(db)
  env = { DATABASE_URL: await db.url(), KFE_LOCAL_MASTER_KEY: LocalKeyProvider.generateMasterKey() }
})

describe('--version and --help', () => {
  test('--version and -V print the package version, exit 0', async () => {
    for (const flag of ['--version', '-V']) {
      const run = await runCli([flag])
      expect(run).toMatchObject({ code: 0, stdout: `${VERSION}\n` })
    }
  })

  test("--help lists the exit codes; a command's --help also lists where the model, config and URL are looked for", async () => {
    const top = await runCli(['--help'])
    expect(top.code).toBe(0)
    for (const code of ['0', '1', '2', '130']) expect(top.stdout).toMatch(new RegExp(`^ {2}${code} +\\S`, 'm'))
    expect(top.stdout).toMatch(/--version/)
    const encrypt = await runCli(['encrypt', '--help'])
    expect(encrypt.code).toBe(0)
    for (const place of ['prisma/generated/encryption', 'src/generated/encryption', 'generated/encryption', 'prisma/encryption']) {
      expect(encrypt.stdout).toContain(`./${place}(`)
    }
    expect(encrypt.stdout).toMatch(/prisma\.config\.\{ts/)
    expect(encrypt.stdout).toMatch(/^ {2}130 +interrupted/m)
  })
})

describe('progress lines fit the terminal', () => {
  const state = { label: 'encrypt Organisation.contactEmail', done: 123_456, total: 1_000_000, rate: 23_456.7, etaSeconds: 3723, failed: 3 }

  test.each([200, 120, 100, 80, 60, 40, 30, 20])('%i columns: never wider; numbers before the bar', (width) => {
    const line = formatProgressLine(state, width)
    expect(line.length).toBeLessThan(width)
    expect(line).toContain('123456/1000000 rows')
    if (width >= 40) expect(line).toContain('3 failed')
    if (line.includes('|')) expect(line.indexOf('|')).toBeGreaterThan(line.indexOf('rows'))
  })

  test('at 80 columns the rate and the ETA show; the bar takes the room left, or goes', () => {
    const long = formatProgressLine(state, 80)
    expect(long).toMatch(/23\.5k rows\/s {2}ETA 1h02m/)
    const short = formatProgressLine({ ...state, label: 'encrypt User.email', failed: 0 }, 80)
    expect(short).toMatch(/^encrypt User\.email {2}123456\/1000000 rows {3}12% {2}23\.5k rows\/s {2}ETA 1h02m \|█?░+\|$/)
    expect(formatProgressLine({ ...state, label: 'encrypt User.email' }, 200)).toMatch(/ETA 1h02m {2}3 failed \|█{5}░{35}\|$/)
    expect(formatProgressLine({ ...state, label: 'encrypt User.email', done: 60, total: 60, failed: 0 }, 80)).toMatch(
      /60\/60 rows {2}100% .* \|█+\|$/,
    )
  })

  test('the command at 80 columns: every line fits, with rate and ETA', async () => {
    const run = await runCli(['encrypt', '--model', 'User', '--batch-size', '10'], { env, tty: true, columns: 80 })
    expect(run.code).toBe(0)
    const lines = run.stdout.split(/\r|\n|\x1b\[[0-9;]*[A-Za-z]/).filter((l) => l.includes('rows/s') && l.includes('|'))
    expect(lines.length).toBeGreaterThan(0)
    for (const l of lines) expect(l.length).toBeLessThan(80)
    expect(run.stdout).toMatch(/encrypt User\.email {2}60\/60 rows {2}100% {2}\d+ rows\/s {2}ETA 0s \|█+\|/)
  })
})

describe('a resumed run shows the whole column', () => {
  test("rows done by an earlier run count as done: the total is the column's, not what is left", async () => {
    // The first run covers half the key space, as an interrupted run would have.
    expect((await runCli(['encrypt', '--field', 'User.email', '--shard', '1/2', '--no-progress'], { env })).code).toBe(0)
    const [{ n }] = await db.sql<{ n: string }>("SELECT count(*)::text AS n FROM users WHERE email LIKE '$kfe$%'")
    const already = Number(n)
    expect(already).toBeGreaterThan(0)
    expect(already).toBeLessThan(SMALL_SEED.users)

    const lines = await runCli(['encrypt', '--field', 'User.email'], { env })
    expect(lines.stdout).toContain(
      `[encrypt] User.email: ${SMALL_SEED.users - already} rows to read (${already} already done, of ${SMALL_SEED.users})`,
    )

    await db.sql("UPDATE users SET email = 'again.' || id || '@example.com'")
    expect((await runCli(['encrypt', '--field', 'User.email', '--shard', '2/2', '--no-progress'], { env })).code).toBe(0)
    const bars = await runCli(['encrypt', '--field', 'User.email'], { env, tty: true })
    expect(bars.stdout).toMatch(new RegExp(`encrypt User\\.email {2}${SMALL_SEED.users}/${SMALL_SEED.users} rows {2}100%`))
    // Every drawn state of the bar counts against the whole column.
    const totals = [...bars.stdout.matchAll(/encrypt User\.email {2}(\d+)\/(\d+) rows/g)].map((m) => Number(m[2]))
    expect(totals.length).toBeGreaterThan(0)
    expect(new Set(totals)).toEqual(new Set([SMALL_SEED.users]))
  })
})

describe('the summary', () => {
  test('encrypt shows the blind indexes it filled, and rows/s per column and overall', async () => {
    const run = await runCli(['encrypt', '--model', 'User', '--no-progress'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^column\s+rows\s+.*blind indexes filled\s+failed\s+conflicts retried\s+time\s+rows\/s$/m)
    // email has one blind index, phone none: 60 rows encrypted, 60 index values filled.
    expect(run.stdout).toMatch(
      new RegExp(`^User\\.email\\s+${SMALL_SEED.users}\\s+${SMALL_SEED.users}\\s+${SMALL_SEED.users}\\s+0\\s+0\\s+[\\d.]+s\\s+\\d+$`, 'm'),
    )
    expect(run.stdout).toMatch(/^User\.phone\s+\d+\s+\d+\s+0\s+0\s+0\s/m)
    expect(run.stdout).toMatch(
      new RegExp(
        `Done: \\d+ row\\(s\\) written in [\\d.]+s, ${SMALL_SEED.users} blind index value\\(s\\) filled \\(\\d+ rows read, \\d+ rows/s overall\\)\\.`,
      ),
    )
    const [{ n }] = await db.sql<{ n: string }>('SELECT count(*)::text AS n FROM users WHERE email_index IS NOT NULL')
    expect(Number(n)).toBe(SMALL_SEED.users)
  })
})

describe('SIGINT', () => {
  test('Ctrl-C finishes the batches in flight, prints the summary, exits 130; the rerun finishes the job', async () => {
    await db.sql(`INSERT INTO users (email, tags) SELECT 'bulk.' || g || '@example.com', ARRAY[]::text[] FROM generate_series(1, 30000) g`)
    const total = SMALL_SEED.users + 30_000
    const cli = spawnCli(['encrypt', '--field', 'User.email', '--batch-size', '20', '--concurrency', '1'], env)
    const deadline = Date.now() + 60_000
    while (!/rows to read/.test(cli.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 300))
    cli.child.kill('SIGINT')
    const { code } = await cli.exited
    expect(cli.output()).toMatch(/SIGINT: finishing the batches in flight/)
    expect(cli.output()).toMatch(/Interrupted: run the same command again to finish/)
    expect(code).toBe(130)

    const [{ n }] = await db.sql<{ n: string }>("SELECT count(*)::text AS n FROM users WHERE email LIKE '$kfe$%'")
    expect(Number(n)).toBeGreaterThan(0)
    expect(Number(n)).toBeLessThan(total)
    const rerun = await runCli(['encrypt', '--field', 'User.email'], { env })
    expect(rerun.code).toBe(0)
    expect(rerun.stdout).toContain(`rows to read (${n} already done, of ${total})`)
  })
})

describe('prisma.config.ts', () => {
  test('its datasource.url is used when neither flags, DATABASE_URL nor kfe.config.ts give one', async () => {
    const dir = mkdtempSync(join(tmp, 'prisma-config-'))
    writeFileSync(
      join(dir, 'prisma.config.ts'),
      [
        `import { defineConfig } from ${JSON.stringify(join(ROOT, 'node_modules/prisma/config'))}`,
        'export default defineConfig({',
        "  schema: 'prisma/schema.prisma',",
        `  datasource: { url: ${JSON.stringify(env.DATABASE_URL)} },`,
        '})',
        '',
      ].join('\n'),
    )
    const model = ['--encryption-model', join(ROOT, 'prisma/generated/encryption')]
    const keyOnly = { KFE_LOCAL_MASTER_KEY: env.KFE_LOCAL_MASTER_KEY }
    const run = await runCli(['status', ...model, '--model', 'User', '--json', '--no-progress'], { env: keyOnly, cwd: dir })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({
      columns: expect.arrayContaining([expect.objectContaining({ field: 'email', plaintext: SMALL_SEED.users })]),
    })

    // DATABASE_URL wins over prisma.config.ts.
    const other = await runCli(['status', ...model, '--no-progress'], {
      env: { ...keyOnly, DATABASE_URL: 'mssql://127.0.0.1/x' },
      cwd: dir,
    })
    expect(other).toMatchObject({ code: 2, stderr: expect.stringMatching(/unsupported database URL/) })

    // Without a URL anywhere, the message names prisma.config.ts too.
    const empty = mkdtempSync(join(tmp, 'no-url-'))
    writeFileSync(join(empty, 'prisma.config.ts'), "export default { schema: 'prisma/schema.prisma' }\n")
    const none = await runCli(['status', ...model], { env: keyOnly, cwd: empty })
    expect(none).toMatchObject({ code: 2, stderr: expect.stringMatching(/no database: .*datasource\.url in prisma\.config\.ts/) })

    // A prisma.config.ts that throws (env() of an unset variable) is reported, not skipped.
    writeFileSync(
      join(empty, 'prisma.config.ts'),
      "throw new Error('PrismaConfigEnvError: Missing required environment variable: DATABASE_URL')\n",
    )
    const broken = await runCli(['status', ...model], { env: keyOnly, cwd: empty })
    expect(broken).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/Prisma config .*prisma\.config\.ts could not be loaded: .*DATABASE_URL/),
    })
  })
})
