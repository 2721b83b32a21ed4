import type { ColumnTarget } from './column-target'
import type { StoredRow } from './sql-database'

/**
 * The select list every dialect reads a column's rows with, and the `StoredRow` made of each
 * result row: the key as text (`k<i>`, cast by the dialect's `asText`) and as the driver types it
 * (`p<i>`), the value (`v`), the blind-index columns (`x<i>`), a row-scoped model's scope (`s`)
 * and the field's key header (`h`, a target with a key-header column).
 */
export function storedRowSelectList(target: ColumnTarget, quote: (name: string) => string, asText: (quoted: string) => string): string {
  return [
    ...target.primaryKey.map((c, i) => `${asText(quote(c))} AS k${i}`),
    ...target.primaryKey.map((c, i) => `${quote(c)} AS p${i}`),
    `${quote(target.column)} AS v`,
    ...target.blindIndexes.map((b, i) => `${quote(b.column)} AS x${i}`),
    ...(target.scopeField ? [`${quote(target.scopeField.column)} AS s`] : []),
    ...(target.keyHeader ? [`${quote(target.keyHeader.column)} AS h`] : []),
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
    ...(target.scopeField ? { scope: r.s === null || r.s === undefined ? null : String(r.s) } : {}),
    ...(target.keyHeader ? { keyHeader: r.h ?? null } : {}),
  }
}

/**
 * A dialect's row condition narrowed to one scope's rows, when the run has a scope and the model
 * is row-scoped (`onlyScope`); unchanged otherwise.
 */
export function inOnlyScope(
  target: ColumnTarget,
  condition: string,
  quote: (name: string) => string,
  literal: (text: string) => string,
): string {
  if (!target.scopeField || target.onlyScope === undefined) return condition
  return `(${condition}) AND ${quote(target.scopeField.column)} = ${literal(target.onlyScope)}`
}

/** Every column a target reads (the dialects check they exist before a run). */
export function columnsReadBy(target: ColumnTarget): string[] {
  return [
    ...target.primaryKey,
    target.column,
    ...target.blindIndexes.map((b) => b.column),
    ...(target.scopeField ? [target.scopeField.column] : []),
    ...(target.keyHeader ? [target.keyHeader.column] : []),
  ]
}
