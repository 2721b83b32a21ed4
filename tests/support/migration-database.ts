import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { PrismaPg } from '@prisma/adapter-pg'
import Database from 'better-sqlite3'
import * as mariadb from 'mariadb'
import { Pool } from 'pg'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { applyMigrations } from '../../prisma/apply-migrations'
import { PrismaClient } from '../../prisma/generated/client/client'
import { encryptionModel as postgresModel } from '../../prisma/generated/encryption'
import { PrismaClient as MysqlPrismaClient } from '../../prisma/generated/mysql/client/client'
import { encryptionModel as mysqlModel } from '../../prisma/generated/mysql/encryption'
import { PrismaClient as SqlitePrismaClient } from '../../prisma/generated/sqlite/client/client'
import { encryptionModel as sqliteModel } from '../../prisma/generated/sqlite/encryption'
import { betterSqliteDatabase, mariadbPoolDatabase, pgliteDatabase, pgPoolDatabase } from '../../src/migration/open-database'
import type { BetterSqliteLike } from '../../src/migration/sqlite-database'
import type { SqlDatabase } from '../../src/migration/sql-database'
import { PgliteTcpServer } from './migration-pglite-server'
import { mysqlConfig } from './test-database'
import { testDatabaseKind, type TestDatabaseKind } from './test-database-kind'

const GENERATED = resolve(__dirname, '../../prisma/generated')

/**
 * A fresh, migrated database for a migration test: an in-process PGlite by default, or a
 * private schema on the server named by DATABASE_URL. Besides raw SQL and a Prisma client, it
 * gives the migration's own `SqlDatabase` and a URL other processes can connect to (for PGlite,
 * served over TCP on 127.0.0.1 by `PgliteTcpServer`).
 */
export interface MigrationTestDatabase {
  kind: TestDatabaseKind
  /** The generated encryption model of this database's schema (no User.tags off PostgreSQL). */
  encryptionModel: typeof postgresModel
  /** The module path of that model, for the CLI's --encryption-model. */
  encryptionModelModule: string
  /** For the migration functions, in this process. */
  database: SqlDatabase
  /** A plain Prisma client (no extension). */
  prisma: PrismaClient
  /** A postgresql:// URL for child processes and `pg` clients (starts the TCP server for PGlite). */
  url(): Promise<string>
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>
  /** md5 of every row of a table in key order: equal before and after means nothing changed. */
  checksum(table: string, orderBy: string): Promise<string>
  close(): Promise<void>
}

export async function createMigrationDatabase(): Promise<MigrationTestDatabase> {
  const url = process.env.DATABASE_URL
  switch (testDatabaseKind()) {
    case 'pglite':
      return inProcess()
    case 'postgres':
      return onServer(url!)
    case 'mysql':
      return onMysql(url!)
    case 'sqlite':
      return onSqlite(url!)
  }
}

const POSTGRES_MODEL = { encryptionModel: postgresModel, encryptionModelModule: join(GENERATED, 'encryption') }

async function inProcess(): Promise<MigrationTestDatabase> {
  const db = new PGlite()
  await applyMigrations((sql) => db.exec(sql))
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) })
  let server: PgliteTcpServer | undefined
  let served: Promise<string> | undefined
  const sql = async <T>(query: string, params?: unknown[]): Promise<T[]> => (await db.query(query, params as never[])).rows as T[]
  return {
    kind: 'pglite',
    ...POSTGRES_MODEL,
    database: pgliteDatabase(db),
    prisma,
    url() {
      server ??= new PgliteTcpServer(db)
      return (served ??= server.start())
    },
    sql,
    checksum: (table, orderBy) => checksum(sql, table, orderBy),
    async close() {
      await prisma.$disconnect()
      await server?.stop()
      await db.close()
    },
  }
}

async function onServer(url: string): Promise<MigrationTestDatabase> {
  const schema = `kfe_migration_${randomBytes(6).toString('hex')}`
  const admin = new Pool({ connectionString: url, max: 1 })
  await admin.query(`CREATE SCHEMA "${schema}"`)
  const pool = new Pool({ connectionString: url, max: 4, options: `-c search_path="${schema}"` })
  await applyMigrations((sql) => pool.query(sql))
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, max: 4 }, { schema }) })
  const sql = async <T>(query: string, params?: unknown[]): Promise<T[]> => (await pool.query(query, params)).rows as T[]
  const withSchema = new URL(url)
  withSchema.searchParams.set('schema', schema)
  return {
    kind: 'postgres',
    ...POSTGRES_MODEL,
    database: pgPoolDatabase(pool, { description: `PostgreSQL (schema ${schema})`, connections: 4 }),
    prisma,
    url: async () => withSchema.toString(),
    sql,
    checksum: (table, orderBy) => checksum(sql, table, orderBy),
    async close() {
      await prisma.$disconnect()
      await pool.end()
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
      await admin.end()
    },
  }
}

async function onMysql(url: string): Promise<MigrationTestDatabase> {
  const name = `kfe_migration_${randomBytes(6).toString('hex')}`
  const config = mysqlConfig(url)
  const admin = await mariadb.createConnection({ ...config, database: undefined })
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  const pool = mariadb.createPool({
    ...config,
    database: name,
    connectionLimit: 4,
    multipleStatements: true,
    initSql: "SET SESSION sql_mode = 'ANSI,STRICT_ALL_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
  })
  await applyMigrations((q) => pool.query(q), 'mysql')
  const migrationPool = mariadb.createPool({ ...config, database: name, connectionLimit: 4 })
  const prisma = new MysqlPrismaClient({
    adapter: new PrismaMariaDb({ ...config, database: name, connectionLimit: 4 }),
  }) as unknown as PrismaClient
  const sql = async <T>(query: string, params?: unknown[]): Promise<T[]> => {
    const [text, values] = positional(query, params)
    const result = await pool.query({ sql: text, bigIntAsNumber: true }, values)
    return (Array.isArray(result) ? result : []) as T[]
  }
  const serverUrl = new URL(url)
  serverUrl.pathname = `/${name}`
  return {
    kind: 'mysql',
    encryptionModel: mysqlModel as unknown as typeof postgresModel,
    encryptionModelModule: join(GENERATED, 'mysql', 'encryption'),
    database: mariadbPoolDatabase(migrationPool, { description: `MySQL (database ${name})`, connections: 4 }),
    prisma,
    url: async () => serverUrl.toString(),
    sql,
    checksum: (table, orderBy) => rowsChecksum(sql, table, orderBy),
    async close() {
      await prisma.$disconnect()
      await migrationPool.end()
      await pool.end()
      await admin.query(`DROP DATABASE \`${name}\``)
      await admin.end()
    },
  }
}

async function onSqlite(url: string): Promise<MigrationTestDatabase> {
  const named = resolve(url.replace(/^file:/, '').replace(/\?.*$/, ''))
  const file = join(dirname(named), `kfe_migration_${randomBytes(6).toString('hex')}.db`)
  mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file, { timeout: 10_000 })
  db.pragma('journal_mode = WAL')
  await applyMigrations(async (q) => db.exec(q), 'sqlite')
  const prisma = new SqlitePrismaClient({
    adapter: new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 10_000 }),
  }) as unknown as PrismaClient
  const sql = async <T>(query: string, params?: unknown[]): Promise<T[]> => {
    const [text, values] = positional(query, params)
    const statement = db.prepare(text)
    if (statement.reader) return statement.all(...values) as T[]
    statement.run(...values)
    return []
  }
  return {
    kind: 'sqlite',
    encryptionModel: sqliteModel as unknown as typeof postgresModel,
    encryptionModelModule: join(GENERATED, 'sqlite', 'encryption'),
    database: betterSqliteDatabase(db as unknown as BetterSqliteLike, { description: `SQLite at ${file}` }),
    prisma,
    url: async () => `file:${file}`,
    sql,
    checksum: (table, orderBy) => rowsChecksum(sql, table, orderBy),
    async close() {
      await prisma.$disconnect()
      db.close()
      for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true })
    },
  }
}

/** `$1` placeholders to `?` (the tests write PostgreSQL's notation). */
function positional(query: string, params: unknown[] = []): [string, unknown[]] {
  const values: unknown[] = []
  const text = query.replace(/\$(\d+)/g, (_, n: string) => {
    values.push(params[Number(n) - 1])
    return '?'
  })
  return [text, values]
}

/** md5 of every row in key order, computed here (MySQL and SQLite have no string_agg/md5 alike). */
async function rowsChecksum(sql: MigrationTestDatabase['sql'], table: string, orderBy: string): Promise<string> {
  const rows = await sql(`SELECT * FROM "${table}" ORDER BY ${orderBy}`)
  const hash = createHash('md5')
  for (const row of rows) {
    hash.update(JSON.stringify(Object.values(row), (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
    hash.update('|')
  }
  return `${rows.length}:${rows.length === 0 ? '' : hash.digest('hex')}`
}

async function checksum(sql: MigrationTestDatabase['sql'], table: string, orderBy: string): Promise<string> {
  const rows = await sql<{ md5: string | null; n: string }>(
    `SELECT md5(string_agg(t::text, '|' ORDER BY ${orderBy})) AS md5, count(*)::text AS n FROM "${table}" t`,
  )
  return `${rows[0]!.n}:${rows[0]!.md5 ?? ''}`
}

/** Empties every table the migrations created. */
export async function emptyTables(db: MigrationTestDatabase): Promise<void> {
  const tables = ['users', 'profiles', 'posts', 'Category', 'comments', 'contacts', 'audit_log', '_CategoryToPost', 'tenant_notes']
  if (db.kind === 'mysql') {
    await db.sql(`SET FOREIGN_KEY_CHECKS = 0; ${tables.map((t) => `TRUNCATE TABLE "${t}";`).join(' ')} SET FOREIGN_KEY_CHECKS = 1;`)
  } else if (db.kind === 'sqlite') {
    for (const t of ['tenant_notes', '_CategoryToPost', 'contacts', 'comments', 'posts', 'profiles', 'Category', 'audit_log', 'users'])
      await db.sql(`DELETE FROM "${t}"`)
    await db.sql('DELETE FROM sqlite_sequence')
  } else {
    await db.sql(`TRUNCATE ${tables.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY CASCADE`)
  }
}
