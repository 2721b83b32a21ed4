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

/**
 * Applies the migrations with the caller's own executor (PGlite's exec, or a pg client), since
 * `prisma migrate` needs a schema engine that cannot be downloaded here.
 */
export async function applyMigrations(exec: (sql: string) => Promise<unknown>): Promise<void> {
  for (const { sql } of migrationScripts()) await exec(sql)
}
