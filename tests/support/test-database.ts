import { randomBytes } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { PrismaPg } from '@prisma/adapter-pg'
import { Pool } from 'pg'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { applyMigrations } from '../../prisma/apply-migrations'
import { PrismaClient } from '../../prisma/generated/client/client'

export interface TestDatabase {
  kind: 'pglite' | 'postgres'
  /** A plain Prisma client (no extension) on this database. */
  prisma: PrismaClient
  /** Raw SQL straight to the database, bypassing Prisma: what the table really holds. */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>
  /** The schema holding the tables (`public` on PGlite, a private one on the server). */
  schema: string
  close(): Promise<void>
}

export interface TestDatabaseOptions {
  /** Wraps the Prisma driver adapter factory (e.g. to record every statement sent). */
  wrapAdapter?: <F extends object>(factory: F) => F
}

/**
 * A fresh, migrated database for one test file: an in-process PGlite by default, or a private
 * schema on the server named by DATABASE_URL.
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL
  const wrap = options.wrapAdapter ?? (<F extends object>(factory: F) => factory)
  return url ? onServer(url, wrap) : inProcess(wrap)
}

type AdapterWrapper = NonNullable<TestDatabaseOptions['wrapAdapter']>

async function inProcess(wrap: AdapterWrapper): Promise<TestDatabase> {
  const db = new PGlite()
  await applyMigrations((sql) => db.exec(sql))
  const prisma = new PrismaClient({ adapter: wrap(new PrismaPGlite(db)) })
  return {
    kind: 'pglite',
    prisma,
    schema: 'public',
    async sql(query, params) {
      return (await db.query(query, params as never[])).rows as never
    },
    async close() {
      await prisma.$disconnect()
      await db.close()
    },
  }
}

async function onServer(url: string, wrap: AdapterWrapper): Promise<TestDatabase> {
  const schema = `kfe_test_${randomBytes(6).toString('hex')}`
  const admin = new Pool({ connectionString: url, max: 1 })
  await admin.query(`CREATE SCHEMA "${schema}"`)
  const pool = new Pool({ connectionString: url, max: 4, options: `-c search_path="${schema}"` })
  await applyMigrations((sql) => pool.query(sql))
  const prisma = new PrismaClient({ adapter: wrap(new PrismaPg({ connectionString: url, max: 4 }, { schema })) })
  return {
    kind: 'postgres',
    prisma,
    schema,
    async sql(query, params) {
      return (await pool.query(query, params as unknown[])).rows
    },
    async close() {
      await prisma.$disconnect()
      await pool.end()
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
      await admin.end()
    },
  }
}
