import { listTables } from './dump-tables'
import type { TestDatabase } from './test-database'

/** Empties every table of the test database and restarts its id sequences. */
export async function truncateTables(db: TestDatabase): Promise<void> {
  const tables = await listTables(db)
  await db.sql(`TRUNCATE ${tables.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY CASCADE`)
}
