import { encryptionModel } from './support/test-encryption-model'
import { fieldEncryption, LocalKeyProvider } from '../src'
import { looksLikePfeValue } from '../src/migration/pfe-keychain'
import { encryptColumns, encryptionStatus } from '../src/migration/run-migration'
import { runCli } from './support/migration-cli-io'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { pfeEncrypt, pfeKey } from './support/migration-pfe-values'
import { seedPlaintext } from './support/migration-seed'

/**
 * Values at the edges of what `encrypt` and `status` must tell apart: a plaintext that starts
 * with this library's prefix (issue 10, item 9), and prisma-field-encryption values of several
 * megabytes (item 12).
 */
let db: MigrationTestDatabase
let masterKey: string
let keys: LocalKeyProvider

beforeAll(async () => {
  db = await createMigrationDatabase()
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  await emptyTables(db)
  await seedPlaintext(db)
  masterKey = LocalKeyProvider.generateMasterKey()
  keys = new LocalKeyProvider({ masterKey })
})

describe('a plaintext that starts with $kfe$', () => {
  const PREFIXED = ['$kfe$hello', '$kfe$' + 'A'.repeat(200) + ' with a space', '$kfe$AQAo' + 'A'.repeat(120)]

  test('encrypt reports its row as failed, by reason, as status does; the value stays as it was', async () => {
    await db.sql('UPDATE users SET phone = $1 WHERE id = 1', [PREFIXED[0]])
    await db.sql('UPDATE users SET phone = $1 WHERE id = 2', [PREFIXED[1]])
    await db.sql('UPDATE users SET phone = $1 WHERE id = 4', [PREFIXED[2]])
    const summary = await encryptColumns({ model: encryptionModel, keys, database: db.database, fields: ['User.phone'] })
    expect(summary.ok).toBe(false)
    // Rows 1 and 2 cannot be ours by their shape. Row 4 is shaped exactly like an encrypted value:
    // encrypt cannot tell it from one without decrypting every value; status (which does) reports it.
    expect(summary.failed).toBe(2)
    expect(summary.columns[0]!.failures).toEqual([
      expect.objectContaining({ reason: 'KFE_MALFORMED_CIPHERTEXT', count: 2, sampleKeys: [['1'], ['2']] }),
    ])
    expect(summary.columns[0]!.failures[0]!.message).not.toContain('hello')
    const stored = await db.sql<{ phone: string }>('SELECT phone FROM users WHERE id IN (1, 2, 4) ORDER BY id')
    expect(stored.map((r) => r.phone)).toEqual(PREFIXED)

    const status = await encryptionStatus({ model: encryptionModel, keys, database: db.database, fields: ['User.phone'] })
    expect(status.columns[0]!.unreadableReasons).toEqual([expect.objectContaining({ reason: 'KFE_MALFORMED_CIPHERTEXT', count: 3 })])
    expect(status.complete).toBe(false)
    // Once a person has fixed them (here: written through the extension), encrypt has nothing left to report.
    const prisma = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys }))
    for (const [i, id] of [1, 2, 4].entries())
      await prisma.user.update({ where: { id }, data: { phone: PREFIXED[i] }, select: { id: true } })
    expect(await encryptColumns({ model: encryptionModel, keys, database: db.database, fields: ['User.phone'] })).toMatchObject({
      ok: true,
      failed: 0,
    })
    expect((await prisma.user.findUnique({ where: { id: 1 }, select: { phone: true } }))!.phone).toBe(PREFIXED[0])
  })

  test('the CLI exits 1 and names the reason class', async () => {
    await db.sql('UPDATE users SET phone = $1 WHERE id = 5', [PREFIXED[0]])
    const run = await runCli(['encrypt', '--field', 'User.phone', '--no-progress'], {
      env: { DATABASE_URL: await db.url(), KFE_LOCAL_MASTER_KEY: masterKey },
    })
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/Rows that could not be processed:\n {2}User\.phone {2}KFE_MALFORMED_CIPHERTEXT {2}1 row \(e\.g\. key 5\): /)
  })

  test('a list element with the prefix fails its row too', async () => {
    await db.sql("UPDATE users SET tags = ARRAY['fine', '$kfe$not ours'] WHERE id = 1")
    const summary = await encryptColumns({ model: encryptionModel, keys, database: db.database, fields: ['User.tags'] })
    expect(summary.columns[0]!.failures).toEqual([expect.objectContaining({ reason: 'KFE_MALFORMED_CIPHERTEXT', sampleKeys: [['1']] })])
    expect((await db.sql<{ tags: string[] }>('SELECT tags FROM users WHERE id = 1'))[0]!.tags).toEqual(['fine', '$kfe$not ours'])
  })
})

describe('prisma-field-encryption values of several megabytes', () => {
  test('are recognised, counted by status and converted by encrypt --from-pfe-key (a 5 MB value)', async () => {
    const key = pfeKey()
    const big = 'x'.repeat(5 * 1024 * 1024)
    const value = pfeEncrypt(big, key)
    expect(looksLikePfeValue(value)).toBe(true)
    expect(looksLikePfeValue(value.slice(0, -30) + '.' + value.slice(-29))).toBe(false)
    await db.sql('UPDATE profiles SET biography = $1 WHERE user_id = (SELECT min(user_id) FROM profiles)', [value])
    const options = { model: encryptionModel, keys, database: db.database, fields: ['Profile.bio'] }
    const before = await encryptionStatus(options)
    expect(before.columns[0]).toMatchObject({ prismaFieldEncryption: 1 })
    const summary = await encryptColumns({ ...options, pfeKeys: [key] })
    expect(summary).toMatchObject({ ok: true, failed: 0 })
    expect(summary.columns[0]!.counts['converted from prisma-field-encryption']).toBe(1)
    const prisma = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys }))
    const profiles = await prisma.profile.findMany({ select: { bio: true } })
    expect(profiles.filter((p) => p.bio === big)).toHaveLength(1)
    expect((await encryptionStatus(options)).complete).toBe(true)
  })
})
