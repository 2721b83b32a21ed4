/**
 * The one thing `recomputeBlindIndexes` asks of a PostgreSQL database: run a statement with
 * positional parameters (`$1`, `$2`...) and return its rows. One line adapts any driver:
 *
 *   pg:     { query: async (sql, params) => (await pool.query(sql, [...params])).rows }
 *   PGlite: { query: async (sql, params) => (await pglite.query(sql, [...params])).rows }
 *   Prisma: { query: (sql, params) => prisma.$queryRawUnsafe(sql, ...params) }
 */
export interface SqlExecutor {
  query(sql: string, params: readonly unknown[]): Promise<Array<Record<string, unknown>>>
}
