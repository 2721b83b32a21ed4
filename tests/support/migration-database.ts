import { randomBytes } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPg } from '@prisma/adapter-pg'
import { Pool } from 'pg'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { applyMigrations } from '../../prisma/apply-migrations'
import { PrismaClient } from '../../prisma/generated/client/client'
import { pgliteDatabase, pgPoolDatabase } from '../../src/migration/open-database'
import type { SqlDatabase } from '../../src/migration/sql-database'
import { PgliteTcpServer } from './migration-pglite-server'

/**
 * A fresh, migrated database for a migration test: an in-process PGlite by default, or a
 * private schema on the server named by DATABASE_URL. Besides raw SQL and a Prisma client, it
 * gives the migration's own `SqlDatabase` and a URL other processes can connect to (for PGlite,
 * served over TCP on 127.0.0.1 by `PgliteTcpServer`).
 */
export interface MigrationTestDatabase {
  kind: 'pglite' | 'postgres'
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
  return url ? onServer(url) : inProcess()
}

async function inProcess(): Promise<MigrationTestDatabase> {
  const db = new PGlite()
  await applyMigrations((sql) => db.exec(sql))
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) })
  let server: PgliteTcpServer | undefined
  let served: Promise<string> | undefined
  const sql = async <T,>(query: string, params?: unknown[]): Promise<T[]> => (await db.query(query, params as never[])).rows as T[]
  return {
    kind: 'pglite',
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
  const sql = async <T,>(query: string, params?: unknown[]): Promise<T[]> => (await pool.query(query, params)).rows as T[]
  const withSchema = new URL(url)
  withSchema.searchParams.set('schema', schema)
  return {
    kind: 'postgres',
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

async function checksum(sql: MigrationTestDatabase['sql'], table: string, orderBy: string): Promise<string> {
  const rows = await sql<{ md5: string | null; n: string }>(`SELECT md5(string_agg(t::text, '|' ORDER BY ${orderBy})) AS md5, count(*)::text AS n FROM "${table}" t`)
  return `${rows[0]!.n}:${rows[0]!.md5 ?? ''}`
}

/** Empties every table the migrations created. */
export async function emptyTables(db: MigrationTestDatabase): Promise<void> {
  await db.sql('TRUNCATE users, profiles, posts, "Category", comments, contacts, audit_log, "_CategoryToPost" RESTART IDENTITY CASCADE')
}
