import type { TestDatabase } from './test-database'

/** Empties every table of the test database and restarts its id sequences. */
export async function truncateTables(db: TestDatabase): Promise<void> {
  await db.empty()
}
