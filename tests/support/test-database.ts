import { randomBytes } from 'node:crypto'
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
import { PrismaClient as MysqlPrismaClient } from '../../prisma/generated/mysql/client/client'
import { PrismaClient as SqlitePrismaClient } from '../../prisma/generated/sqlite/client/client'
import { testDatabaseKind, type TestDatabaseKind } from './test-database-kind'

export { testDatabaseKind, supportsScalarLists, supportsManyAndReturn, type TestDatabaseKind } from './test-database-kind'

export interface TestDatabase {
  kind: TestDatabaseKind
  /**
   * A plain Prisma client (no extension) on this database. Typed as the PostgreSQL client: the
   * MySQL and SQLite clients have the same models without User.tags (String[] is PostgreSQL-only).
   */
  prisma: PrismaClient
  /**
   * Raw SQL straight to the database, bypassing Prisma: what the table really holds. Written in
   * PostgreSQL's dialect: `$1` placeholders become `?` on MySQL and SQLite, and MySQL sessions run
   * in ANSI mode (double-quoted identifiers, `||` concatenates).
   */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>
  /** The schema (PostgreSQL) or database (MySQL) or file (SQLite) holding the tables. */
  schema: string
  /** The tables the migrations created (Prisma's join tables included), by name. */
  tables(): Promise<string[]>
  /** Empties every table and restarts the id sequences. */
  empty(): Promise<void>
  close(): Promise<void>
}

export interface TestDatabaseOptions {
  /** Wraps the Prisma driver adapter factory (e.g. to record every statement sent). */
  wrapAdapter?: <F extends object>(factory: F) => F
}

/**
 * A fresh, migrated database for one test file, chosen by DATABASE_URL: an in-process PGlite when
 * unset, a private schema on a PostgreSQL server (`postgres://`, `postgresql://`), a private
 * database on a MySQL/MariaDB server (`mysql://`, through @prisma/adapter-mariadb) or a private
 * SQLite file beside the named one (`file:`, through @prisma/adapter-better-sqlite3).
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL
  const wrap = options.wrapAdapter ?? (<F extends object>(factory: F) => factory)
  switch (testDatabaseKind()) {
    case 'pglite':
      return inProcess(wrap)
    case 'postgres':
      return onPostgres(url!, wrap)
    case 'mysql':
      return onMysql(url!, wrap)
    case 'sqlite':
      return onSqlite(url!, wrap)
  }
}

type AdapterWrapper = NonNullable<TestDatabaseOptions['wrapAdapter']>

async function inProcess(wrap: AdapterWrapper): Promise<TestDatabase> {
  const db = new PGlite()
  await applyMigrations((sql) => db.exec(sql))
  const prisma = new PrismaClient({ adapter: wrap(new PrismaPGlite(db)) })
  const sql: TestDatabase['sql'] = async (query, params) => (await db.query(query, params as never[])).rows as never
  return {
    kind: 'pglite',
    prisma,
    schema: 'public',
    sql,
    tables: () => postgresTables(sql),
    empty: async () => postgresEmpty(sql),
    async close() {
      await prisma.$disconnect()
      await db.close()
    },
  }
}

async function onPostgres(url: string, wrap: AdapterWrapper): Promise<TestDatabase> {
  const schema = `kfe_test_${randomBytes(6).toString('hex')}`
  const admin = new Pool({ connectionString: url, max: 1 })
  await admin.query(`CREATE SCHEMA "${schema}"`)
  const pool = new Pool({ connectionString: url, max: 4, options: `-c search_path="${schema}"` })
  await applyMigrations((sql) => pool.query(sql))
  const prisma = new PrismaClient({ adapter: wrap(new PrismaPg({ connectionString: url, max: 4 }, { schema })) })
  const sql: TestDatabase['sql'] = async (query, params) => (await pool.query(query, params as unknown[])).rows
  return {
    kind: 'postgres',
    prisma,
    schema,
    sql,
    tables: () => postgresTables(sql),
    empty: async () => postgresEmpty(sql),
    async close() {
      await prisma.$disconnect()
      await pool.end()
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
      await admin.end()
    },
  }
}

/** The connection settings of a mysql:// URL (user, password, host, port, database). */
export function mysqlConfig(url: string): mariadb.ConnectionConfig {
  const u = new URL(url)
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username) || 'root',
    password: decodeURIComponent(u.password) || undefined,
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || undefined,
    connectTimeout: 10_000,
  }
}

async function onMysql(url: string, wrap: AdapterWrapper): Promise<TestDatabase> {
  const database = `kfe_test_${randomBytes(6).toString('hex')}`
  const config = mysqlConfig(url)
  const admin = await mariadb.createConnection({ ...config, database: undefined })
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  const pool = mariadb.createPool({
    ...config,
    database,
    connectionLimit: 2,
    multipleStatements: true,
    // Strict, as the README requires; ANSI so the tests' raw SQL reads as on PostgreSQL.
    initSql: "SET SESSION sql_mode = 'ANSI,STRICT_ALL_TABLES,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO'",
  })
  await applyMigrations((sql) => pool.query(sql), 'mysql')
  const adapter = new PrismaMariaDb({ ...config, database, connectionLimit: 4 })
  const prisma = new MysqlPrismaClient({ adapter: wrap(adapter) }) as unknown as PrismaClient
  const sql: TestDatabase['sql'] = async (query, params) => {
    const [text, values] = positional(query, params)
    const result = await pool.query({ sql: text, bigIntAsNumber: true }, values)
    return Array.isArray(result) ? (result as never) : []
  }
  const tables = async () =>
    (
      await sql<{ t: string }>(
        "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
      )
    ).map((r) => r.t)
  return {
    kind: 'mysql',
    prisma,
    schema: database,
    sql,
    tables,
    async empty() {
      // One statement string, so one connection: foreign-key checks off for these TRUNCATEs only.
      const truncates = (await tables()).map((t) => `TRUNCATE TABLE \`${t}\`;`).join(' ')
      await pool.query(`SET FOREIGN_KEY_CHECKS = 0; ${truncates} SET FOREIGN_KEY_CHECKS = 1;`)
    },
    async close() {
      await prisma.$disconnect()
      await pool.end()
      await admin.query(`DROP DATABASE \`${database}\``)
      await admin.end()
    },
  }
}

async function onSqlite(url: string, wrap: AdapterWrapper): Promise<TestDatabase> {
  const named = resolve(url.replace(/^file:/, '').replace(/\?.*$/, ''))
  const file = join(dirname(named), `kfe_test_${randomBytes(6).toString('hex')}.db`)
  mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file, { timeout: 5000 })
  db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  await applyMigrations(async (sql) => db.exec(sql), 'sqlite')
  const prisma = new SqlitePrismaClient({ adapter: wrap(new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 5000 })) })
  const sql: TestDatabase['sql'] = async (query, params) => {
    const [text, values] = positional(query, params)
    const statement = db.prepare(text)
    const bound = values.map((v) => (typeof v === 'boolean' ? Number(v) : v instanceof Uint8Array ? Buffer.from(v) : v))
    if (statement.reader) return statement.all(...bound) as never
    statement.run(...bound)
    return []
  }
  const tables = async () =>
    (await sql<{ t: string }>("SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")).map(
      (r) => r.t,
    )
  return {
    kind: 'sqlite',
    prisma: prisma as unknown as PrismaClient,
    schema: file,
    sql,
    tables,
    async empty() {
      db.pragma('foreign_keys = OFF')
      try {
        db.transaction(() => {
          for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all()) {
            db.exec(`DELETE FROM "${t as string}"`)
          }
          db.exec('DELETE FROM sqlite_sequence')
        })()
      } finally {
        db.pragma('foreign_keys = ON')
      }
    },
    async close() {
      await prisma.$disconnect()
      db.close()
      for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true })
    },
  }
}

async function postgresTables(sql: TestDatabase['sql']): Promise<string[]> {
  const rows = await sql<{ t: string }>(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
  )
  return rows.map((r) => r.t)
}

async function postgresEmpty(sql: TestDatabase['sql']): Promise<void> {
  const tables = await postgresTables(sql)
  await sql(`TRUNCATE ${tables.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY CASCADE`)
}

/** `$1`-style placeholders to `?`, with the parameters in the order they appear (repeats repeated). */
function positional(query: string, params: unknown[] = []): [string, unknown[]] {
  const values: unknown[] = []
  const text = query.replace(/\$(\d+)/g, (_, n: string) => {
    values.push(params[Number(n) - 1])
    return '?'
  })
  return [text, values]
}
