import type { ColumnTarget } from './column-target'
import type { Shard } from './sql-database'
import { storedRowSelectList } from './stored-row-select'

/** What a dialect writes its own way in a batch read. */
export interface BatchSelectDialect {
  quote(name: string): string
  /** The cast of a quoted column to text (the key is read as text too). */
  asText(quoted: string): string
  /** The table, as the FROM clause names it. */
  relation(target: ColumnTarget): string
  /** The condition "primary key after `after`" (keyset pagination), its values pushed onto `params`. */
  keyAfter(target: ColumnTarget, after: readonly string[], params: unknown[]): string
  /** The condition "the rows of this shard". */
  shardSql(target: ColumnTarget, shard: Shard): string
  /** The placeholder of the `n`-th parameter (1-based). */
  placeholder(n: number): string
}

/**
 * The statement that reads one batch of a column's rows in primary-key order, the same in every
 * dialect: the rows matching `filter` (SQL), after the key `after`, of one shard, at most `limit`.
 */
export function keysetBatchSelect(
  dialect: BatchSelectDialect,
  target: ColumnTarget,
  filter: string,
  after: readonly string[] | undefined,
  limit: number,
  shard?: Shard,
): { sql: string; params: unknown[] } {
  const params: unknown[] = []
  const where = [filter]
  if (after) where.push(dialect.keyAfter(target, after, params))
  if (shard) where.push(dialect.shardSql(target, shard))
  params.push(limit)
  const sql =
    `SELECT ${storedRowSelectList(target, dialect.quote, dialect.asText)} FROM ${dialect.relation(target)} WHERE ${where.join(' AND ')} ` +
    `ORDER BY ${target.primaryKey.map(dialect.quote).join(', ')} LIMIT ${dialect.placeholder(params.length)}`
  return { sql, params }
}
