import { UnsupportedEncryptedFieldQueryError } from '../errors'
import type { ModelRegistry, ModelView } from '../model/model-registry'

type Obj = Record<string, unknown>

const LOGICAL = new Set(['AND', 'OR', 'NOT'])
const RELATION_FILTERS = new Set(['some', 'every', 'none', 'is', 'isNot'])
const AGGREGATES = ['_min', '_max', '_avg', '_sum'] as const

export function isPlainObject(v: unknown): v is Obj {
  if (v === null || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * Makes the read side of a Prisma query safe for encrypted fields: filters, orderBy, cursor,
 * distinct, groupBy `by`/`having` and aggregates, at the top level and in every nested
 * relation (include/select, relation filters, _count). A use of an encrypted field that
 * ciphertext cannot answer is refused with a typed error before anything reaches the database.
 * Returns new objects; the caller's arguments are never changed.
 */
export class QueryArgsRewriter {
  constructor(private readonly registry: ModelRegistry) {}

  /** A `where` (or unique where, or cursor) of model `view`. */
  where(view: ModelView, where: unknown, operator = 'where'): unknown {
    if (!isPlainObject(where)) return where
    let out: Obj | undefined
    for (const [key, value] of Object.entries(where)) {
      const next = this.whereEntry(view, key, value, operator)
      if (next !== value) (out ??= { ...where })[key] = next
    }
    return out ?? where
  }

  private whereEntry(view: ModelView, key: string, value: unknown, operator: string): unknown {
    if (LOGICAL.has(key)) {
      return Array.isArray(value) ? mapSame(value, (w) => this.where(view, w, operator)) : this.where(view, value, operator)
    }
    if (view.encrypted.has(key)) {
      throw new UnsupportedEncryptedFieldQueryError({ model: view.description.name, field: key }, filterOperator(value, operator), 'ciphertext cannot be compared')
    }
    const relation = view.relations.get(key)
    if (relation) {
      const target = this.registry.get(relation.target)!
      if (!isPlainObject(value)) return value
      let out: Obj | undefined
      for (const [k, v] of Object.entries(value)) {
        const next = RELATION_FILTERS.has(k) && !target.relations.has(k) && !target.encrypted.has(k)
          ? this.where(target, v, operator)
          : this.whereEntry(target, k, v, operator)
        if (next !== v) (out ??= { ...value })[k] = next
      }
      return out ?? value
    }
    // A compound unique input (`a_b: { a, b }`) naming an encrypted field.
    if (isPlainObject(value) && !isFieldOf(view, key)) {
      for (const inner of Object.keys(value)) {
        if (view.encrypted.has(inner)) {
          throw new UnsupportedEncryptedFieldQueryError({ model: view.description.name, field: inner }, operator, 'ciphertext cannot be compared')
        }
      }
    }
    return value
  }

  /** `orderBy`: an object or a list of them; relations nest; `_relevance` names fields. */
  orderBy(view: ModelView, orderBy: unknown): unknown {
    if (Array.isArray(orderBy)) return mapSame(orderBy, (o) => this.orderBy(view, o))
    if (!isPlainObject(orderBy)) return orderBy
    for (const [key, value] of Object.entries(orderBy)) {
      if (view.encrypted.has(key)) this.refuse(view, key, 'orderBy', 'ciphertext order is random')
      if (key === '_relevance' && isPlainObject(value)) {
        const fields = Array.isArray(value.fields) ? value.fields : [value.fields]
        for (const f of fields) if (typeof f === 'string' && view.encrypted.has(f)) this.refuse(view, f, 'orderBy._relevance', 'ciphertext cannot be searched')
      }
      if (AGGREGATES.includes(key as (typeof AGGREGATES)[number]) || key === '_count') this.aggregateSelection(view, key, value)
      const relation = view.relations.get(key)
      if (relation && isPlainObject(value)) this.orderBy(this.registry.get(relation.target)!, value)
    }
    return orderBy
  }

  distinct(view: ModelView, distinct: unknown): unknown {
    for (const f of Array.isArray(distinct) ? distinct : [distinct]) {
      if (typeof f === 'string' && view.encrypted.has(f)) this.refuse(view, f, 'distinct', 'equal plaintexts have different ciphertexts')
    }
    return distinct
  }

  by(view: ModelView, by: unknown): unknown {
    for (const f of Array.isArray(by) ? by : [by]) {
      if (typeof f === 'string' && view.encrypted.has(f)) this.refuse(view, f, 'groupBy', 'equal plaintexts have different ciphertexts')
    }
    return by
  }

  /** `having`: like a where, but fields hold aggregate filters. */
  having(view: ModelView, having: unknown): unknown {
    if (!isPlainObject(having)) return having
    for (const [key, value] of Object.entries(having)) {
      if (LOGICAL.has(key)) for (const h of Array.isArray(value) ? value : [value]) this.having(view, h)
      else if (view.encrypted.has(key)) this.refuse(view, key, 'having', 'ciphertext cannot be compared')
    }
    return having
  }

  /**
   * `_min`/`_max`/`_avg`/`_sum` of an encrypted field would compute on ciphertext: refused.
   * `_count` of an encrypted field counts non-null values, which ciphertext answers correctly.
   */
  aggregateSelection(view: ModelView, key: string, value: unknown): void {
    if (key === '_count' || !isPlainObject(value)) return
    for (const [f, on] of Object.entries(value)) {
      if (on && view.encrypted.has(f)) this.refuse(view, f, key, 'it would be computed on ciphertext')
    }
  }

  /** The arguments of a read of `view`: where, orderBy, cursor, distinct and nested relation reads. */
  readArgs(view: ModelView, args: Obj): Obj {
    let out: Obj | undefined
    const set = (key: string, next: unknown) => {
      if (next !== args[key]) (out ??= { ...args })[key] = next
    }
    if ('where' in args) set('where', this.where(view, args.where))
    if ('cursor' in args) set('cursor', this.where(view, args.cursor, 'cursor'))
    if ('orderBy' in args) set('orderBy', this.orderBy(view, args.orderBy))
    if ('distinct' in args) this.distinct(view, args.distinct)
    if ('select' in args) set('select', this.selection(view, args.select))
    if ('include' in args) set('include', this.selection(view, args.include))
    return out ?? args
  }

  /** A `select` or `include` tree: each relation entry may carry its own read arguments. */
  selection(view: ModelView, selection: unknown): unknown {
    if (!isPlainObject(selection)) return selection
    let out: Obj | undefined
    for (const [key, value] of Object.entries(selection)) {
      let next = value
      if (key === '_count' && isPlainObject(value) && isPlainObject(value.select)) {
        next = { ...value, select: this.countSelection(view, value.select) }
      } else {
        const relation = view.relations.get(key)
        if (relation && isPlainObject(value)) next = this.readArgs(this.registry.get(relation.target)!, value)
      }
      if (next !== value) (out ??= { ...selection })[key] = next
    }
    return out ?? selection
  }

  private countSelection(view: ModelView, select: Obj): Obj {
    let out: Obj | undefined
    for (const [key, value] of Object.entries(select)) {
      const relation = view.relations.get(key)
      if (relation && isPlainObject(value) && 'where' in value) {
        const where = this.where(this.registry.get(relation.target)!, value.where)
        if (where !== value.where) (out ??= { ...select })[key] = { ...value, where }
      }
    }
    return out ?? select
  }

  private refuse(view: ModelView, field: string, operator: string, reason: string): never {
    throw new UnsupportedEncryptedFieldQueryError({ model: view.description.name, field }, operator, reason)
  }
}

function isFieldOf(view: ModelView, key: string): boolean {
  return view.encrypted.has(key) || view.relations.has(key) || view.blindIndexes.has(key)
}

/** The operator a filter value uses, for the error message (`equals` for a bare value). */
function filterOperator(value: unknown, fallback: string): string {
  if (isPlainObject(value)) {
    const ops = Object.keys(value).filter((k) => k !== 'mode')
    if (ops.length > 0) return ops.join(', ')
  }
  return fallback === 'where' ? 'equals' : fallback
}

/** Maps an array, returning the same array when nothing changed. */
export function mapSame<T>(list: readonly T[], fn: (item: T) => T): T[] {
  let out: T[] | undefined
  list.forEach((item, i) => {
    const next = fn(item)
    if (next !== item) (out ??= list.slice())[i] = next
  })
  return out ?? (list as T[])
}
