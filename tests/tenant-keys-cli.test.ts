/**
 * Per-tenant keys from the command line: `status`, `encrypt` with `--scope`, and `shred --scope`.
 * A database (on a server: a schema) per tenant, as in a database-per-tenant deployment: rows are
 * written through `fieldEncryption({ scope })` clients with `localScopeKeys` over the key table
 * `kfe_scope_keys` (prismaScopeKeyStore), then the real CLI inspects, encrypts and shreds them,
 * finding the scope keys in the same key table (its own SqlDatabase store).
 */
import { CreateKeyCommand, DecryptCommand, EncryptCommand, type KMSClient } from '@aws-sdk/client-kms'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  EnvelopeEncryptor,
  fieldEncryption,
  LocalKeyProvider,
  localScopeKeys,
  prismaScopeKeyStore,
  recomputeBlindIndexes,
  type ScopeKeyStoreDialect,
} from '../src'
import { fieldContext } from '../src/cipher/field-context'
import { decodeHeader } from '../src/format/envelope-format'
import { KeyRing } from '../src/keys/key-ring'
import type { ScopeKeys } from '../src/keys/scope-keys'
import { ScopedDataKeyCurrency } from '../src/migration/scoped-data-key-currency'
import { databaseScopeKeyStore } from '../src/migration/sql-scope-key-store'
import { takeApart } from './support/envelope-surgery'
import { kmsClientFor, KmsTestServer } from './support/kms-test-server'
import { runCli } from './support/migration-cli-io'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { scopeKeyDialectOf } from './support/test-database-kind'

interface Tenant {
  scope: string
  db: MigrationTestDatabase
  env: NodeJS.ProcessEnv
  client(): ReturnType<typeof scopedClient>
}

const masterKey = LocalKeyProvider.generateMasterKey()
const master = new LocalKeyProvider({ masterKey })
let tenants: Tenant[]
let a: Tenant
let b: Tenant

/** The local scope keys over the key table of a tenant's database. */
function scopeKeysOf(db: MigrationTestDatabase, url: string) {
  const dialect: ScopeKeyStoreDialect = scopeKeyDialectOf(db.kind)
  const schema = db.kind === 'postgres' ? (new URL(url).searchParams.get('schema') ?? undefined) : undefined
  return localScopeKeys({ master, store: prismaScopeKeyStore(db.prisma, { dialect, schema }) })
}

function scopedClient(db: MigrationTestDatabase, scope: string, url: string) {
  // A fresh encryptor each time: another process, which reads the key table anew.
  const scopeKeys = scopeKeysOf(db, url)
  const encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
  return db.prisma.$extends(fieldEncryption({ model: db.encryptionModel, encryptor, scope }))
}

async function tenant(scope: string): Promise<Tenant> {
  const db = await createMigrationDatabase()
  await emptyTables(db)
  const url = await db.url()
  return { scope, db, env: { DATABASE_URL: url, KFE_LOCAL_MASTER_KEY: masterKey }, client: () => scopedClient(db, scope, url) }
}

/** `status --json` of the users' email column, with the exit code. */
async function emailStatus(t: Tenant, ...args: string[]) {
  const run = await runCli(['status', '--json', '--no-progress', '--encryption-model', t.db.encryptionModelModule, ...args], { env: t.env })
  const report = JSON.parse(run.stdout) as {
    scope?: string
    complete: boolean
    columns: Array<{
      model: string
      field: string
      current: number
      older: number
      plaintext: number
      unreadable: number
      shredded: number
      unreadableReasons: Array<{ reason: string; count: number }>
      blindIndexes: Array<{ name: string; current: number; stale: number; missing: number }>
    }>
  }
  return { code: run.code, report, email: report.columns.find((c) => c.model === 'User' && c.field === 'email')! }
}

const EMAILS = ['ann@x.io', 'bob@x.io', 'cy@x.io', 'di@x.io', 'ed@x.io']

beforeAll(async () => {
  tenants = [await tenant('A'), await tenant('B')]
  ;[a, b] = tenants
  for (const t of tenants) {
    const client = t.client()
    for (const email of EMAILS) await client.user.create({ data: { email: `${t.scope}-${email}`, phone: '+1 555 0100' } })
  }
})

afterAll(async () => {
  for (const t of tenants ?? []) await t.db.close()
})

describe('status, shred and encrypt with --scope', () => {
  test('status --scope A counts every value of A current, its blind indexes verified under the scope', async () => {
    const { code, report, email } = await emailStatus(a, '--scope', 'A', '--check')
    expect(code).toBe(0)
    expect(report).toMatchObject({ scope: 'A', complete: true })
    expect(email).toMatchObject({ current: EMAILS.length, unreadable: 0, shredded: 0 })
    expect(email.blindIndexes).toEqual([{ name: 'emailIndex', current: EMAILS.length, stale: 0, missing: 0 }])
    // Without the scope the same values are unreadable: a scoped value never reads unscoped.
    const unscoped = await emailStatus(a)
    expect(unscoped.code).toBe(0)
    expect(unscoped.email).toMatchObject({ current: 0, unreadable: EMAILS.length, shredded: 0 })
    // Under a scope this database has no key for: none is made, the run says so, and nothing counts as shredded.
    const other = await runCli(['status', '--scope', 'B', '--no-progress', '--encryption-model', a.db.encryptionModelModule], {
      env: a.env,
    })
    expect(other.stderr).toMatch(/no key for scope 'B'/)
    expect(other.stdout).not.toMatch(/shredded/)
    expect(await databaseScopeKeyStore(a.db.database).get('B')).toBeUndefined()
  })

  test('shred --scope A asks first; --yes tombstones the key table row; then A’s values are shredded, B’s current', async () => {
    const declined = await runCli(['shred', '--scope', 'A'], { env: a.env, answer: 'no' })
    expect(declined.code).toBe(1)
    expect(declined.questions[0]).toMatch(/erases the key of scope 'A' from kfe_scope_keys/)
    expect((await databaseScopeKeyStore(a.db.database).get('A'))?.wrappedKey).toBeInstanceOf(Buffer)
    const noTerminal = await runCli(['shred', '--scope', 'A'], { env: a.env })
    expect(noTerminal.code).toBe(2)
    expect(noTerminal.stderr).toMatch(/--yes/)

    const run = await runCli(['shred', '--scope', 'A', '--yes'], { env: a.env })
    expect(run).toMatchObject({ code: 0, stderr: '' })
    expect(run.stdout).toMatch(/scope 'A': its key in kfe_scope_keys is now a tombstone/)
    const tomb = await databaseScopeKeyStore(a.db.database).get('A')
    expect(tomb).toMatchObject({ wrappedKey: null })
    expect(tomb!.shreddedAt).toBeInstanceOf(Date)

    const { code, report, email } = await emailStatus(a, '--scope', 'A')
    expect(code).toBe(0)
    expect(report.complete).toBe(false)
    expect(email).toMatchObject({ current: 0, unreadable: 0, shredded: EMAILS.length })
    expect(email.unreadableReasons).toEqual([expect.objectContaining({ reason: 'KFE_SCOPE_KEY_SHREDDED', count: EMAILS.length })])
    const phone = report.columns.find((c) => c.field === 'phone')!
    expect(phone).toMatchObject({ shredded: EMAILS.length, unreadable: 0 })
    expect((await emailStatus(a, '--scope', 'A', '--check')).code).toBe(1)
    // The table shows them in their own column.
    const table = await runCli(['status', '--no-progress', '--scope', 'A', '--encryption-model', a.db.encryptionModelModule], {
      env: a.env,
    })
    expect(table.stdout).toMatch(/shredded/)
    expect(table.stdout).toMatch(/KFE_SCOPE_KEY_SHREDDED/)
    // A client of A cannot read them either, nor write; B is untouched.
    await expect(a.client().user.findFirst()).rejects.toMatchObject({ code: 'KFE_SCOPE_KEY_SHREDDED', model: 'User' })
    const bStatus = await emailStatus(b, '--scope', 'B', '--check')
    expect(bStatus.code).toBe(0)
    expect(bStatus.email).toMatchObject({ current: EMAILS.length, unreadable: 0, shredded: 0 })
    expect((await b.client().user.findMany({ orderBy: { id: 'asc' } })).map((u) => u.email)).toEqual(EMAILS.map((e) => `B-${e}`))
    // Nothing is encrypted for a shredded scope: the run stops, the plaintext row is left as it was.
    const plain = await a.db.prisma.user.create({ data: { email: 'late@x.io' } })
    const late = await runCli(
      ['encrypt', '--scope', 'A', '--adopt-unscoped', '--yes', '--no-progress', '--encryption-model', a.db.encryptionModelModule],
      {
        env: a.env,
      },
    )
    expect(late.code).not.toBe(0)
    expect(late.stderr + late.stdout).toMatch(/KFE_SCOPE_KEY_SHREDDED/)
    expect((await a.db.prisma.user.findUnique({ where: { id: plain.id } }))!.email).toBe('late@x.io')
    await a.db.prisma.user.delete({ where: { id: plain.id } })
    // Shredding again is harmless; a bad scope or pending-days cannot start.
    expect((await runCli(['shred', '--scope', 'A', '--yes'], { env: a.env })).code).toBe(0)
    expect((await runCli(['shred', '--scope', '', '--yes'], { env: a.env })).code).toBe(2)
    expect((await runCli(['shred', '--scope', 'A', '--yes', '--pending-days', '3'], { env: a.env })).code).toBe(2)
  })

  test('encrypt --scope B of plaintext rows writes values and blind indexes a B client reads and finds', async () => {
    // Rows written without the extension: plaintext, as before the migration.
    for (const email of ['new1@x.io', 'new2@x.io']) await b.db.prisma.user.create({ data: { email } })
    const before = await emailStatus(b, '--scope', 'B')
    expect(before.email).toMatchObject({ plaintext: 2, current: EMAILS.length })
    const run = await runCli(
      ['encrypt', '--scope', 'B', '--adopt-unscoped', '--yes', '--no-progress', '--encryption-model', b.db.encryptionModelModule, '--json'],
      {
        env: b.env,
      },
    )
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout) as {
      scope: string
      failed: number
      columns: Array<{ field: string; counts: Record<string, number> }>
    }
    expect(summary).toMatchObject({ scope: 'B', failed: 0 })
    expect(summary.columns.find((c) => c.field === 'email')!.counts.encrypted).toBe(2)
    const after = await emailStatus(b, '--scope', 'B', '--check')
    expect(after.code).toBe(0)
    expect(after.email).toMatchObject({ plaintext: 0, current: EMAILS.length + 2, unreadable: 0 })
    const client = b.client()
    expect(await client.user.findFirst({ where: { email: 'NEW2@x.io' } })).toMatchObject({ email: 'new2@x.io' })
    // Stored encrypted, and bound to B: unreadable without the scope.
    const raw = await b.db.prisma.user.findFirst({
      where: { emailIndex: { not: null }, email: { not: { contains: '@' } } },
      orderBy: { id: 'desc' },
    })
    expect(raw!.email.startsWith('new')).toBe(false)
    expect((await emailStatus(b)).email).toMatchObject({ current: 0, unreadable: EMAILS.length + 2 })
  })
})

describe('rotate --scope: values encrypted before the deployment had scopes move into the scope', () => {
  test('status --scope counts them older (not unreadable); rotate --scope re-encrypts them and their indexes for the scope', async () => {
    const unscoped = b.db.prisma.$extends(fieldEncryption({ model: b.db.encryptionModel, keys: master }))
    for (const email of ['old1@x.io', 'old2@x.io', 'old3@x.io']) await unscoped.user.create({ data: { email } })
    const before = await emailStatus(b, '--scope', 'B')
    expect(before.email).toMatchObject({ older: 3, unreadable: 0, shredded: 0 })
    expect(before.email.blindIndexes[0]).toMatchObject({ stale: 3 })
    const scopedClient = b.client()
    expect(await scopedClient.user.findFirst({ where: { email: 'old2@x.io' } })).toBeNull() // unscoped index: not found under B

    const run = await runCli(
      ['rotate', '--scope', 'B', '--adopt-unscoped', '--yes', '--no-progress', '--json', '--encryption-model', b.db.encryptionModelModule],
      {
        env: b.env,
      },
    )
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout) as { failed: number; columns: Array<{ field: string; counts: Record<string, number> }> }
    expect(summary.failed).toBe(0)
    expect(summary.columns.find((c) => c.field === 'email')!.counts.reencrypted).toBe(3)

    const after = await emailStatus(b, '--scope', 'B', '--check')
    expect(after.code).toBe(0)
    expect(after.email).toMatchObject({ older: 0, unreadable: 0 })
    expect(await b.client().user.findFirst({ where: { email: 'OLD2@x.io' } })).toMatchObject({ email: 'old2@x.io' })
    // Now B's: the unscoped client no longer reads them.
    await expect(unscoped.user.findFirst({ where: { email: 'old1@x.io' } })).resolves.toBeNull()
  })
})

describe('recomputeBlindIndexes with a scope', () => {
  test('a tenant’s missing and old-version indexes are recomputed with its index key (unscoped ones with all); its client then finds the rows', async () => {
    const c = await tenant('C')
    tenants.push(c)
    const EMAILS_C = ['gone@x.io', 'old@x.io', 'plain@x.io']
    const ids: number[] = []
    for (const email of EMAILS_C) ids.push((await c.client().user.create({ data: { email } })).id)
    // The unscoped index of plain@x.io (as written before the deployment had scopes), put on C's row.
    const unscoped = c.db.prisma.$extends(fieldEncryption({ model: c.db.encryptionModel, keys: master }))
    const u = await unscoped.user.create({ data: { email: 'plain@x.io' } })
    const unscopedIndex = (await c.db.prisma.user.findUniqueOrThrow({ where: { id: u.id } })).emailIndex
    await c.db.prisma.user.delete({ where: { id: u.id } })
    await c.db.prisma.user.update({ where: { id: ids[0] }, data: { emailIndex: null } })
    await c.db.prisma.user.update({ where: { id: ids[1] }, data: { emailIndex: 'v9:' + 'A'.repeat(43) } })
    await c.db.prisma.user.update({ where: { id: ids[2] }, data: { emailIndex: unscopedIndex } })
    const found = async () => {
      const client = c.client()
      return Promise.all(EMAILS_C.map(async (email) => (await client.user.findFirst({ where: { email } }))?.id ?? null))
    }
    expect(await found()).toEqual([null, null, null])

    const scopeKeys = scopeKeysOf(c.db, await c.db.url())
    const options = { database: c.db.database, model: c.db.encryptionModel, modelName: 'User', keys: master, scopeKeys, scope: 'C' }
    await expect(recomputeBlindIndexes({ ...options, scopeKeys: undefined })).rejects.toMatchObject({ code: 'KFE_CONFIGURATION' })
    expect(await recomputeBlindIndexes(options)).toMatchObject({ updated: 2, skipped: 0 })
    // An unscoped index on the current version is told from C's only by decrypting: `all`.
    expect(await found()).toEqual([ids[0], ids[1], null])
    expect(await recomputeBlindIndexes({ ...options, all: true })).toMatchObject({ updated: 1, unchanged: 2 })
    expect(await found()).toEqual(ids)
  })
})

describe('decrypt --scope', () => {
  test('writes the plaintext of the scope’s values back', async () => {
    const run = await runCli(
      ['decrypt', '--scope', 'B', '--yes', '--field', 'User.phone', '--no-progress', '--encryption-model', b.db.encryptionModelModule],
      { env: b.env },
    )
    expect(run.code).toBe(0)
    const phones = (await b.db.prisma.user.findMany({ where: { phone: { not: null } } })).map((u) => u.phone)
    expect(phones).toEqual(EMAILS.map(() => '+1 555 0100'))
  })
})

describe('shred --scope with awsKmsScopeKeys in the config', () => {
  const ROOT = join(__dirname, '..')
  let server: KmsTestServer
  let client: KMSClient
  let dir: string
  let own: string
  let shared: string

  beforeAll(async () => {
    server = new KmsTestServer()
    const { endpoint } = await server.start()
    client = kmsClientFor(endpoint)
    dir = mkdtempSync(join(tmpdir(), 'kfe-shred-'))
    own = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
    shared = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
    writeFileSync(
      join(dir, 'kfe.config.ts'),
      [
        `import { awsKmsScopeKeys } from ${JSON.stringify(join(ROOT, 'src'))}`,
        `import { kmsClientFor } from ${JSON.stringify(join(ROOT, 'tests/support/kms-test-server'))}`,
        'const keys: Record<string, string> = { K1: ' + JSON.stringify(own) + ", GONE: '00000000-0000-4000-8000-000000000000' }",
        `export default { scopeKeys: () => awsKmsScopeKeys({ keyIdFor: (s) => keys[s], defaultKeyId: ${JSON.stringify(shared)}, client: kmsClientFor(${JSON.stringify(endpoint)}) }) }`,
      ].join('\n'),
    )
    server.resetCounts()
  })

  afterAll(async () => {
    client?.destroy()
    await server?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('the scope’s own key is scheduled for deletion (--pending-days); a shared default key or an unknown one is not', async () => {
    const blob = (await client.send(new EncryptCommand({ KeyId: own, Plaintext: Buffer.from('x') }))).CiphertextBlob!
    const env = { DATABASE_URL: a.env.DATABASE_URL }

    const sharedRun = await runCli(['shred', '--scope', 'B', '--yes', '--json'], { env, cwd: dir })
    expect(sharedRun.code).toBe(1)
    expect(JSON.parse(sharedRun.stdout)).toMatchObject({ scope: 'B', kind: 'kms', done: false, keyId: shared })
    expect(sharedRun.stdout).toMatch(/shared defaultKeyId/)
    expect(server.calls.ScheduleKeyDeletion ?? 0).toBe(0)

    const declined = await runCli(['shred', '--scope', 'K1', '--pending-days', '7'], { env, cwd: dir, answer: 'no' })
    expect(declined.code).toBe(1)
    expect(declined.questions[0]).toMatch(new RegExp(`deletion of KMS key ${own} \\(scope 'K1'\\) in 7 days`))
    expect(server.calls.ScheduleKeyDeletion ?? 0).toBe(0)

    const run = await runCli(['shred', '--scope', 'K1', '--pending-days', '7', '--yes', '--json'], { env, cwd: dir })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ scope: 'K1', kind: 'kms', done: true, pendingDays: 7, deletionDate: expect.any(String) })
    expect(server.calls.ScheduleKeyDeletion).toBe(1)
    await expect(client.send(new DecryptCommand({ CiphertextBlob: blob }))).rejects.toMatchObject({ name: 'KMSInvalidStateException' })

    const again = await runCli(['shred', '--scope', 'K1', '--yes'], { env, cwd: dir })
    expect(again.code).toBe(1)
    expect(again.stdout).toMatch(/KMSInvalidStateException.*already pending deletion/)
    const gone = await runCli(['shred', '--scope', 'GONE', '--yes'], { env, cwd: dir })
    expect(gone.code).toBe(1)
    expect(gone.stdout).toMatch(/NotFoundException/)
  })
})

/** The raw (stored) emails of a tenant's users, in id order. */
async function rawEmails(t: Tenant): Promise<string[]> {
  return (await t.db.prisma.user.findMany({ orderBy: { id: 'asc' } })).map((u) => u.email)
}

/** The counts of the email column in a `--json` summary. */
function emailCounts(stdout: string): Record<string, number> {
  const summary = JSON.parse(stdout) as { columns: Array<{ model: string; field: string; counts: Record<string, number> }> }
  return summary.columns.find((c) => c.model === 'User' && c.field === 'email')!.counts
}

describe('review findings on the scoped CLI', () => {
  test('1: rotate --scope leaves values written without a scope alone unless --adopt-unscoped (counted, asked); encrypt --scope needs it too', async () => {
    const e = await tenant('E')
    tenants.push(e)
    const model = ['--no-progress', '--encryption-model', e.db.encryptionModelModule]
    const unscoped = e.db.prisma.$extends(fieldEncryption({ model: e.db.encryptionModel, keys: master }))
    for (const email of ['u1@x.io', 'u2@x.io']) await unscoped.user.create({ data: { email } })
    for (const email of ['p1@x.io', 'p2@x.io']) await e.db.prisma.user.create({ data: { email } })
    const before = await rawEmails(e)

    const left = await runCli(['rotate', '--scope', 'E', '--json', ...model], { env: e.env })
    expect(left.code).toBe(0)
    expect(emailCounts(left.stdout)).toMatchObject({ 'outside scope': 2 })
    expect(await rawEmails(e)).toEqual(before)
    const noTerminal = await runCli(['rotate', '--scope', 'E', '--adopt-unscoped', ...model], { env: e.env })
    expect(noTerminal.code).toBe(2)
    expect(noTerminal.stderr).toMatch(/--yes/)
    const declined = await runCli(['rotate', '--scope', 'E', '--adopt-unscoped', ...model], { env: e.env, answer: 'no' })
    expect(declined.code).toBe(1)
    expect(declined.questions).toEqual([expect.stringMatching(/binds 2 rows with values encrypted without a scope .* to scope 'E'/)])
    expect(await rawEmails(e)).toEqual(before)

    const refused = await runCli(['encrypt', '--scope', 'E', ...model], { env: e.env })
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--adopt-unscoped/)
    expect(await rawEmails(e)).toEqual(before)
    const asked = await runCli(['encrypt', '--scope', 'E', '--adopt-unscoped', '--json', ...model], { env: e.env, answer: 'yes' })
    expect(asked.code).toBe(0)
    expect(asked.questions).toEqual([expect.stringMatching(/binds 2 plaintext rows .* to scope 'E'/)])
    expect(emailCounts(asked.stdout)).toMatchObject({ encrypted: 2 })
    const moved = await runCli(['rotate', '--scope', 'E', '--adopt-unscoped', '--json', ...model], { env: e.env, answer: 'yes' })
    expect(moved.code).toBe(0)
    expect(emailCounts(moved.stdout)).toMatchObject({ reencrypted: 2 })
    expect((await emailStatus(e, '--scope', 'E', '--check')).email).toMatchObject({ current: 4, older: 0 })
  })

  test('2: status, decrypt, rotate and shred of a scope without a key make none, and say "no key for scope"', async () => {
    const e = tenants.find((t) => t.scope === 'E')!
    const model = ['--no-progress', '--encryption-model', e.db.encryptionModelModule]
    const store = databaseScopeKeyStore(e.db.database)
    const before = await rawEmails(e)
    const status = await runCli(['status', '--scope', 'NOPE', '--check', ...model], { env: e.env })
    expect(status.code).toBe(1)
    expect(status.stderr).toMatch(/no key for scope 'NOPE'/)
    const decrypt = await runCli(['decrypt', '--scope', 'NOPE', '--yes', ...model], { env: e.env })
    expect(decrypt.code).toBe(1)
    expect(decrypt.stderr).toMatch(/no key for scope 'NOPE'/)
    const rotate = await runCli(['rotate', '--scope', 'NOPE', ...model], { env: e.env })
    expect(rotate.code).toBe(0)
    expect(rotate.stderr).toMatch(/no key for scope 'NOPE'/)
    const shred = await runCli(['shred', '--scope', 'NOPE', '--yes'], { env: e.env })
    expect(shred.code).toBe(1)
    expect(shred.stdout).toMatch(/no key for scope 'NOPE'/)
    expect(await store.get('NOPE')).toBeUndefined()
    expect(await rawEmails(e)).toEqual(before)
  })

  test('3: every command ends by zeroing the scope keys it loaded and the master key, shred included', async () => {
    const e = tenants.find((t) => t.scope === 'E')!
    const destroyed: string[] = []
    const original = LocalKeyProvider.prototype.destroy
    const spy = jest.spyOn(LocalKeyProvider.prototype, 'destroy').mockImplementation(function (this: LocalKeyProvider) {
      destroyed.push(this.id)
      original.call(this)
    })
    try {
      expect((await emailStatus(e, '--scope', 'E')).code).toBe(0)
      expect(destroyed).toEqual(expect.arrayContaining(['local-scope', 'local']))
      destroyed.length = 0
      const g = await tenant('G')
      tenants.push(g)
      await g.client().user.create({ data: { email: 'g@x.io' } })
      expect((await runCli(['shred', '--scope', 'G', '--yes'], { env: g.env })).code).toBe(0)
      expect(destroyed).toEqual(expect.arrayContaining(['local']))
    } finally {
      spy.mockRestore()
    }
    const scopeKeys = localScopeKeys({ master, store: databaseScopeKeyStore(e.db.database) })
    const provider = await scopeKeys.providerFor('E')
    scopeKeys.destroy()
    await expect(provider.generateDataKey()).rejects.toMatchObject({ code: 'KFE_KEY_UNAVAILABLE' })
    await expect(scopeKeys.providerFor('E')).rejects.toMatchObject({ code: 'KFE_KEY_UNAVAILABLE' })
  })

  test('4: decrypt --scope decrypts values written before scopes as unscoped values, counted as such', async () => {
    const f = await tenant('F')
    tenants.push(f)
    const unscoped = f.db.prisma.$extends(fieldEncryption({ model: f.db.encryptionModel, keys: master }))
    for (const email of ['u1@x.io', 'u2@x.io']) await unscoped.user.create({ data: { email } })
    for (const email of ['s1@x.io', 's2@x.io']) await f.client().user.create({ data: { email } })
    const run = await runCli(
      [
        'decrypt',
        '--scope',
        'F',
        '--yes',
        '--json',
        '--field',
        'User.email',
        '--no-progress',
        '--encryption-model',
        f.db.encryptionModelModule,
      ],
      { env: f.env },
    )
    expect(run.code).toBe(0)
    expect(emailCounts(run.stdout)).toMatchObject({ decrypted: 2, 'decrypted (written without a scope)': 2 })
    expect(await rawEmails(f)).toEqual(['u1@x.io', 'u2@x.io', 's1@x.io', 's2@x.io'])
  })

  test('5: a hung scope-key lookup (key-table read, KMS key lookup) fails with the typed timeout error under the provider deadline', async () => {
    const hung: ScopeKeys = { providerFor: () => new Promise(() => undefined) }
    const ctx = fieldContext('User', 'email', 'users', 'email')
    const encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys: hung, providerTimeoutMs: 50 })
    await expect(encryptor.encrypt('ann@x.io', ctx, 'S')).rejects.toMatchObject({ code: 'KFE_KEY_UNAVAILABLE', model: 'User' })
    const value = await new EnvelopeEncryptor({ keys: master }).encrypt('ann@x.io', ctx)
    await expect(encryptor.decrypt(value, ctx, 'S')).rejects.toMatchObject({ code: 'KFE_KEY_UNAVAILABLE' })
    const currency = new ScopedDataKeyCurrency(new KeyRing([master]), hung, 'S', 50)
    const header = decodeHeader(takeApart(value as string).header, {})
    await expect(currency.of('', header, { model: 'User', field: 'email' })).rejects.toMatchObject({
      code: 'KFE_KEY_UNAVAILABLE',
      message: expect.stringMatching(/no answer within 50 ms/),
    })
  })
})
