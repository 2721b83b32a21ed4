/**
 * Chooses the database the suite runs on:
 * - default: the embedded PGlite (nothing to start);
 * - DATABASE_URL set: that PostgreSQL server;
 * - KFE_TESTCONTAINERS=1: a PostgreSQL container started with testcontainers (needs Docker).
 */
import { startPostgresContainer } from './postgres-container'

export default async function globalSetup(): Promise<void> {
  if (process.env.KFE_TESTCONTAINERS === '1' && !process.env.DATABASE_URL) {
    process.env.DATABASE_URL = await startPostgresContainer()
  }
  const where = process.env.DATABASE_URL ? `PostgreSQL at ${redact(process.env.DATABASE_URL)}` : 'the embedded PGlite'
  process.stdout.write(`\nkms-field-encryption tests run on ${where}\n`)
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')
}
