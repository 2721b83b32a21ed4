import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigurationError } from '../errors'
import { PostgresDatabase, quote, type PostgresDriver } from './postgres-database'
import type { SqlDatabase } from './sql-database'

/** What the migration uses of a PGlite instance (structural, so PGlite stays an optional dependency). */
export interface PgliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>
  close(): Promise<void>
}

/** What the migration uses of a `pg` Pool. */
export interface PgPoolLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>
  end(): Promise<void>
}

export interface OpenDatabaseOptions {
  /** Connections for a server (statements in flight at once). Default 4. */
  connections?: number
}

/**
 * Opens the database a URL names:
 *   postgresql://user@host:5432/db[?schema=name]   a PostgreSQL server, through `pg`
 *                                                 (`schema` sets the search_path, as in Prisma URLs)
 *   pglite:<data dir>                             an embedded PGlite database stored in that directory
 *   <data dir>                                    the same, for a directory that holds a PGlite database
 * `pg` and `@electric-sql/pglite` are loaded only when needed.
 */
export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<SqlDatabase> {
  const text = url.trim()
  if (/^postgres(ql)?:\/\//i.test(text)) return openPostgresServer(text, options.connections ?? 4)
  if (/^pglite:/i.test(text)) {
    const dir = text.slice('pglite:'.length).replace(/^\/\/(?=\/|\.)/, '')
    if (dir === '' ) throw new ConfigurationError('pglite: URL without a data directory (pglite:./path/to/dir)')
    return openPglite(dir === 'memory' ? undefined : resolve(dir))
  }
  if (isPgliteDir(text)) return openPglite(resolve(text))
  throw new ConfigurationError(
    `unsupported database URL ${redactUrl(text)}: use postgresql://... (a PostgreSQL server) or pglite:<data dir> (MySQL and SQLite are not supported yet)`,
  )
}

/** Wraps an open PGlite (an application's, or a test's). The caller keeps ownership unless `closeWithDatabase`. */
export function pgliteDatabase(db: PgliteLike, options: { description?: string; closeWithDatabase?: boolean } = {}): SqlDatabase {
  const driver: PostgresDriver = {
    async query(sql, params) {
      return (await db.query<Record<string, unknown>>(sql, params)).rows
    },
    async end() {
      if (options.closeWithDatabase) await db.close()
    },
  }
  return new PostgresDatabase(driver, options.description ?? 'PGlite', 1)
}

/** Wraps a `pg` pool you already have. The pool is ended when the database is closed only if `endPool`. */
export function pgPoolDatabase(pool: PgPoolLike, options: { description?: string; connections?: number; endPool?: boolean } = {}): SqlDatabase {
  const driver: PostgresDriver = {
    async query(sql, params) {
      return (await pool.query(sql, params)).rows as Array<Record<string, unknown>>
    },
    async end() {
      if (options.endPool) await pool.end()
    },
  }
  return new PostgresDatabase(driver, options.description ?? 'PostgreSQL', Math.max(1, options.connections ?? 4))
}

async function openPostgresServer(url: string, connections: number): Promise<SqlDatabase> {
  const { Pool } = loadOptional<typeof import('pg')>('pg', 'a postgresql:// URL')
  const parsed = new URL(url)
  const schema = parsed.searchParams.get('schema')
  const hasOptions = parsed.searchParams.has('options')
  const pool = new Pool({
    connectionString: url,
    max: connections,
    ...(schema && !hasOptions ? { options: `-c search_path=${quote(schema)}` } : {}),
  })
  pool.on('error', () => undefined) // an idle client's error surfaces on its next query instead
  const database = pgPoolDatabase(pool, { description: redactUrl(url), connections, endPool: true })
  try {
    await pool.query('SELECT 1')
  } catch (err) {
    await pool.end().catch(() => undefined)
    throw new ConfigurationError(`cannot connect to ${redactUrl(url)}: ${(err as Error).message}`)
  }
  return database
}

async function openPglite(dir: string | undefined): Promise<SqlDatabase> {
  const { PGlite } = loadOptional<typeof import('@electric-sql/pglite')>('@electric-sql/pglite', 'a pglite: URL')
  if (dir !== undefined && !isPgliteDir(dir)) {
    throw new ConfigurationError(`pglite:${dir}: not a PGlite data directory (no PG_VERSION file); the migration does not create databases`)
  }
  const db = new PGlite(dir)
  await db.waitReady
  return pgliteDatabase(db, { description: dir ? `PGlite at ${dir}` : 'PGlite (in memory)', closeWithDatabase: true })
}

function isPgliteDir(path: string): boolean {
  try {
    return statSync(path).isDirectory() && existsSync(join(path, 'PG_VERSION'))
  } catch {
    return false
  }
}

/** A URL with its password (and any secret-looking query parameter) replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, '***')
    return u.toString()
  } catch {
    return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
  }
}

function loadOptional<T>(name: string, purpose: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new ConfigurationError(`${purpose} needs the package '${name}': npm install ${name}`)
    }
    throw err
  }
}
