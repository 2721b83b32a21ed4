import type { TestDatabase } from './test-database'

/** One stored cell, as the bytes the database holds (text as UTF-8, bytea as is). */
export interface StoredCell {
  table: string
  column: string
  /** The cell's bytes as a latin1 string, so that byte patterns can be searched with indexOf. */
  bytes: string
}

/** The tables of the test database's current schema (Prisma's join tables included). */
export async function listTables(db: TestDatabase): Promise<string[]> {
  return db.tables()
}

/** Every cell of every table, read with raw SQL: what someone with the database would see. */
export async function dumpTables(db: TestDatabase): Promise<StoredCell[]> {
  const cells: StoredCell[] = []
  for (const table of await listTables(db)) {
    for (const row of await db.sql(`SELECT * FROM "${table}"`)) {
      for (const [column, value] of Object.entries(row)) {
        for (const bytes of cellBytes(value)) cells.push({ table, column, bytes })
      }
    }
  }
  return cells
}

/** The cells that contain `plaintext` (as UTF-8 bytes, anywhere in a text, array item or bytea). */
export function cellsContaining(cells: readonly StoredCell[], plaintext: string | Uint8Array): StoredCell[] {
  const needle = (typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : Buffer.from(plaintext)).toString('latin1')
  return cells.filter((c) => c.bytes.includes(needle))
}

function cellBytes(value: unknown): string[] {
  if (value === null || value === undefined) return []
  if (Array.isArray(value)) return value.flatMap(cellBytes)
  if (value instanceof Uint8Array) return [Buffer.from(value).toString('latin1')]
  if (value instanceof Date) return [value.toISOString()]
  return [Buffer.from(String(value), 'utf8').toString('latin1')]
}
