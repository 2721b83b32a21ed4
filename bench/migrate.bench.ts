/**
 * `encrypt` on a table of existing rows against the least any migration must do: write every row.
 *
 *   npx tsx bench/migrate.bench.ts [--check]
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test npx tsx bench/migrate.bench.ts
 *   DATABASE_URL=mysql://root@127.0.0.1:3306/test npx tsx bench/migrate.bench.ts     (MySQL/MariaDB)
 *   DATABASE_URL=file:/tmp/kfe-bench.db npx tsx bench/migrate.bench.ts             (SQLite)
 *   (BENCH_ROWS=n rows, default 200,000; BENCH_ROUNDS=n rounds, default 3)
 *
 * Table: `kfe_bench (id int primary key, secret text)` with a 40-character plaintext per row, in
 * a scratch schema on the server (dropped at the end) or in an in-memory PGlite.
 * Baseline: the plain batched UPDATE of the same rows with values computed beforehand, 1,000
 * rows per statement (`UPDATE t SET secret = v.n FROM unnest($1::int[], $2::text[]) v WHERE
 * t.id = v.id`), one connection: only the writes, no reading, no crypto. On MySQL/MariaDB the
 * same as one `UPDATE t JOIN (SELECT ? AS id, ? AS n UNION ALL ...) v ON t.id = v.id SET ...`
 * per 1,000 rows; on SQLite, 1,000 prepared `UPDATE ... WHERE id = ?` in one transaction (a
 * scratch database, or a scratch file beside the one named, dropped at the end).
 * Subject: `encryptColumns` as the CLI runs it: keyset-paginated reads of 1,000 rows, AES-GCM
 * under a local key, compare-and-set writes (the old value sent back), default concurrency;
 * also with concurrency 1 (informative).
 * Memory: in separate runs (not timed) over 1/4 of the rows and over all of them, the heap is
 * sampled after every batch and, every 10 batches, after a full garbage collection: with flat
 * memory what the run holds on to does not grow with the table (the peak between collections,
 * garbage included, is shown too).
 * Target: the subject's time per row at most 2× the baseline's (rate at least 50%).
 */
import { randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { LocalKeyProvider } from '../src/keys/local-key-provider'
import type { EncryptionModel } from '../src/model/encryption-model'
import { pgliteDatabase, pgPoolDatabase } from '../src/migration/open-database'
import { encryptColumns } from '../src/migration/run-migration'
import type { MigrationProgress } from '../src/migration/migration-progress'
import type { SqlDatabase } from '../src/migration/sql-database'
import { describeMachine, envInt, exitOnMiss, interleave, printRatioTable, type RatioRow } from './support/measure'

const ROWS = envInt('BENCH_ROWS', 200_000)
const ROUNDS = envInt('BENCH_ROUNDS', 3)
const BATCH = 1000
const TARGET = 2

const model: EncryptionModel = {
  version: 1,
  provider: 'postgresql',
  models: {
    Bench: {
      name: 'Bench',
      table: 'kfe_bench',
      primaryKey: ['id'],
      primaryKeyColumns: ['id'],
      encryptedFields: { secret: { name: 'secret', column: 'secret', type: 'String', isList: false, isRequired: true } },
      blindIndexes: {},
      relations: {},
    },
  },
}

interface Bench {
  kind: string
  /** The migration's access to the current table. */
  database: SqlDatabase
  sql(query: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>
  /** A fresh table of `rows` plaintext rows. */
  reset(rows: number): Promise<void>
  /** The baseline's write: these rows get these values, in one plain batched statement. */
  writeBatch(ids: number[], values: string[]): Promise<void>
  close(): Promise<void>
}

const plaintextSql = `'secret value number ' || lpad(g::text, 19, '0')`

async function open(): Promise<Bench> {
  const url = process.env.DATABASE_URL
  if (url?.startsWith('mysql://')) return openMysql(url)
  if (url?.startsWith('file:')) return openSqlite(url)
  if (url) {
    const { Pool } = await import('pg')
    const schema = `kfe_bench_${randomBytes(4).toString('hex')}`
    const admin = new Pool({ connectionString: url, max: 1 })
    await admin.query(`CREATE SCHEMA "${schema}"`)
    const pool = new Pool({ connectionString: url, max: 4, options: `-c search_path="${schema}"` })
    const sql = async (q: string, p?: unknown[]) => (await pool.query(q, p)).rows
    return {
      kind: `PostgreSQL at ${new URL(url).host}, scratch schema ${schema}`,
      database: pgPoolDatabase(pool, { connections: 4 }),
      sql,
      async reset(rows) {
        await sql('DROP TABLE IF EXISTS kfe_bench')
        await sql('CREATE TABLE kfe_bench (id int PRIMARY KEY, secret text NOT NULL)')
        await sql(`INSERT INTO kfe_bench SELECT g, ${plaintextSql} FROM generate_series(1, $1::int) g`, [rows])
        await sql('VACUUM ANALYZE kfe_bench')
      },
      writeBatch: async (ids, values) => void (await sql(PG_BATCH_UPDATE, [ids, values])),
      async close() {
        await pool.end()
        await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
        await admin.end()
      },
    }
  }
  // A fresh in-memory PGlite for every table: after a few hundred thousand row updates one
  // instance can stall inside its WAL insertion (PGlite has no background writer), and a new
  // instance is what a migration of a real data dir starts with anyway.
  const { PGlite } = await import('@electric-sql/pglite')
  let db: InstanceType<typeof PGlite> | undefined
  const bench: Bench = {
    kind: 'PGlite (in memory, a fresh instance per table)',
    database: undefined as never,
    sql: async (q, p) => (await db!.query<Record<string, unknown>>(q, p)).rows,
    async reset(rows) {
      await db?.close()
      db = new PGlite()
      bench.database = pgliteDatabase(db)
      await db.exec('CREATE TABLE kfe_bench (id int PRIMARY KEY, secret text NOT NULL)')
      await db.query(`INSERT INTO kfe_bench SELECT g, ${plaintextSql} FROM generate_series(1, $1::int) g`, [rows])
      await db.exec('VACUUM ANALYZE kfe_bench')
    },
    writeBatch: async (ids, values) => void (await db!.query(PG_BATCH_UPDATE, [ids, values])),
    close: async () => db?.close(),
  }
  return bench
}

const PG_BATCH_UPDATE = 'UPDATE kfe_bench AS t SET secret = v.n FROM unnest($1::int[], $2::text[]) AS v(id, n) WHERE t.id = v.id'

/** Plaintext rows, inserted 1,000 per statement by `insert(sql, params)` with `?` placeholders. */
async function insertPlaintext(rows: number, insert: (sql: string, params: unknown[]) => Promise<unknown>): Promise<void> {
  for (let start = 1; start <= rows; start += BATCH) {
    const params: unknown[] = []
    const tuples: string[] = []
    for (let i = start; i < Math.min(rows + 1, start + BATCH); i++) {
      params.push(i, plaintext(i))
      tuples.push('(?, ?)')
    }
    await insert(`INSERT INTO kfe_bench (id, secret) VALUES ${tuples.join(', ')}`, params)
  }
}

async function openMysql(url: string): Promise<Bench> {
  const mariadb = await import('mariadb')
  const { mariadbPoolDatabase } = await import('../src/migration/open-database')
  const u = new URL(url)
  const name = `kfe_bench_${randomBytes(4).toString('hex')}`
  const config = {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username) || 'root',
    password: u.password ? decodeURIComponent(u.password) : undefined,
  }
  const admin = await mariadb.createConnection(config)
  await admin.query(`CREATE DATABASE \`${name}\``)
  const pool = mariadb.createPool({ ...config, database: name, connectionLimit: 5 })
  const sql = async (q: string, p?: unknown[]) => (await pool.query(q.replace(/\$\d+/g, '?'), p)) as Array<Record<string, unknown>>
  return {
    kind: `MySQL/MariaDB at ${u.host}, scratch database ${name}`,
    database: mariadbPoolDatabase(pool, { connections: 4 }),
    sql,
    async reset(rows) {
      await pool.query('DROP TABLE IF EXISTS kfe_bench')
      await pool.query('CREATE TABLE kfe_bench (id int PRIMARY KEY, secret TEXT NOT NULL) DEFAULT CHARSET utf8mb4')
      await insertPlaintext(rows, (q, p) => pool.query(q, p))
      await pool.query('ANALYZE TABLE kfe_bench')
    },
    async writeBatch(ids, values) {
      const params: unknown[] = []
      const rows = ids.map((id, i) => (params.push(id, values[i]), i === 0 ? 'SELECT ? AS id, ? AS n' : 'SELECT ?, ?'))
      await pool.query(`UPDATE kfe_bench AS t JOIN (${rows.join(' UNION ALL ')}) AS v ON t.id = v.id SET t.secret = v.n`, params)
    },
    async close() {
      await pool.end()
      await admin.query(`DROP DATABASE \`${name}\``)
      await admin.end()
    },
  }
}

async function openSqlite(url: string): Promise<Bench> {
  const { default: Database } = await import('better-sqlite3')
  const { betterSqliteDatabase } = await import('../src/migration/open-database')
  const { dirname, join, resolve } = await import('node:path')
  const { mkdirSync, rmSync } = await import('node:fs')
  const file = join(dirname(resolve(url.slice('file:'.length))), `kfe_bench_${randomBytes(4).toString('hex')}.db`)
  mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  const bench: Bench = {
    kind: `SQLite (better-sqlite3, WAL) at ${file}`,
    database: betterSqliteDatabase(db as never),
    sql: async (q, p) => db.prepare(q.replace(/\$\d+/g, '?')).all(...(p ?? [])) as Array<Record<string, unknown>>,
    async reset(rows) {
      db.exec('DROP TABLE IF EXISTS kfe_bench')
      db.exec('CREATE TABLE kfe_bench (id INTEGER PRIMARY KEY, secret TEXT NOT NULL)')
      await insertPlaintext(rows, async (q, p) => db.prepare(q).run(...p))
      db.exec('ANALYZE kfe_bench')
    },
    async writeBatch(ids, values) {
      const update = db.prepare('UPDATE kfe_bench SET secret = ? WHERE id = ?')
      db.transaction(() => ids.forEach((id, i) => update.run(values[i], id)))()
    },
    async close() {
      db.close()
      for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true })
    },
  }
  return bench
}

const plaintext = (i: number) => `secret value number ${String(i).padStart(19, '0')}`

/** Where the run is, on stderr (a round on PGlite takes a while). */
function phase(text: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`)
}

/**
 * The baseline: write precomputed values, 1,000 rows per UPDATE, the fastest plain form (one
 * array parameter per column, as the migration's writes). Returns µs per row.
 */
async function plainUpdate(b: Bench, values: readonly string[]): Promise<number> {
  const started = performance.now()
  for (let start = 0; start < values.length; start += BATCH) {
    const ids: number[] = []
    for (let i = start; i < Math.min(values.length, start + BATCH); i++) ids.push(i + 1)
    await b.writeBatch(ids, values.slice(start, start + BATCH))
  }
  return ((performance.now() - started) * 1000) / values.length
}

/** Forces a full garbage collection (exposed at run time, so `npx tsx` needs no flag). */
const gc: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

interface MemoryPeak {
  /** Most heap still in use after a full collection (what the run holds on to), above the start. */
  retainedMb: number
  /** Highest heap use seen between collections (garbage included), above the start. */
  heapMb: number
}

/**
 * The subject: `encryptColumns` over the table. Returns µs per row, and with `memory` the peak
 * memory above the start: sampled after every batch (an in-memory PGlite never lets a timer
 * run during the migration), with a full collection every 10 batches (slower, so not timed).
 */
async function migrate(
  b: Bench,
  keys: LocalKeyProvider,
  rows: number,
  options: { concurrency?: number; memory?: boolean } = {},
): Promise<{ micros: number; peak: MemoryPeak }> {
  gc()
  const start = process.memoryUsage().heapUsed
  const peak = { retained: start, heap: start }
  let batches = 0
  const progress: MigrationProgress | undefined = options.memory
    ? {
        columnStarted: () => undefined,
        columnFinished: () => undefined,
        rowsDone: () => {
          peak.heap = Math.max(peak.heap, process.memoryUsage().heapUsed)
          if (++batches % 10 === 0) {
            gc()
            peak.retained = Math.max(peak.retained, process.memoryUsage().heapUsed)
          }
        },
      }
    : undefined
  const started = performance.now()
  const summary = await encryptColumns({
    model,
    keys,
    database: b.database,
    batchSize: BATCH,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(progress ? { progress } : {}),
  })
  const elapsed = performance.now() - started
  if (!summary.ok || summary.written !== rows)
    throw new Error(`encrypt wrote ${summary.written} of ${rows} rows (failed: ${summary.failed})`)
  return { micros: (elapsed * 1000) / rows, peak: { retainedMb: (peak.retained - start) / 2 ** 20, heapMb: (peak.heap - start) / 2 ** 20 } }
}

async function main(): Promise<void> {
  const b = await open()
  const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  try {
    // The baseline's values, computed once, outside the timed region.
    const encryptor = new EnvelopeEncryptor({ keys })
    const ctx = fieldContext('Bench', 'secret', 'kfe_bench', 'secret')
    const values = (await encryptor.encryptMany(Array.from({ length: ROWS }, (_, i) => ({ value: plaintext(i + 1), ctx })))) as string[]

    // Correctness first: one run, its output checked.
    phase(`correctness run: ${ROWS} rows`)
    await b.reset(ROWS)
    await migrate(b, keys, ROWS)
    const stored = await b.sql('SELECT id, secret FROM kfe_bench ORDER BY id LIMIT 1000')
    const back = await encryptor.decryptMany(stored.map((r) => ({ value: r.secret, ctx })))
    if (back.some((v, i) => v !== plaintext(Number(stored[i]!.id)))) throw new Error('encrypt stored something else than the plaintext')

    const samples = await interleave(ROUNDS, ['baseline', 'subject', 'serial'] as const, async (side) => {
      phase(`${side}: ${ROWS} rows`)
      await b.reset(ROWS)
      if (side === 'baseline') return plainUpdate(b, values)
      return (await migrate(b, keys, ROWS, side === 'serial' ? { concurrency: 1 } : {})).micros
    })
    // Memory, apart from the timed runs: a quarter of the table, then all of it.
    phase('memory')
    await b.reset(Math.floor(ROWS / 4))
    const quarter = (await migrate(b, keys, Math.floor(ROWS / 4), { memory: true })).peak
    await b.reset(ROWS)
    const full = (await migrate(b, keys, ROWS, { memory: true })).peak

    console.log(describeMachine(`${b.kind}; ${ROWS} rows, batches of ${BATCH}, ${ROUNDS} rounds`))
    const rows: RatioRow[] = [
      {
        name: `encrypt ${ROWS} rows (default concurrency)`,
        unit: 'µs/row',
        baseline: samples.baseline,
        subject: samples.subject,
        target: TARGET,
      },
      {
        name: `encrypt ${ROWS} rows (concurrency 1)`,
        unit: 'µs/row',
        baseline: samples.baseline,
        subject: samples.serial,
        target: undefined,
      },
    ]
    const results = printRatioTable(
      'Migration: encrypt vs plain batched UPDATE of precomputed values',
      { baseline: 'plain UPDATE', subject: 'encrypt' },
      rows,
    )
    const rate = (micros: number[]) => Math.round(1e6 / [...micros].sort((x, y) => x - y)[micros.length >> 1]!)
    console.log(
      `\nrows/s (median): plain UPDATE ${rate(samples.baseline)}, encrypt ${rate(samples.subject)}, encrypt with concurrency 1 ${rate(samples.serial)}`,
    )
    const mb = (n: number) => `${n.toFixed(1)} MB`
    console.log(
      `memory above the start: ${Math.floor(ROWS / 4)} rows: retained +${mb(quarter.retainedMb)} (peak heap +${mb(quarter.heapMb)}); ` +
        `${ROWS} rows: retained +${mb(full.retainedMb)} (peak heap +${mb(full.heapMb)})`,
    )
    const flat = full.retainedMb <= quarter.retainedMb + 16
    console.log(`memory flat (retained for 4× the rows at most 16 MB more): ${flat ? 'ok' : 'MISSED'}`)
    exitOnMiss([
      ...results,
      { name: 'memory', baseline: quarter.retainedMb, subject: full.retainedMb, ratio: 0, target: undefined, met: flat },
    ])
  } finally {
    await b.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
