import 'reflect-metadata'
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { BlindIndex, Encrypted, encryptDataSource } from '../src/typeorm'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { DecryptionFailedError, UnknownKeyProviderError } from '../src/errors'
import { localScopeKeys } from '../src/keys/local-scope-keys'
import { MemoryScopeKeyStore } from '../src/keys/scope-key-store'
import { encryptedClient } from './support/encrypted-client'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, type TestDatabase } from './support/test-database'

/**
 * One stored format for both adapters: the Prisma test table `users` (prisma/schema.prisma) and a
 * TypeORM entity mapped onto it. With DATABASE_URL, both ORMs share the very table (the Prisma
 * test schema). By default Prisma runs on PGlite and TypeORM on sql.js: rows are carried between
 * them byte for byte, which is the same claim (a stored value written by one reads in the other).
 */
@Entity({ name: 'users' })
class CrossUser {
  @PrimaryGeneratedColumn() id!: number
  @Encrypted() @Column('text') email!: string
  @BlindIndex('email', { normalize: ['lowercase', 'trim'] })
  @Column('text', { name: 'email_index', nullable: true, unique: true })
  emailIndex?: string | null
  @Encrypted() @Column('text', { nullable: true }) phone?: string | null
  @Column('text', { nullable: true }) name?: string | null
}

const keys = testLocalKeys()
const shared = Boolean(process.env.DATABASE_URL && /^postgres(ql)?:/.test(process.env.DATABASE_URL))
let db: TestDatabase
let prisma: ReturnType<typeof encryptedClient>['prisma']
let ds: DataSource

/** Raw SQL on the TypeORM side. */
async function typeormSql(query: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  return ds.query(shared ? query : query.replace(/\$\d+/g, '?'), params)
}

beforeAll(async () => {
  db = await createTestDatabase()
  prisma = encryptedClient(db, { keys }).prisma
  ds = shared
    ? new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, schema: db.schema, entities: [CrossUser], synchronize: false })
    : new DataSource({ type: 'sqljs', entities: [CrossUser], synchronize: true })
  await ds.initialize()
  await encryptDataSource(ds, { keys })
})
afterAll(async () => {
  await ds.destroy()
  await db.close()
})

const COLUMNS = ['id', 'email', 'email_index', 'phone', 'name']

/** Copies a row's stored values from one database to the other (no-op when they share the table). */
async function carry(id: number, from: 'prisma' | 'typeorm'): Promise<void> {
  if (shared) return
  const read = from === 'prisma' ? db.sql.bind(db) : typeormSql
  const write = from === 'prisma' ? typeormSql : db.sql.bind(db)
  const [row] = await read(`SELECT ${COLUMNS.join(', ')} FROM users WHERE id = $1`, [id])
  await write(
    `INSERT INTO users (${COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5)`,
    COLUMNS.map((c) => row![c]),
  )
}

test('a row written through Prisma reads through TypeORM, and its blind index finds it', async () => {
  const written = await prisma.user.create({ data: { email: 'Cross.Prisma@Example.com', phone: '+1 555 0100', name: 'from prisma' } })
  await carry(written.id, 'prisma')
  const repo = ds.getRepository(CrossUser)
  const read = await repo.findOneBy({ email: 'cross.prisma@example.com' })
  expect(read).toMatchObject({ id: written.id, email: 'Cross.Prisma@Example.com', phone: '+1 555 0100', name: 'from prisma' })
})

test('a row written through TypeORM reads through Prisma, and its blind index finds it', async () => {
  const repo = ds.getRepository(CrossUser)
  const id = shared ? undefined : 100_000 + Math.floor(Math.random() * 1000)
  const written = await repo.save(repo.create({ id, email: ' Cross.TypeORM@Example.com', phone: '+1 555 0199', name: 'from typeorm' }))
  await carry(written.id, 'typeorm')
  const read = await prisma.user.findFirst({ where: { email: 'cross.typeorm@example.com' } })
  expect(read).toMatchObject({ id: written.id, email: ' Cross.TypeORM@Example.com', phone: '+1 555 0199', name: 'from typeorm' })
  const [stored] = await db.sql<{ email: string }>('SELECT email FROM users WHERE id = $1', [written.id])
  expect(stored!.email).toMatch(/^\$kfe\$/)
})

test('an update through one ORM is read by the other', async () => {
  const created = await prisma.user.create({ data: { email: 'both@example.com' } })
  await carry(created.id, 'prisma')
  const repo = ds.getRepository(CrossUser)
  const loaded = (await repo.findOneBy({ id: created.id }))!
  loaded.phone = 'changed by typeorm'
  await repo.save(loaded)
  if (!shared) {
    const [row] = await typeormSql('SELECT phone FROM users WHERE id = $1', [created.id])
    await db.sql('UPDATE users SET phone = $1 WHERE id = $2', [row!.phone, created.id])
  }
  expect((await prisma.user.findUnique({ where: { id: created.id } }))?.phone).toBe('changed by typeorm')
})

describe('a tenant’s rows across the ORMs: fieldEncryption({ scope }) and encryptDataSource({ scope })', () => {
  // One encryptor with scope keys on both sides (the key table is the application's; here in memory).
  const scoped = new EnvelopeEncryptor({ keys, scopeKeys: localScopeKeys({ master: keys, store: new MemoryScopeKeyStore() }) })
  let tenantPrisma: ReturnType<typeof encryptedClient>['prisma']
  let tenantDs: DataSource

  beforeAll(async () => {
    tenantPrisma = encryptedClient(db, { encryptor: scoped, scope: 'T1' }).prisma
    tenantDs = shared
      ? new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, schema: db.schema, entities: [CrossUser], synchronize: false })
      : new DataSource({ type: 'sqljs', entities: [CrossUser], synchronize: true })
    await tenantDs.initialize()
    await encryptDataSource(tenantDs, { encryptor: scoped, scope: 'T1' })
  })
  afterAll(() => tenantDs.destroy())

  /** Copies a Prisma row into the tenant DataSource's database (no-op when they share the table). */
  async function carryToTenant(id: number): Promise<void> {
    if (shared) return
    const [row] = await db.sql(`SELECT ${COLUMNS.join(', ')} FROM users WHERE id = $1`, [id])
    await tenantDs.query(
      `INSERT INTO users (${COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?)`,
      COLUMNS.map((c) => row![c]),
    )
  }

  test('a scoped row written through Prisma reads through a TypeORM DataSource of the same scope, found by its blind index', async () => {
    const written = await tenantPrisma.user.create({ data: { email: 'Tenant.Prisma@Example.com', phone: '+1 555 0111', name: 'tenant' } })
    await carryToTenant(written.id)
    const repo = tenantDs.getRepository(CrossUser)
    expect(await repo.findOneBy({ email: 'tenant.prisma@example.com' })).toMatchObject({
      id: written.id,
      email: 'Tenant.Prisma@Example.com',
      phone: '+1 555 0111',
    })
    // The unscoped DataSource neither finds it by email (another index) nor reads it.
    await carry(written.id, 'prisma')
    expect(await ds.getRepository(CrossUser).findOneBy({ email: 'tenant.prisma@example.com' })).toBeNull()
    await expect(ds.getRepository(CrossUser).findOneBy({ id: written.id })).rejects.toBeInstanceOf(UnknownKeyProviderError)
  })

  test('a scoped row written through TypeORM reads through Prisma of the same scope; another scope gets a typed error', async () => {
    const repo = tenantDs.getRepository(CrossUser)
    const id = shared ? undefined : 200_000 + Math.floor(Math.random() * 1000)
    const written = await repo.save(repo.create({ id, email: 'Tenant.TypeORM@Example.com', phone: '+1 555 0122' }))
    if (!shared) {
      const [row] = await tenantDs.query(`SELECT ${COLUMNS.join(', ')} FROM users WHERE id = ?`, [written.id])
      await db.sql(
        `INSERT INTO users (${COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5)`,
        COLUMNS.map((c) => row![c]),
      )
    }
    expect(await tenantPrisma.user.findFirst({ where: { email: 'tenant.typeorm@example.com' } })).toMatchObject({
      id: written.id,
      email: 'Tenant.TypeORM@Example.com',
      phone: '+1 555 0122',
    })
    const otherTenant = encryptedClient(db, { encryptor: scoped, scope: 'T2' }).prisma
    await expect(otherTenant.user.findUnique({ where: { id: written.id } })).rejects.toBeInstanceOf(DecryptionFailedError)
  })
})
