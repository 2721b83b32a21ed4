import type { ColumnTarget } from './column-target'
import type { StoredRow } from './sql-database'

/**
 * The select list every dialect reads a column's rows with, and the `StoredRow` made of each
 * result row: the key as text (`k<i>`, cast by the dialect's `asText`) and as the driver types it
 * (`p<i>`), the value (`v`) and the blind-index columns (`x<i>`).
 */
export function storedRowSelectList(target: ColumnTarget, quote: (name: string) => string, asText: (quoted: string) => string): string {
  return [
    ...target.primaryKey.map((c, i) => `${asText(quote(c))} AS k${i}`),
    ...target.primaryKey.map((c, i) => `${quote(c)} AS p${i}`),
    `${quote(target.column)} AS v`,
    ...target.blindIndexes.map((b, i) => `${quote(b.column)} AS x${i}`),
  ].join(', ')
}

/** One result row of {@link storedRowSelectList} as a `StoredRow`. */
export function storedRowOf(target: ColumnTarget, r: Record<string, unknown>): StoredRow {
  const indexes: Record<string, unknown> = {}
  target.blindIndexes.forEach((b, i) => (indexes[b.column] = r[`x${i}`]))
  return {
    key: target.primaryKey.map((_, i) => String(r[`k${i}`])),
    keyValues: target.primaryKey.map((_, i) => r[`p${i}`]),
    value: r.v,
    indexes,
  }
}
