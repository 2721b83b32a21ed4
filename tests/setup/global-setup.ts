/**
 * Chooses the database the suite runs on:
 * - default: the embedded PGlite (nothing to start);
 * - DATABASE_URL=postgresql://...: that PostgreSQL server (a private schema per test file);
 * - DATABASE_URL=mysql://...: that MySQL/MariaDB server (a private database per test file);
 * - DATABASE_URL=file:...: SQLite (a private file per test file, beside the one named);
 * - KFE_TESTCONTAINERS=1: a PostgreSQL container started with testcontainers (needs Docker).
 */
import { testDatabaseKind } from '../support/test-database-kind'
import { startPostgresContainer } from './postgres-container'

export default async function globalSetup(): Promise<void> {
  if (process.env.KFE_TESTCONTAINERS === '1' && !process.env.DATABASE_URL) {
    process.env.DATABASE_URL = await startPostgresContainer()
  }
  const url = process.env.DATABASE_URL
  const names = { pglite: 'the embedded PGlite', postgres: 'PostgreSQL at', mysql: 'MySQL/MariaDB at', sqlite: 'SQLite beside' }
  const kind = testDatabaseKind(url)
  const where = kind === 'pglite' ? names.pglite : `${names[kind]} ${redact(url!)}`
  process.stdout.write(`\nkms-field-encryption tests run on ${where}\n`)
  if (kind === 'mysql' || kind === 'sqlite') {
    const postgresOnly = require('./postgres-only-tests.js') as { reason: string; files: string[] }
    process.stdout.write(`skipped on ${kind} (${postgresOnly.reason}):\n${postgresOnly.files.map((f) => `  ${f}`).join('\n')}\n`)
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}
