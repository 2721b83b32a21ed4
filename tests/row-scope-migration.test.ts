/**
 * The migration over a row-scoped model (tenant_notes, `/// @encryptionScope(tenantId)`): every
 * row's values are sealed, indexed, rotated, verified and decrypted under the scope its own
 * tenant_id holds, and read back through the Prisma extension as that tenant's. Portable SQL: this
 * file runs on every database.
 */
import { ConfigurationError, EnvelopeEncryptor, fieldEncryption, LocalKeyProvider, localScopeKeys, type LocalScopeKeys } from '../src'
import type { EncryptionModel } from '../src/model/encryption-model'
import { decryptColumns, encryptColumns, encryptionStatus, rotateColumns } from '../src/migration/run-migration'
import { databaseScopeKeyStore } from '../src/migration/sql-scope-key-store'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'

let db: MigrationTestDatabase
let model: EncryptionModel
let scopeKeys: LocalScopeKeys
const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })

type Note = { id: number; tenant_id: string; body: string | null; email: string | null; email_index: string | null }
const NOTES: Array<[tenant: string, body: string, email: string]> = [
  ['a', 'note 1 of a', 'Same@Example.com'],
  ['b', 'note 1 of b', 'same@example.com'],
  ['a', 'note 2 of a', 'other@example.com'],
  ['c', 'note 1 of c', 'c@example.com'],
]

/** tenant_notes as stored, in id order. */
const notes = () => db.sql<Note>('SELECT id, tenant_id, body, email, email_index FROM tenant_notes ORDER BY id')

/** The Prisma client an application reads with: row scopes from the same key table. */
function appClient() {
  const encryptor = new EnvelopeEncryptor({ keys, scopeKeys: localScopeKeys({ master: keys, store: databaseScopeKeyStore(db.database) }) })
  return db.prisma.$extends(fieldEncryption({ model, encryptor }))
}

/** The model as it was before TenantNote became row-scoped: values written with it carry no scope. */
function withoutRowScope(m: EncryptionModel): EncryptionModel {
  const { scopeField: _dropped, ...unscoped } = m.models.TenantNote!
  return { ...m, models: { ...m.models, TenantNote: unscoped } }
}

beforeAll(async () => {
  db = await createMigrationDatabase()
  model = db.encryptionModel as EncryptionModel
  expect(model.models.TenantNote?.scopeField).toEqual({ name: 'tenantId', column: 'tenant_id' })
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  await emptyTables(db)
  await db.sql('DELETE FROM kfe_scope_keys')
  scopeKeys = localScopeKeys({ master: keys, store: databaseScopeKeyStore(db.database) })
  await db.sql(`INSERT INTO users (id, email) VALUES (1, 'owner@example.com')`)
  await db.sql(
    `INSERT INTO tenant_notes (tenant_id, body, email, author_id) VALUES ${NOTES.map(([t, b, e]) => `('${t}', '${b}', '${e}', 1)`).join(', ')}`,
  )
})

const run = { models: ['TenantNote'] }

test('encrypt seals each row under its own tenant, with that tenant’s blind index, readable through Prisma', async () => {
  const summary = await encryptColumns({ model, keys, scopeKeys, database: db.database, ...run })
  expect(summary.ok).toBe(true)
  expect(summary.columns.map((c) => [c.field, c.counts.encrypted])).toEqual([
    ['body', 4],
    ['email', 4],
  ])
  const rows = await notes()
  expect(rows.every((r) => r.body!.startsWith('$kfe$') && r.email!.startsWith('$kfe$'))).toBe(true)
  // Equal normalised emails in two tenants: unrelated indexes.
  expect(rows[0]!.email_index).not.toBeNull()
  expect(rows[0]!.email_index).not.toBe(rows[1]!.email_index)

  const prisma = appClient()
  const read = await prisma.tenantNote.findMany({ orderBy: { id: 'asc' }, select: { tenantId: true, body: true, email: true } })
  expect(read).toEqual(NOTES.map(([tenantId, body, email]) => ({ tenantId, body, email })))
  // The index the migration wrote is the one Prisma looks up, per tenant.
  expect((await prisma.tenantNote.findMany({ where: { tenantId: 'a', email: 'same@example.com' } })).map((n) => n.body)).toEqual([
    'note 1 of a',
  ])
  expect((await prisma.tenantNote.findMany({ where: { tenantId: 'b', email: 'SAME@example.com ' } })).map((n) => n.body)).toEqual([
    'note 1 of b',
  ])

  // A value sealed for tenant a, copied into a row of tenant b, does not open there.
  await db.sql(`UPDATE tenant_notes SET body = '${rows[0]!.body}' WHERE id = ${rows[1]!.id}`)
  await expect(appClient().tenantNote.findUnique({ where: { id: rows[1]!.id } })).rejects.toMatchObject({
    code: 'KFE_DECRYPTION_FAILED',
  })
  // status says so too, for that row only.
  const status = await encryptionStatus({ model, keys, scopeKeys, database: db.database, ...run })
  const body = status.columns.find((c) => c.field === 'body')!
  expect([body.current, body.unreadable]).toEqual([3, 1])
})

test('a row whose scope column is not a scope fails, and nothing of it is sealed', async () => {
  await db.sql(`INSERT INTO tenant_notes (tenant_id, body, email, author_id) VALUES ('', 'no tenant', 'x@example.com', 1)`)
  const summary = await encryptColumns({ model, keys, scopeKeys, database: db.database, ...run })
  expect(summary.ok).toBe(false)
  const body = summary.columns.find((c) => c.field === 'body')!
  expect(body.counts.encrypted).toBe(4)
  expect(body.failures.map((f) => [f.reason, f.count])).toEqual([['KFE_SCOPE_REQUIRED', 1]])
  const row = (await notes()).find((r) => r.tenant_id === '')!
  expect([row.body, row.email, row.email_index]).toEqual(['no tenant', 'x@example.com', null])
})

test('--scope reads only that tenant’s rows, without --adopt-unscoped (the rows say whose they are)', async () => {
  const summary = await encryptColumns({ model, keys, scopeKeys, database: db.database, ...run, scope: 'a' })
  expect(summary.ok).toBe(true)
  expect(summary.columns.map((c) => c.counts.encrypted)).toEqual([2, 2])
  const rows = await notes()
  expect(rows.map((r) => [r.tenant_id, r.body!.startsWith('$kfe$')])).toEqual([
    ['a', true],
    ['b', false],
    ['a', true],
    ['c', false],
  ])
  // Another model in the same run would be bound to the scope: that still needs the consent.
  await expect(encryptColumns({ model, keys, scopeKeys, database: db.database, scope: 'a' })).rejects.toThrow(/adoptUnscoped/)
})

test('rotate moves values written before the model was row-scoped into their rows’ scopes, indexes included', async () => {
  // Written without scopes (the model before @encryptionScope): readable unscoped only.
  expect((await encryptColumns({ model: withoutRowScope(model), keys, database: db.database, ...run })).ok).toBe(true)
  const before = await notes()
  const old = await encryptionStatus({ model, keys, scopeKeys, database: db.database, ...run })
  const email = old.columns.find((c) => c.field === 'email')!
  expect([email.current, email.older, email.unreadable]).toEqual([0, 4, 0])
  expect(email.blindIndexes).toEqual([{ name: 'emailIndex', current: 0, stale: 4, missing: 0 }])

  const rotated = await rotateColumns({ model, keys, scopeKeys, database: db.database, ...run })
  expect(rotated.ok).toBe(true)
  expect(rotated.columns.map((c) => c.counts.reencrypted)).toEqual([4, 4])
  const after = await notes()
  after.forEach((r, i) => {
    expect(r.body).not.toBe(before[i]!.body)
    expect(r.email_index).not.toBe(before[i]!.email_index)
  })
  const now = await encryptionStatus({ model, keys, scopeKeys, database: db.database, ...run })
  expect(now.complete).toBe(true)
  expect(now.columns.every((c) => c.current === 4 && c.older === 0 && c.unreadable === 0)).toBe(true)
  const prisma = appClient()
  expect((await prisma.tenantNote.findMany({ where: { tenantId: 'a', email: 'same@example.com' } })).map((n) => n.body)).toEqual([
    'note 1 of a',
  ])
  // A second rotate has nothing to do.
  expect((await rotateColumns({ model, keys, scopeKeys, database: db.database, ...run })).written).toBe(0)
})

test('status per row after shredding one tenant: its values are shredded, every other tenant reads', async () => {
  await encryptColumns({ model, keys, scopeKeys, database: db.database, ...run })
  await scopeKeys.shred('a')
  const status = await encryptionStatus({ model, keys, scopeKeys, database: db.database, ...run })
  for (const c of status.columns) expect([c.current, c.shredded, c.unreadable]).toEqual([2, 2, 0])
  const onlyA = await encryptionStatus({ model, keys, scopeKeys, database: db.database, ...run, scope: 'a' })
  for (const c of onlyA.columns) expect([c.current, c.shredded]).toEqual([0, 2])
  // decrypt writes back what can be read, and leaves the shredded rows (failed) as they are.
  const decrypted = await decryptColumns({ model, keys, scopeKeys, database: db.database, ...run })
  expect(decrypted.columns.map((c) => [c.counts.decrypted, c.failed])).toEqual([
    [2, 2],
    [2, 2],
  ])
  const rows = await notes()
  expect(rows.map((r) => (r.body!.startsWith('$kfe$') ? 'sealed' : r.body))).toEqual(['sealed', 'note 1 of b', 'sealed', 'note 1 of c'])
})

test('a row-scoped model needs the scope keys: without them the run refuses before reading', async () => {
  const encryptor = new EnvelopeEncryptor({ keys })
  await expect(encryptColumns({ model, encryptor, database: db.database, ...run })).rejects.toThrow(ConfigurationError)
  await expect(encryptColumns({ model, keys, database: db.database })).rejects.toThrow(/TenantNote is row-scoped/)
  expect((await notes()).map((r) => r.body)).toEqual(NOTES.map(([, body]) => body))
})
