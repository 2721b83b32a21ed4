/**
 * The one thing `recomputeBlindIndexes` asks of a database: run a statement with positional
 * parameters (`$1`, `$2`... on PostgreSQL) and return its rows. One line adapts any driver:
 *
 *   pg:     { query: async (sql, params) => (await pool.query(sql, [...params])).rows }
 *   PGlite: { query: async (sql, params) => (await pglite.query(sql, [...params])).rows }
 *   Prisma: { query: (sql, params) => prisma.$queryRawUnsafe(sql, ...params) }
 */
export interface SqlExecutor {
  query(sql: string, params: readonly unknown[]): Promise<Array<Record<string, unknown>>>
}

/** Identifier quoting and placeholders of the databases recompute supports. */
export interface SqlDialect {
  quote(identifier: string): string
  placeholder(position: number): string
}

const POSTGRES: SqlDialect = {
  quote: (id) => `"${id.replace(/"/g, '""')}"`,
  placeholder: (n) => `$${n}`,
}

/** The dialect for a Prisma datasource provider, or undefined when it is not supported. */
export function sqlDialectFor(provider: string): SqlDialect | undefined {
  return provider === 'postgresql' || provider === 'postgres' || provider === 'cockroachdb' ? POSTGRES : undefined
}
