/**
 * The migration and row-scoped models (@encryptionScope): it does not read a row's scope yet, so
 * it must never seal such a model's values without their scope. A named row-scoped model is
 * refused before anything is read; an all-models run leaves it out and says so.
 */
import { ConfigurationError, LocalKeyProvider } from '../src'
import type { EncryptionModel } from '../src/model/encryption-model'
import { encryptColumns, encryptionStatus } from '../src/migration/run-migration'
import { rowScopedModels } from '../src/migration/column-target'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'

let db: MigrationTestDatabase
const USERS = Array.from({ length: 12 }, (_, i) => i + 1)
const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })

/** This database's model with TenantNote row-scoped by tenantId, whatever the generated model says. */
let rowScoped: EncryptionModel

beforeAll(async () => {
  db = await createMigrationDatabase()
  const model = db.encryptionModel as EncryptionModel
  rowScoped = {
    ...model,
    models: { ...model.models, TenantNote: { ...model.models.TenantNote!, scopeField: { name: 'tenantId', column: 'tenant_id' } } },
  }
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  await emptyTables(db)
  // Portable SQL: this file runs on every database.
  await db.sql(`INSERT INTO users (id, email) VALUES ${USERS.map((i) => `(${i}, 'user.${i}@example.com')`).join(', ')}`)
  await db.sql(
    `INSERT INTO tenant_notes (tenant_id, body, email) VALUES ('a', 'note of a', 'a@example.com'), ('b', 'note of b', 'b@example.com')`,
  )
})

test('a named row-scoped model or field is refused before anything is read or written', async () => {
  for (const selection of [{ models: ['TenantNote'] }, { models: ['tenantnote', 'User'] }, { fields: ['TenantNote.email'] }]) {
    await expect(encryptColumns({ model: rowScoped, keys, database: db.database, ...selection })).rejects.toThrow(ConfigurationError)
    await expect(encryptColumns({ model: rowScoped, keys, database: db.database, ...selection })).rejects.toThrow(/row-scoped/)
  }
  const rows = await db.sql<{ body: string }>('SELECT body FROM tenant_notes ORDER BY id')
  expect(rows.map((r) => r.body)).toEqual(['note of a', 'note of b'])
  const users = await db.sql<{ email: string }>('SELECT email FROM users ORDER BY id')
  expect(users).toHaveLength(USERS.length)
  expect(users.every((u) => !u.email.startsWith('$kfe$'))).toBe(true)
})

test('an all-models run leaves the row-scoped model out (never sealed without its scope) and encrypts the rest', async () => {
  expect(rowScopedModels(rowScoped)).toEqual(['TenantNote'])
  const summary = await encryptColumns({ model: rowScoped, keys, database: db.database })
  expect(summary.ok).toBe(true)
  expect(summary.columns.map((c) => c.model)).not.toContain('TenantNote')
  expect(summary.columns.find((c) => c.model === 'User' && c.field === 'email')?.counts.encrypted).toBe(USERS.length)
  const rows = await db.sql<{ body: string; email: string }>('SELECT body, email FROM tenant_notes ORDER BY id')
  expect(rows).toEqual([
    { body: 'note of a', email: 'a@example.com' },
    { body: 'note of b', email: 'b@example.com' },
  ])
  const status = await encryptionStatus({ model: rowScoped, keys, database: db.database })
  expect(status.columns.map((c) => c.model)).not.toContain('TenantNote')
})
