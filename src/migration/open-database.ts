import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigurationError } from '../errors'
import { positiveNumber } from '../option-checks'
import { MysqlDatabase, type MysqlDriver } from './mysql-database'
import { PostgresDatabase, quote, type PostgresDriver } from './postgres-database'
import type { SqlDatabase } from './sql-database'
import { SqliteDatabase, type BetterSqliteLike } from './sqlite-database'

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
  /**
   * How long to wait for a server to accept the connection and answer, in milliseconds: past it,
   * opening fails with a ConfigurationError (a server that accepts and never answers must not
   * hang the migration). Default: the URL's `connect_timeout` (seconds, as in Prisma URLs), else 10 s.
   */
  connectTimeoutMs?: number
  /** SQLite: how long a statement waits for another connection's write lock, in ms. Default 5 s. */
  busyTimeoutMs?: number
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/**
 * Opens the database a URL names:
 *   postgresql://user@host:5432/db[?schema=name]   a PostgreSQL server, through `pg`
 *                                                 (`schema` sets the search_path, as in Prisma URLs)
 *   mysql://user@host:3306/db                     a MySQL or MariaDB server, through `mariadb`
 *   file:./path/to/db.sqlite                      a SQLite database file, through `better-sqlite3`
 *   pglite:<data dir>                             an embedded PGlite database stored in that directory
 *   <data dir>                                    the same, for a directory that holds a PGlite database
 * The drivers are loaded only when needed. Any other URL is a ConfigurationError (exit 2 in the
 * CLI) whose message never holds the password.
 */
export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<SqlDatabase> {
  const text = url.trim()
  if (/^postgres(ql)?:\/\//i.test(text)) return openPostgresServer(text, options.connections ?? 4, connectTimeout(text, options))
  if (/^mysql:\/\//i.test(text)) return openMysqlServer(text, options.connections ?? 4, connectTimeout(text, options))
  if (/^(file|sqlite):/i.test(text)) return openSqliteFile(text, options.busyTimeoutMs ?? 5_000)
  if (/^pglite:/i.test(text)) {
    const dir = text.slice('pglite:'.length).replace(/^\/\/(?=\/|\.)/, '')
    if (dir === '') throw new ConfigurationError('pglite: URL without a data directory (pglite:./path/to/dir)')
    return openPglite(dir === 'memory' ? undefined : resolve(dir))
  }
  if (isPgliteDir(text)) return openPglite(resolve(text))
  throw new ConfigurationError(
    `unsupported database URL ${redactUrl(text)}: use postgresql://... (PostgreSQL), mysql://... (MySQL, MariaDB), file:<path> (SQLite) or pglite:<data dir>`,
  )
}

/** The connect timeout: the option, else the URL's `connect_timeout` (seconds), else 10 s. */
function connectTimeout(url: string, options: OpenDatabaseOptions): number {
  if (options.connectTimeoutMs !== undefined) return positiveNumber(options.connectTimeoutMs, 'connectTimeoutMs')
  let param: string | null = null
  try {
    param = new URL(url).searchParams.get('connect_timeout')
  } catch {
    param = null
  }
  if (param === null) return DEFAULT_CONNECT_TIMEOUT_MS
  return positiveNumber(Number(param), 'connect_timeout') * 1000
}

/** Rejects with a ConfigurationError when `work` has not settled within `ms`. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new ConfigurationError(`${what}: no answer within ${ms} ms (connect timeout; set connect_timeout=<seconds> in the URL)`)),
      ms,
    )
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
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
export function pgPoolDatabase(
  pool: PgPoolLike,
  options: { description?: string; connections?: number; endPool?: boolean } = {},
): SqlDatabase {
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

async function openPostgresServer(url: string, connections: number, timeoutMs: number): Promise<SqlDatabase> {
  const { Pool } = loadOptional<typeof import('pg')>('pg', 'a postgresql:// URL')
  const parsed = new URL(url)
  const schema = parsed.searchParams.get('schema')
  const hasOptions = parsed.searchParams.has('options')
  parsed.searchParams.delete('connect_timeout')
  const pool = new Pool({
    connectionString: parsed.toString(),
    max: connections,
    connectionTimeoutMillis: timeoutMs,
    ...(schema && !hasOptions ? { options: `-c search_path=${quote(schema)}` } : {}),
  })
  pool.on('error', () => undefined) // an idle client's error surfaces on its next query instead
  const database = pgPoolDatabase(pool, { description: redactUrl(url), connections, endPool: true })
  try {
    await within(pool.query('SELECT 1'), timeoutMs, `cannot connect to ${redactUrl(url)}`)
  } catch (err) {
    void pool.end().catch(() => undefined)
    if (err instanceof ConfigurationError) throw err
    throw new ConfigurationError(`cannot connect to ${redactUrl(url)}: ${redactMessage((err as Error).message, url)}`)
  }
  return database
}

/** What the migration uses of a `mariadb` Pool (structural, so mariadb stays an optional dependency). */
export interface MariadbPoolLike {
  query(sql: string | { sql: string; bigIntAsNumber?: boolean; insertIdAsNumber?: boolean }, values?: unknown): Promise<unknown>
  getConnection(): Promise<{
    beginTransaction(): Promise<void>
    query(sql: string, values?: unknown): Promise<unknown>
    commit(): Promise<void>
    rollback(): Promise<void>
    release(): Promise<void>
  }>
  end(): Promise<void>
}

/** Wraps a `mariadb` pool you already have (it must report found rows, the driver's default). */
export function mariadbPoolDatabase(
  pool: MariadbPoolLike,
  options: { description?: string; connections?: number; endPool?: boolean } = {},
): SqlDatabase {
  const driver: MysqlDriver = {
    async query(sql, params) {
      return (await pool.query({ sql, bigIntAsNumber: false, insertIdAsNumber: false }, params)) as Array<Record<string, unknown>>
    },
    async transaction(work) {
      const conn = await pool.getConnection()
      try {
        await conn.beginTransaction()
        const result = await work(async (sql, params) => (await conn.query(sql, params)) as { affectedRows: number })
        await conn.commit()
        return result
      } catch (err) {
        await conn.rollback().catch(() => undefined)
        throw err
      } finally {
        await conn.release()
      }
    },
    async end() {
      if (options.endPool) await pool.end()
    },
  }
  return new MysqlDatabase(driver, options.description ?? 'MySQL', Math.max(1, options.connections ?? 4))
}

async function openMysqlServer(url: string, connections: number, timeoutMs: number): Promise<SqlDatabase> {
  const mariadb = loadOptional<typeof import('mariadb')>('mariadb', 'a mysql:// URL')
  const u = new URL(url)
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''))
  if (!database) throw new ConfigurationError(`${redactUrl(url)}: the URL names no database (mysql://user@host:3306/<database>)`)
  const config = {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username) || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database,
    connectTimeout: timeoutMs,
    foundRows: true,
  }
  // One connection first: a pool retries failed connections until its acquire timeout, and
  // would hide the server's answer (refused, unknown database, access denied) behind it.
  const probe = mariadb.createConnection(config)
  try {
    const conn = await within(probe, timeoutMs, `cannot connect to ${redactUrl(url)}`)
    await conn.end()
  } catch (err) {
    void probe.then((c) => c.destroy()).catch(() => undefined)
    if (err instanceof ConfigurationError) throw err
    throw new ConfigurationError(`cannot connect to ${redactUrl(url)}: ${redactMessage((err as Error).message, url)}`)
  }
  const pool = mariadb.createPool({
    ...config,
    connectionLimit: connections,
    acquireTimeout: timeoutMs + 1_000,
    initializationTimeout: timeoutMs,
  })
  return mariadbPoolDatabase(pool, { description: redactUrl(url), connections, endPool: true })
}

/** Wraps a better-sqlite3 Database you already have. Closed with the migration only if `closeWithDatabase`. */
export function betterSqliteDatabase(
  db: BetterSqliteLike,
  options: { description?: string; closeWithDatabase?: boolean } = {},
): SqlDatabase {
  return new SqliteDatabase(db, options.description ?? 'SQLite', options.closeWithDatabase ?? false)
}

/**
 * A SQLite file (`file:./dev.db`, `file:/abs/path.db`, `sqlite:...`; Prisma resolves relative
 * `file:` paths from the schema's folder, this from the working directory). The file must exist
 * (the migration does not create databases). WAL journal mode (set once, persistent: readers
 * never block the writer) and a busy timeout (writes wait for the application's write lock).
 */
async function openSqliteFile(url: string, busyTimeoutMs: number): Promise<SqlDatabase> {
  const Database = loadOptional<typeof import('better-sqlite3')>('better-sqlite3', 'a file: (SQLite) URL')
  const path = resolve(url.replace(/^(file|sqlite):(\/\/)?/i, '').replace(/\?.*$/, ''))
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new ConfigurationError(`${url}: no SQLite database at ${path}; the migration does not create databases`)
  }
  let db: import('better-sqlite3').Database
  try {
    db = new Database(path, { fileMustExist: true, timeout: busyTimeoutMs })
    db.pragma('journal_mode = WAL')
  } catch (err) {
    throw new ConfigurationError(`cannot open the SQLite database ${path}: ${(err as Error).message}`)
  }
  return betterSqliteDatabase(db as unknown as BetterSqliteLike, { description: `SQLite at ${path}`, closeWithDatabase: true })
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

/** A driver's message with the URL's password removed, should the driver have echoed it. */
function redactMessage(message: string, url: string): string {
  let password = ''
  try {
    password = decodeURIComponent(new URL(url).password)
  } catch {
    password = ''
  }
  return password ? message.split(password).join('***') : message
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
