import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** The SQL of every migration under prisma/migrations, oldest first. */
export function migrationScripts(dir = join(__dirname, 'migrations')): Array<{ name: string; sql: string }> {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name, 'migration.sql'), 'utf8') }))
}

/** Where each provider's migrations live: prisma/migrations (PostgreSQL), prisma/<provider>/migrations. */
export type MigrationProvider = 'postgresql' | 'mysql' | 'sqlite'

export function migrationsDir(provider: MigrationProvider): string {
  return provider === 'postgresql' ? join(__dirname, 'migrations') : join(__dirname, provider, 'migrations')
}

/**
 * Applies the migrations with the caller's own executor (PGlite's exec, a pg client, a mariadb
 * pool with multipleStatements, better-sqlite3's exec), since `prisma migrate` needs a schema
 * engine that cannot be downloaded here.
 */
export async function applyMigrations(exec: (sql: string) => Promise<unknown>, provider: MigrationProvider = 'postgresql'): Promise<void> {
  for (const { sql } of migrationScripts(migrationsDir(provider))) await exec(sql)
}
