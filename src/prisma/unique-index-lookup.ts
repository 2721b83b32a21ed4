import type { BlindIndexField } from '../blind-index/blind-index-field'

/** Reads which of the given index values exist in the model's index column. */
export type IndexValueFinder = (field: BlindIndexField, values: string[]) => Promise<Iterable<string>>

/**
 * A unique lookup by a blind index (`findUnique({ where: { email } })`, upsert, connect, cursor...)
 * must name ONE index value, but while a previous index version is configured the row may carry
 * the old or the new one. Such lookups wait here; `resolve` reads which candidate exists (one
 * indexed read per index column and query) and picks it, else the current version.
 */
export class UniqueIndexLookups {
  private readonly pending: Array<{ field: BlindIndexField; candidates: string[]; assign: (hash: string) => void }> = []

  add(field: BlindIndexField, candidates: string[], assign: (hash: string) => void): void {
    this.pending.push({ field, candidates, assign })
  }

  get size(): number {
    return this.pending.length
  }

  async resolve(find: IndexValueFinder): Promise<void> {
    const groups = new Map<string, { field: BlindIndexField; values: Set<string> }>()
    for (const p of this.pending) {
      const id = `${p.field.model}.${p.field.index}`
      const group = groups.get(id) ?? groups.set(id, { field: p.field, values: new Set() }).get(id)!
      for (const c of p.candidates) group.values.add(c)
    }
    const found = new Map<string, Set<string>>()
    await Promise.all(
      [...groups].map(async ([id, g]) => {
        found.set(id, new Set(await find(g.field, [...g.values])))
      }),
    )
    for (const p of this.pending) {
      const present = found.get(`${p.field.model}.${p.field.index}`)!
      p.assign(p.candidates.find((c) => present.has(c)) ?? p.candidates[0]!)
    }
  }
}
