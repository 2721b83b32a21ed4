import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { applyMigrations } from '../prisma/apply-migrations'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { LocalKeyProvider } from '../src'
import { kmsClientFor, KmsTestServer, TEST_CREDENTIALS } from './support/kms-test-server'
import { runCli } from './support/migration-cli-io'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { seedPlaintext, SMALL_SEED } from './support/migration-seed'

const ROOT = join(__dirname, '..')
let db: MigrationTestDatabase
let env: NodeJS.ProcessEnv
let masterKey: string
const tmp = mkdtempSync(join(tmpdir(), 'kfe-cli-'))

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
  masterKey = LocalKeyProvider.generateMasterKey()
  env = { DATABASE_URL: await db.url(), KFE_LOCAL_MASTER_KEY: masterKey }
})

describe('keygen', () => {
  test('prints a fresh local master key: base64 of 32 bytes, different every time, advice on stderr', async () => {
    const a = await runCli(['keygen'])
    const b = await runCli(['keygen', '--json'])
    expect(a.code).toBe(0)
    expect(a.stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
    expect(Buffer.from(a.stdout.trim(), 'base64')).toHaveLength(32)
    expect(a.stderr).toMatch(/KFE_LOCAL_MASTER_KEY/)
    const json = JSON.parse(b.stdout) as { localMasterKey: string }
    expect(json.localMasterKey).not.toBe(a.stdout.trim())
    expect(() => new LocalKeyProvider({ masterKey: json.localMasterKey })).not.toThrow()
  })

  test('with --kms-key-id, a blind-index root key that only KMS can unwrap', async () => {
    const server = new KmsTestServer()
    const { endpoint } = await server.start()
    const client: KMSClient = kmsClientFor(endpoint)
    const saved = { ...process.env }
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey })
    try {
      const keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
      const run = await runCli(['keygen', '--kms-key-id', keyId, '--kms-region', 'us-east-1', '--kms-endpoint', endpoint])
      expect(run).toMatchObject({ code: 0, stderr: expect.stringMatching(/wrappedBlindIndexRootKey/) })
      expect(server.calls.GenerateDataKey).toBe(1)
      const wrapped = run.stdout.trim()
      const provider = new AwsKmsKeyProvider({ keyId, client, wrappedBlindIndexRootKey: wrapped })
      expect(await provider.blindIndexRootKey()).toHaveLength(32)
      // Bound to its purpose: it does not unwrap as a data key.
      await expect(provider.unwrapDataKey(Buffer.from(wrapped, 'base64'))).rejects.toMatchObject({ code: 'KFE_KEY_INVALID_CIPHERTEXT' })
    } finally {
      process.env = saved
      client.destroy()
      await server.stop()
    }
  })
})

describe('status, encrypt, rotate, decrypt from the command line', () => {
  test('status --json, then encrypt with plain progress lines and a summary table, then status --check passes', async () => {
    const before = await runCli(['status', '--json', '--no-progress'], { env })
    expect(before.code).toBe(0)
    const report = JSON.parse(before.stdout) as { complete: boolean; columns: Array<{ model: string; field: string; plaintext: number }> }
    expect(report.complete).toBe(false)
    expect(report.columns.find((c) => c.field === 'email')!.plaintext).toBe(SMALL_SEED.users)
    expect((await runCli(['status', '--check', '--no-progress'], { env })).code).toBe(1)

    const run = await runCli(['encrypt', '--batch-size', '25'], { env })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^\[encrypt\] User\.email: 60 rows to read$/m)
    expect(run.stdout).toMatch(/^\[encrypt\] User\.email: done, 60 rows in [\d.]+s \(encrypted 60\)$/m)
    expect(run.stdout).toMatch(/^column\s+rows\s+encrypted\s+blind indexes filled\s+failed\s+conflicts retried\s+time\s+rows\/s$/m)
    expect(run.stdout).toMatch(/^User\.email\s+60\s+60\s+60\s+0\s+0\s/m)
    expect(run.stdout).toMatch(/Done: 300 row\(s\) written/)
    expect(run.stdout).not.toContain('Example.com') // no plaintext in the output

    const after = await runCli(['status', '--check'], { env })
    expect(after.code).toBe(0)
    expect(after.stdout).toMatch(/Complete: every value is encrypted under the current key/)
  })

  test('progress bars on a terminal', async () => {
    const run = await runCli(['encrypt', '--model', 'User', '--batch-size', '10'], { env, tty: true })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/encrypt User\.email {2}60\/60 rows {2}100% {2}\d+ rows\/s {2}ETA 0s \|█+\|/)
  })

  test('--dry-run writes nothing; rotate after a key change; decrypt asks first and needs --yes without a terminal', async () => {
    const checksum = await db.checksum('users', 'id')
    const dry = await runCli(['encrypt', '--dry-run', '--no-progress'], { env })
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/dry run: nothing was written/)
    expect(await db.checksum('users', 'id')).toBe(checksum)

    expect((await runCli(['encrypt', '--no-progress'], { env })).code).toBe(0)
    const newKey = LocalKeyProvider.generateMasterKey()
    const rotatedEnv = { ...env, KFE_LOCAL_MASTER_KEY: newKey, KFE_LOCAL_PREVIOUS_KEYS: masterKey }
    const rotate = await runCli(['rotate', '--json', '--no-progress'], { env: rotatedEnv })
    expect(rotate.code).toBe(0)
    expect(JSON.parse(rotate.stdout)).toMatchObject({ operation: 'rotate', ok: true, written: 300 })

    const encrypted = await db.checksum('users', 'id')
    const refused = await runCli(['decrypt', '--no-progress'], { env: rotatedEnv })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--yes/)
    const declined = await runCli(['decrypt', '--no-progress'], { env: rotatedEnv, answer: 'no' })
    expect(declined.code).toBe(1)
    expect(declined.questions[0]).toMatch(/PLAINTEXT/)
    expect(await db.checksum('users', 'id')).toBe(encrypted)

    const done = await runCli(['decrypt', '--yes', '--no-progress', '--field', 'User.email'], { env: rotatedEnv })
    expect(done.code).toBe(0)
    const emails = await db.sql<{ id: number; email: string }>('SELECT id, email FROM users ORDER BY id')
    expect(emails.map((r) => r.email)).toEqual(emails.map((r) => ` User.${r.id}@Example.com`))
  })

  test('rows that cannot be processed: exit code 1 and the reason per row class', async () => {
    await db.sql("UPDATE users SET phone = 'v1.aesgcm256.0123abcd.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE id IN (1, 2)")
    const run = await runCli(['encrypt', '--field', 'User.phone', '--no-progress'], { env })
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/Rows that could not be processed:\n {2}User\.phone {2}KFE_PFE_KEY_REQUIRED {2}2 rows \(e\.g\. key 1, 2\): /)
    expect(run.stdout).toMatch(/2 row\(s\) could not be processed/)
  })

  test('usage and configuration errors: exit code 2 with a message', async () => {
    const bad = await runCli(['encrypt', '--shard', '3/2'], { env })
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/--shard|shard 3\/2/) })
    expect((await runCli(['encrypt', '--batch-size', 'lots'], { env })).code).toBe(2)
    expect((await runCli(['encrypt', '--no-such-flag'], { env })).code).toBe(2)
    const noKey = await runCli(['status'], { env: { DATABASE_URL: env.DATABASE_URL } })
    expect(noKey).toMatchObject({ code: 2, stderr: expect.stringMatching(/no key provider: set KFE_LOCAL_MASTER_KEY/) })
    const noDb = await runCli(['status'], { env: { KFE_LOCAL_MASTER_KEY: masterKey } })
    expect(noDb).toMatchObject({ code: 2, stderr: expect.stringMatching(/no database/) })
    const wrongDb = await runCli(['status'], { env: { ...env, DATABASE_URL: 'mssql://localhost/x' } })
    expect(wrongDb).toMatchObject({ code: 2, stderr: expect.stringMatching(/unsupported database URL/) })
  })
})

describe('kfe.config.ts and pglite: URLs', () => {
  test('a TypeScript config file names the model, the keys and the database; --config finds it from elsewhere', async () => {
    const dir = mkdtempSync(join(tmp, 'config-'))
    writeFileSync(
      join(dir, 'kfe.config.ts'),
      [
        `import { defineConfig, LocalKeyProvider } from ${JSON.stringify(join(ROOT, 'src'))}`,
        `import { encryptionModel } from ${JSON.stringify(join(ROOT, 'prisma/generated/encryption'))}`,
        `const masterKey: string = ${JSON.stringify(masterKey)}`,
        'export default defineConfig({',
        '  model: encryptionModel,',
        '  keys: () => [new LocalKeyProvider({ masterKey })],',
        `  databaseUrl: ${JSON.stringify(env.DATABASE_URL)},`,
        '  batchSize: 7,',
        '})',
        '',
      ].join('\n'),
    )
    const run = await runCli(['encrypt', '--model', 'Comment', '--json', '--no-progress'], { cwd: dir })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, columns: [{ model: 'Comment', counts: { encrypted: 60 } }] })
    const status = await runCli(['status', '--config', join(dir, 'kfe.config.ts'), '--model', 'Comment', '--check', '--no-progress'], {
      cwd: tmp,
    })
    expect(status.code).toBe(0)
  })

  test('pglite:<data dir> opens an embedded database stored on disk', async () => {
    const dir = join(tmp, 'pglite-data')
    const pg = new PGlite(dir)
    await applyMigrations((sql) => pg.exec(sql))
    await pg.exec(`INSERT INTO users (email, tags) SELECT 'p' || g || '@example.com', ARRAY['t'] FROM generate_series(1, 30) g`)
    await pg.close()

    const run = await runCli(['encrypt', '--database-url', `pglite:${dir}`, '--model', 'User', '--no-progress'], {
      env: { KFE_LOCAL_MASTER_KEY: masterKey },
    })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/encrypt on PGlite at /)

    const reopened = new PGlite(dir)
    const rows = (await reopened.query<{ email: string }>('SELECT email FROM users')).rows
    await reopened.close()
    expect(rows).toHaveLength(30)
    expect(rows.every((r) => r.email.startsWith('$kfe$'))).toBe(true)
    const missing = await runCli(['status', '--database-url', `pglite:${join(tmp, 'nope')}`], { env: { KFE_LOCAL_MASTER_KEY: masterKey } })
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringMatching(/not a PGlite data directory/) })
  })
})

describe('--former-key-header', () => {
  test('reaches the run: a field that still has its @keyHeader is refused, a malformed pair is a usage error', async () => {
    const bad = await runCli(['rotate', '--former-key-header', 'Patient.name', '--no-progress'], { env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/expected Model\.field=column/)
    const stillAnnotated = await runCli(['status', '--former-key-header', 'Patient.name=name_key', '--no-progress'], { env })
    expect(stillAnnotated.code).toBe(2)
    expect(stillAnnotated.stderr).toMatch(/formerKeyHeaders: Patient\.name has a key header in the model/)
    const unknown = await runCli(['rotate', '--former-key-header', 'User.nope=x', '--no-progress'], { env })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/formerKeyHeaders: User\.nope is not an encrypted field/)
  })
})
