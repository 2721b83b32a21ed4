import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'pg'
import { Column, DataSource, Entity, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { ConfigurationError, DecryptionFailedError, ScopeKeyShreddedError } from '../src/errors'
import { localScopeKeys, type LocalScopeKeys } from '../src/keys/local-scope-keys'
import { BlindIndex, Encrypted, blindIndexValues, encryptDataSource, typeOrmScopeKeyStore } from '../src/typeorm'
import { testLocalKeys } from './support/keys'

/**
 * Per-tenant keys through TypeORM: one DataSource per tenant (`encryptDataSource({ scope })`) on
 * one table, sharing one encryptor whose `localScopeKeys` keep the tenants' keys in the key table
 * `kfe_scope_keys` of the same database (`typeOrmScopeKeyStore`). Two DataSources need one
 * database: a better-sqlite3 file by default, a private schema (PostgreSQL) or database (MySQL)
 * on the server named by DATABASE_URL. Runs on TypeORM 1.x and 0.3 (two Jest projects).
 */
@Entity({ name: 'tenant_users' })
class TenantUser {
  @PrimaryGeneratedColumn() id!: number
  @Encrypted() @Column('text') email!: string
  @BlindIndex('email', { normalize: ['lowercase', 'trim'] })
  @Column('text', { name: 'email_index', nullable: true })
  emailIndex?: string | null
  @Encrypted() @Column('text', { nullable: true }) phone?: string | null
}

const url = process.env.DATABASE_URL
const postgres = Boolean(url && /^postgres(ql)?:/.test(url))
const mysql = Boolean(url && /^mysql:/.test(url))
const master = testLocalKeys()
let options: DataSourceOptions
let cleanup: () => Promise<void>
let plain: DataSource
let dsA: DataSource
let dsB: DataSource
let scopeKeys: LocalScopeKeys
let encryptor: EnvelopeEncryptor

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

/** Raw SQL beside the adapter (`$n` placeholders, rewritten for SQLite). */
function sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
  return plain.query(postgres ? query : query.replace(/\$\d+/g, '?'), params)
}

async function open(): Promise<DataSource> {
  const ds = new DataSource({ ...options, synchronize: false })
  return ds.initialize()
}

beforeAll(async () => {
  if (postgres) {
    const schema = `kfe_tenant_${randomBytes(6).toString('hex')}`
    const admin = new Pool({ connectionString: url, max: 1 })
    await admin.query(`CREATE SCHEMA "${schema}"`)
    cleanup = async () => {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
      await admin.end()
    }
    options = { type: 'postgres', url, schema, entities: [TenantUser], extra: { options: `-c search_path="${schema}"` } }
  } else if (mysql) {
    const database = `kfe_tenant_${randomBytes(6).toString('hex')}`
    const admin = await new DataSource({ type: 'mysql', url }).initialize()
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
    cleanup = async () => {
      await admin.query(`DROP DATABASE \`${database}\``)
      await admin.destroy()
    }
    const at = new URL(url!)
    at.pathname = `/${database}`
    options = { type: 'mysql', url: at.toString(), entities: [TenantUser] }
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'kfe-tenant-typeorm-'))
    cleanup = async () => rmSync(dir, { recursive: true, force: true })
    options = { type: 'better-sqlite3', database: join(dir, 'test.db'), entities: [TenantUser] }
  }
  plain = await new DataSource({ ...options, synchronize: true }).initialize()
  await plain.query(
    postgres
      ? `CREATE TABLE kfe_scope_keys (scope TEXT NOT NULL PRIMARY KEY, provider_id TEXT NOT NULL, wrapped_key TEXT,
         shredded_at TIMESTAMP(3), created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`
      : mysql
        ? `CREATE TABLE kfe_scope_keys (scope VARCHAR(255) NOT NULL PRIMARY KEY, provider_id VARCHAR(255) NOT NULL, wrapped_key TEXT NULL,
         shredded_at DATETIME(3) NULL, created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`
        : `CREATE TABLE kfe_scope_keys (scope TEXT NOT NULL PRIMARY KEY, provider_id TEXT NOT NULL, wrapped_key TEXT,
         shredded_at DATETIME, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
  )
  scopeKeys = localScopeKeys({ master, store: typeOrmScopeKeyStore(plain) })
  encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
  dsA = await encryptDataSource(await open(), { encryptor, scope: 'A' })
  dsB = await encryptDataSource(await open(), { encryptor, scope: 'B' })
})

afterAll(async () => {
  for (const ds of [dsA, dsB, plain]) if (ds?.isInitialized) await ds.destroy()
  await cleanup?.()
})

test('the file runs on the TypeORM line its Jest project names', () => {
  const line = (globalThis as { KFE_TYPEORM_LINE?: string }).KFE_TYPEORM_LINE
  const resolved = require.resolve('typeorm')
  expect(plain.options.type).toBe(postgres ? 'postgres' : mysql ? 'mysql' : 'better-sqlite3')
  if (line === '0.3') expect(resolved).toMatch(/node_modules[\\/]typeorm-0\.3[\\/]/)
  else expect(resolved).toMatch(/node_modules[\\/]typeorm[\\/]/)
})

describe('two tenants on one table', () => {
  let aliceA: number
  let aliceB: number

  test('the same email in both tenants: unrelated blind indexes, each tenant finds its own row', async () => {
    const a = dsA.getRepository(TenantUser)
    const b = dsB.getRepository(TenantUser)
    aliceA = (await a.save(a.create({ email: 'alice@x.io', phone: 'A phone' }))).id
    aliceB = (await b.save(b.create({ email: 'Alice@x.io', phone: 'B phone' }))).id
    const rows = await sql<{ id: number; email: string; email_index: string; phone: string }>(
      'SELECT id, email, email_index, phone FROM tenant_users WHERE id IN ($1, $2) ORDER BY id',
      [aliceA, aliceB],
    )
    expect(rows).toHaveLength(2)
    expect(rows[0]!.email_index).not.toBe(rows[1]!.email_index)
    for (const r of rows) {
      expect(r.email).toMatch(/^\$kfe\$/)
      expect(r.phone).toMatch(/^\$kfe\$/)
    }
    expect((await a.findBy({ email: 'ALICE@x.io' })).map((u) => u.id)).toEqual([aliceA])
    expect((await b.findBy({ email: ' alice@x.io' })).map((u) => u.id)).toEqual([aliceB])
    expect(await a.findOneBy({ id: aliceA })).toMatchObject({ email: 'alice@x.io', phone: 'A phone' })
    // A QueryBuilder condition with the tenant's own index values.
    const viaBuilder = await dsB
      .getRepository(TenantUser)
      .createQueryBuilder('u')
      .where('u.emailIndex IN (:...email)', { email: blindIndexValues(dsB, TenantUser, 'email', 'alice@x.io') })
      .getMany()
    expect(viaBuilder.map((u) => u.id)).toEqual([aliceB])
    expect(blindIndexValues(dsA, TenantUser, 'email', 'alice@x.io')).toEqual([rows[0]!.email_index])
    // The key table holds one live row per tenant.
    const keys = await sql<{ scope: string; wrapped_key: string | null }>('SELECT scope, wrapped_key FROM kfe_scope_keys ORDER BY scope')
    expect(keys.map((k) => k.scope)).toEqual(['A', 'B'])
    expect(keys.every((k) => typeof k.wrapped_key === 'string' && k.wrapped_key.length > 0)).toBe(true)
  })

  test('a row written by A and read by B fails with a typed error naming entity and field, never plaintext', async () => {
    const err = await rejection(dsB.getRepository(TenantUser).findOneBy({ id: aliceA }))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect(err).toMatchObject({ model: 'TenantUser', field: expect.stringMatching(/^(email|phone)$/) })
    expect(String((err as Error).message)).not.toContain('alice')
    // A's ciphertext copied into B's row fails too; B writing its own value again repairs it.
    const [row] = await sql<{ email: string }>('SELECT email FROM tenant_users WHERE id = $1', [aliceA])
    await sql('UPDATE tenant_users SET email = $1 WHERE id = $2', [row!.email, aliceB])
    expect(await rejection(dsB.getRepository(TenantUser).findOneBy({ id: aliceB }))).toBeInstanceOf(DecryptionFailedError)
    await dsB.getRepository(TenantUser).update({ id: aliceB }, { email: 'Alice@x.io' })
    expect((await dsB.getRepository(TenantUser).findOneBy({ id: aliceB }))!.email).toBe('Alice@x.io')
  })

  test('shred A: A’s reads throw ScopeKeyShreddedError naming entity and field, A’s writes are refused, B reads fine', async () => {
    await scopeKeys.shred('A')
    encryptor.forgetScope('A')
    const err = await rejection(dsA.getRepository(TenantUser).findOneBy({ id: aliceA }))
    expect(err).toBeInstanceOf(ScopeKeyShreddedError)
    expect(err).toMatchObject({
      code: 'KFE_SCOPE_KEY_SHREDDED',
      model: 'TenantUser',
      field: expect.stringMatching(/^(email|phone)$/),
      scope: 'A',
    })
    const count = async () => Number((await sql<{ n: unknown }>('SELECT COUNT(*) AS n FROM tenant_users'))[0]!.n)
    const before = await count()
    const repoA = dsA.getRepository(TenantUser)
    expect(await rejection(repoA.save(repoA.create({ email: 'again@x.io' })))).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await count()).toBe(before)
    expect(await dsB.getRepository(TenantUser).findOneBy({ id: aliceB })).toMatchObject({ email: 'Alice@x.io', phone: 'B phone' })
    const [tomb] = await sql<{ wrapped_key: string | null; shredded_at: unknown }>(
      'SELECT wrapped_key, shredded_at FROM kfe_scope_keys WHERE scope = $1',
      ['A'],
    )
    expect(tomb!.wrapped_key).toBeNull()
    expect(tomb!.shredded_at).not.toBeNull()
    // Another process (a fresh encryptor over the same key table): still shredded.
    const other = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store: typeOrmScopeKeyStore(plain) }) })
    const otherA = await encryptDataSource(await open(), { encryptor: other, scope: 'A' })
    try {
      expect(await rejection(otherA.getRepository(TenantUser).findOneBy({ id: aliceA }))).toBeInstanceOf(ScopeKeyShreddedError)
    } finally {
      await otherA.destroy()
    }
  })
})

test('a scoped DataSource needs scopeKeys, and a well-formed scope; the DataSource is left as it was', async () => {
  const ds = await open()
  try {
    await expect(encryptDataSource(ds, { keys: testLocalKeys(), scope: 'A' })).rejects.toThrow(ConfigurationError)
    await expect(encryptDataSource(ds, { encryptor, scope: '' })).rejects.toThrow(ConfigurationError)
    await expect(encryptDataSource(ds, { encryptor, scope: 'a\u0000b' })).rejects.toThrow(ConfigurationError)
    await expect(encryptDataSource(ds, { encryptor, scope: 7 as unknown as string })).rejects.toThrow(ConfigurationError)
    // Refused before anything was hooked: it can still be set up.
    await encryptDataSource(ds, { encryptor, scope: 'C' })
    const repo = ds.getRepository(TenantUser)
    const saved = await repo.save(repo.create({ email: 'c@x.io' }))
    expect(await repo.findOneBy({ email: 'C@x.io' })).toMatchObject({ id: saved.id, email: 'c@x.io' })
  } finally {
    await ds.destroy()
  }
})

describe('typeOrmScopeKeyStore', () => {
  test('putIfAbsent inserts once; delete of a scope never seen leaves a tombstone', async () => {
    const store = typeOrmScopeKeyStore(plain)
    expect(await store.putIfAbsent('K', { providerId: 'local', wrappedKey: Buffer.from([1, 2, 3]) })).toBe(true)
    expect(await store.putIfAbsent('K', { providerId: 'local', wrappedKey: Buffer.from([9]) })).toBe(false)
    const got = await store.get('K')
    expect(got).toMatchObject({ providerId: 'local', wrappedKey: Buffer.from([1, 2, 3]), shreddedAt: null })
    expect(got!.createdAt).toBeInstanceOf(Date)
    expect(Math.abs(got!.createdAt!.getTime() - Date.now())).toBeLessThan(5 * 60_000)
    await store.delete('ghost')
    await store.delete('ghost') // idempotent
    const ghost = await store.get('ghost')
    expect(ghost).toMatchObject({ wrappedKey: null })
    expect(ghost!.shreddedAt).toBeInstanceOf(Date)
    expect(await store.putIfAbsent('ghost', { providerId: 'local', wrappedKey: Buffer.from([4]) })).toBe(false)
    expect(await store.get('nobody')).toBeUndefined()
  })

  test('two processes creating one tenant at once agree on its key', async () => {
    const one = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store: typeOrmScopeKeyStore(plain) }) })
    const two = new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store: typeOrmScopeKeyStore(plain) }) })
    const email = fieldContext('TenantUser', 'email', 'tenant_users', 'email')
    const [x, y] = await Promise.all([one.encrypt('x@x.io', email, 'D'), two.encrypt('y@x.io', email, 'D')])
    expect(await two.decrypt(x, email, 'D')).toBe('x@x.io')
    expect(await one.decrypt(y, email, 'D')).toBe('y@x.io')
  })

  test('refuses what it cannot serve', () => {
    expect(() => typeOrmScopeKeyStore({} as DataSource)).toThrow(ConfigurationError)
    expect(() => typeOrmScopeKeyStore(plain, { table: 'x; DROP TABLE y' })).toThrow(ConfigurationError)
  })
})
