import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Pool } from 'pg'
import { DataSource, type DataSourceOptions } from 'typeorm'

/**
 * A private database for one TypeORM test file with a key table: a fresh schema on the PostgreSQL
 * server of DATABASE_URL, a fresh MySQL/MariaDB database (`collation`: its default collation, or
 * the server's when undefined), or a better-sqlite3 file otherwise. `plain` is a DataSource without
 * the adapter, with the entities' tables synchronized and `kfe_scope_keys` created.
 */
export async function privateTypeOrmDatabase(
  name: string,
  entities: DataSourceOptions['entities'],
  collation?: string,
): Promise<{ options: DataSourceOptions; plain: DataSource; cleanup: () => Promise<void> }> {
  const url = process.env.DATABASE_URL
  const id = `kfe_${name}_${randomBytes(6).toString('hex')}`
  let options: DataSourceOptions
  let cleanup: () => Promise<void>
  if (url && /^postgres(ql)?:/.test(url)) {
    const admin = new Pool({ connectionString: url, max: 1 })
    await admin.query(`CREATE SCHEMA "${id}"`)
    cleanup = async () => {
      await admin.query(`DROP SCHEMA "${id}" CASCADE`)
      await admin.end()
    }
    options = { type: 'postgres', url, schema: id, entities, extra: { options: `-c search_path="${id}"` } }
  } else if (url && /^mysql:/.test(url)) {
    const admin = await new DataSource({ type: 'mysql', url }).initialize()
    await admin.query(`CREATE DATABASE \`${id}\`${collation ? ` CHARACTER SET utf8mb4 COLLATE ${collation}` : ''}`)
    cleanup = async () => {
      await admin.query(`DROP DATABASE \`${id}\``)
      await admin.destroy()
    }
    const at = new URL(url)
    at.pathname = `/${id}`
    options = { type: 'mysql', url: at.toString(), entities }
  } else {
    const dir = mkdtempSync(join(tmpdir(), `${id}-`))
    cleanup = async () => rmSync(dir, { recursive: true, force: true })
    options = { type: 'better-sqlite3', database: join(dir, 'test.db'), entities }
  }
  const plain = await new DataSource({ ...options, synchronize: true }).initialize()
  await plain.query(scopeKeyTableSql(options.type))
  return { options, plain, cleanup }
}

/** The key table `kfe_scope_keys` (the SQL of prisma/migrations) for a TypeORM DataSource type. */
export function scopeKeyTableSql(type: DataSourceOptions['type']): string {
  if (type === 'postgres')
    return `CREATE TABLE kfe_scope_keys (scope TEXT NOT NULL PRIMARY KEY, provider_id TEXT NOT NULL, wrapped_key TEXT,
      shredded_at TIMESTAMP(3), created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`
  if (type === 'mysql')
    return `CREATE TABLE kfe_scope_keys (scope VARCHAR(255) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, provider_id VARCHAR(255) NOT NULL,
      wrapped_key TEXT NULL, shredded_at DATETIME(3) NULL, created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))`
  return `CREATE TABLE kfe_scope_keys (scope TEXT NOT NULL PRIMARY KEY, provider_id TEXT NOT NULL, wrapped_key TEXT,
      shredded_at DATETIME, created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)`
}
