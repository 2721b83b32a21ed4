import type { EntityMetadata } from 'typeorm'
import type { ModelRegistry } from '../model/model-registry'

type Obj = Record<string, unknown>

interface Selection {
  selection: string
  aliasName?: string
  virtual?: boolean
}

/** What the hook needs of a SelectQueryBuilder's expression map. */
export interface SelectExpression {
  mainAlias?: { name: string; hasMetadata: boolean; metadata: EntityMetadata }
  aliases: Array<{ name: string; hasMetadata: boolean; metadata: EntityMetadata }>
  selects: Selection[]
  joinAttributes: Array<{ alias: { name: string }; parentAlias?: string; relationPropertyPath?: string }>
}

/** Key-header selections the adapter added to a query, to take out of its entities (and the query) afterwards. */
export interface AddedKeyHeaders {
  selections: Selection[]
  /** Key-header properties added, by alias name. */
  byAlias: Map<string, string[]>
}

/**
 * Adds the key-header column (format version 2, @KeyHeader) of each short-form property a query
 * selects without it, for every alias of the query (the main one and joined ones): a short value
 * whose data key is not cached opens only with its row's key header. Covers find options
 * (`select`) and query builders (`select('p.name')`) alike. Returns what was added, or undefined.
 */
export function addKeyHeaderSelections(registry: ModelRegistry, map: SelectExpression): AddedKeyHeaders | undefined {
  let added: AddedKeyHeaders | undefined
  for (const alias of map.aliases) {
    if (!alias.hasMetadata) continue
    const view = registry.get(alias.metadata.name)
    if (!view) continue
    const whole = map.selects.some((s) => s.selection === alias.name)
    for (const { field } of view.encrypted.values()) {
      if (!field.keyHeader) continue
      const source = alias.metadata.findColumnWithPropertyName(field.name)
      const header = alias.metadata.findColumnWithPropertyName(field.keyHeader.name)
      if (!source || !header) continue
      const selected = (column: typeof source) =>
        (whole && column.isSelect) || map.selects.some((s) => s.selection === `${alias.name}.${column.propertyPath}`)
      if (!selected(source) || selected(header)) continue
      const selection: Selection = { selection: `${alias.name}.${header.propertyPath}` }
      map.selects.push(selection)
      added ??= { selections: [], byAlias: new Map() }
      added.selections.push(selection)
      const names = added.byAlias.get(alias.name) ?? []
      names.push(header.propertyName)
      added.byAlias.set(alias.name, names)
    }
  }
  return added
}

/**
 * After the query (and its entities' decryption): the added selections leave the query (it may be
 * run again), and the added key-header properties leave the entities, which show what was selected.
 */
export function removeAddedKeyHeaders(map: SelectExpression, entities: unknown, added: AddedKeyHeaders): void {
  map.selects = map.selects.filter((s) => !added.selections.includes(s))
  const mainName = map.mainAlias?.name
  if (mainName === undefined || !Array.isArray(entities)) return
  const objectsOf = (aliasName: string, seen: Set<string>): Obj[] => {
    if (aliasName === mainName) return entities.filter((e): e is Obj => typeof e === 'object' && e !== null)
    const join = map.joinAttributes.find((j) => j.alias.name === aliasName)
    if (!join?.parentAlias || !join.relationPropertyPath || seen.has(aliasName)) return []
    seen.add(aliasName)
    const out: Obj[] = []
    for (const parent of objectsOf(join.parentAlias, seen)) {
      let value: unknown = parent
      for (const part of join.relationPropertyPath.split('.')) value = (value as Obj | undefined)?.[part]
      for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'object' && v !== null) out.push(v as Obj)
    }
    return out
  }
  for (const [aliasName, names] of added.byAlias)
    for (const entity of objectsOf(aliasName, new Set())) for (const name of names) delete entity[name]
}
