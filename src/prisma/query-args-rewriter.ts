import type { BlindIndexField } from '../blind-index/blind-index-field'
import type { BlindIndexer } from '../blind-index/blind-indexer'
import { isPlainObject } from '../engine/unknown-value'
import { UnsupportedEncryptedFieldQueryError } from '../errors'
import type { ModelRegistry, ModelView } from '../model/model-registry'
import { BlindIndexFilters, checkDirectIndexFilter, type BlindIndexQueryContext } from './blind-index-filter'
import { checkFieldReferences } from './field-reference'
import { checkRowScopeSetup, scopeEquality, type RowScopeSetup } from './row-scope'
import { ScopeRequiredError } from '../errors'

type Obj = Record<string, unknown>

const LOGICAL = new Set(['AND', 'OR', 'NOT'])
const RELATION_FILTERS = new Set(['some', 'every', 'none', 'is', 'isNot'])
const AGGREGATES = ['_min', '_max', '_avg', '_sum'] as const

/**
 * Makes the read side of a Prisma query safe for encrypted fields: filters, orderBy, cursor,
 * distinct, groupBy `by`/`having` and aggregates, at the top level and in every nested
 * relation (include/select, relation filters, _count). A use of an encrypted field that
 * ciphertext cannot answer is refused with a typed error before anything reaches the database.
 * Returns new objects; the caller's arguments are never changed.
 */
export class QueryArgsRewriter {
  private readonly indexFilters: BlindIndexFilters | undefined

  /** Without `blindIndexes`, every filter on an encrypted field is refused. */
  constructor(
    private readonly registry: ModelRegistry,
    private readonly blindIndexes?: BlindIndexer,
    private readonly setup: RowScopeSetup = { hasScopeKeys: false },
  ) {
    this.indexFilters = blindIndexes && new BlindIndexFilters(blindIndexes.versions.length)
  }

  /**
   * A `where` (or unique where, or cursor) of model `view`. Equality on an encrypted field with a
   * blind index becomes equality on the index column, its plaintexts queued in `bi` (hashed before
   * the query is sent). `unique`: this is a WhereUniqueInput (its top-level keys may be unique
   * criteria, which must be bare values).
   */
  where(
    view: ModelView,
    where: unknown,
    operator = 'where',
    bi?: BlindIndexQueryContext,
    unique = false,
    enclosingScope?: string,
  ): unknown {
    if (!isPlainObject(where)) return where
    // A row-scoped model: its index filters are computed for the scope this where (or an enclosing one) pins.
    const scopeField = view.description.scopeField?.name
    const scope = scopeField === undefined ? undefined : (scopeEquality(where, scopeField) ?? enclosingScope)
    let out: Obj | undefined
    const indexed: Array<[BlindIndexField, unknown]> = []
    for (const [key, value] of Object.entries(where)) {
      if (value === undefined) continue // Prisma reads `{ field: undefined }` as no filter at all
      const index = this.indexOfSource(view, key)
      if (index && bi && this.indexFilters) {
        out ??= { ...where }
        delete out[key]
        indexed.push([index, value])
        continue
      }
      const next = this.whereEntry(view, key, value, operator, bi, scope)
      if (next !== value) (out ??= { ...where })[key] = next
    }
    if (indexed.length > 0 && scopeField !== undefined) {
      checkRowScopeSetup(view, this.setup)
      if (scope === undefined) {
        const source = indexed[0]![0].source
        throw new ScopeRequiredError(
          { model: view.description.name, field: source },
          `a filter on ${source} of the row-scoped ${view.description.name} needs its scope: add ${scopeField} to the same where (where: { ${scopeField}: <scope>, ${source}: ... }); ${scopeField}: { in: [...] } is not enough`,
        )
      }
    }
    const savedScope = bi?.rowScope
    if (bi && scopeField !== undefined) bi.rowScope = scope
    for (const [index, value] of indexed) {
      let holder = out!
      if (index.index in holder) {
        // The index column is also filtered directly: both must hold. A unique criterion stays
        // at the top level, so the other filter moves into AND.
        const and = Array.isArray(holder.AND) ? [...holder.AND] : holder.AND === undefined ? [] : [holder.AND]
        if (unique) {
          and.push({ [index.index]: holder[index.index] })
          delete holder[index.index]
        } else {
          holder = {}
          and.push(holder)
        }
        out!.AND = and
      }
      this.indexFilters!.place(holder, index, value, bi!, unique)
    }
    if (bi && scopeField !== undefined) bi.rowScope = savedScope
    return out ?? where
  }

  private indexOfSource(view: ModelView, key: string): BlindIndexField | undefined {
    const source = view.encrypted.get(key)?.field
    return source?.blindIndex ? this.blindIndexes?.indexNamed(view.description.name, source.blindIndex) : undefined
  }

  private whereEntry(
    view: ModelView,
    key: string,
    value: unknown,
    operator: string,
    bi: BlindIndexQueryContext | undefined,
    scope?: string,
  ): unknown {
    if (LOGICAL.has(key)) {
      // The enclosing where's scope holds inside AND, OR and NOT alike (it is a conjunct of all of them).
      return Array.isArray(value)
        ? mapSame(value, (w) => this.where(view, w, operator, bi, false, scope))
        : this.where(view, value, operator, bi, false, scope)
    }
    if (view.encrypted.has(key)) {
      const field = view.encrypted.get(key)!.field
      if (isPresenceFilter(value, field.isList)) return value
      const hasIndex = field.blindIndex !== undefined
      throw new UnsupportedEncryptedFieldQueryError(
        { model: view.description.name, field: key },
        filterOperator(value, operator),
        hasIndex
          ? 'its blind index is not configured on this client'
          : 'ciphertext cannot be compared; add a @blindIndex field to filter by equality',
      )
    }
    if (view.blindIndexes.has(key)) {
      const index = this.blindIndexes?.indexNamed(view.description.name, key)
      if (index) checkDirectIndexFilter(index, value)
      return value
    }
    const relation = view.relations.get(key)
    if (relation) {
      const target = this.registry.get(relation.target)!
      if (!isPlainObject(value)) return value
      // A to-one relation takes either relation filters (is/isNot) or a bare where of the target.
      const isRelationFilter = (k: string) => RELATION_FILTERS.has(k) && !isFieldOf(target, k)
      if (!Object.keys(value).some(isRelationFilter)) return this.where(target, value, operator, bi)
      let out: Obj | undefined
      for (const [k, v] of Object.entries(value)) {
        const next = isRelationFilter(k) ? this.where(target, v, operator, bi) : this.whereEntry(target, k, v, operator, bi)
        if (next !== v) (out ??= { ...value })[k] = next
      }
      return out ?? value
    }
    // A plain column compared with a field reference to an encrypted field or a blind index.
    checkFieldReferences(this.registry, view, key, value)
    // A compound unique input (`a_b: { a, b }`) naming an encrypted field or a blind index.
    if (isPlainObject(value) && !isFieldOf(view, key)) {
      for (const [inner, innerValue] of Object.entries(value)) {
        if (view.encrypted.has(inner)) {
          throw new UnsupportedEncryptedFieldQueryError(
            { model: view.description.name, field: inner },
            operator,
            'ciphertext cannot be compared',
          )
        }
        const index = view.blindIndexes.has(inner) ? this.blindIndexes?.indexNamed(view.description.name, inner) : undefined
        if (index) checkDirectIndexFilter(index, innerValue)
      }
    }
    return value
  }

  /** `orderBy`: an object or a list of them; relations nest; `_relevance` names fields. */
  orderBy(view: ModelView, orderBy: unknown): unknown {
    if (Array.isArray(orderBy)) return mapSame(orderBy, (o) => this.orderBy(view, o))
    if (!isPlainObject(orderBy)) return orderBy
    for (const [key, value] of Object.entries(orderBy)) {
      if (value === undefined) continue // no ordering at all
      if (view.encrypted.has(key)) this.refuse(view, key, 'orderBy', 'ciphertext order is random')
      if (key === '_relevance' && isPlainObject(value)) {
        const fields = Array.isArray(value.fields) ? value.fields : [value.fields]
        for (const f of fields)
          if (typeof f === 'string' && view.encrypted.has(f)) this.refuse(view, f, 'orderBy._relevance', 'ciphertext cannot be searched')
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
      if (value === undefined) continue
      if (LOGICAL.has(key)) for (const h of Array.isArray(value) ? value : [value]) this.having(view, h)
      else if (view.encrypted.has(key)) this.refuse(view, key, 'having', 'ciphertext cannot be compared')
      else if (view.blindIndexes.has(key)) this.indexHaving(view, key, value)
      else checkFieldReferences(this.registry, view, key, value)
    }
    return having
  }

  /**
   * `having` on a blind index column: the same rule as in `where` (only stored index values, on
   * the column itself and in `_min`/`_max`); `_count` filters count rows. Without the indexer on
   * this client, every such filter is refused.
   */
  private indexHaving(view: ModelView, key: string, value: unknown): void {
    const index = this.blindIndexes?.indexNamed(view.description.name, key)
    const refuse = (operator: string): never =>
      this.refuse(view, key, `having.${operator}`, 'its blind index is not configured on this client')
    if (!isPlainObject(value)) {
      if (!index) refuse('equals')
      return checkDirectIndexFilter(index!, value)
    }
    const direct: Obj = {}
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue
      if (k === '_count') checkFieldReferences(this.registry, view, key, v)
      else if (k === '_min' || k === '_max') {
        if (!index) refuse(k)
        checkDirectIndexFilter(index!, v)
      } else direct[k] = v
    }
    if (Object.keys(direct).length === 0) return
    if (!index) refuse(Object.keys(direct).join(', '))
    checkDirectIndexFilter(index!, direct)
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

  /**
   * The arguments of a read of `view`: where, orderBy, cursor, distinct and nested relation reads.
   * `uniqueWhere`: `where` is a WhereUniqueInput (findUnique, update, upsert, delete).
   */
  readArgs(view: ModelView, args: Obj, bi?: BlindIndexQueryContext, uniqueWhere = false): Obj {
    let out: Obj | undefined
    const set = (key: string, next: unknown) => {
      if (next !== args[key]) (out ??= { ...args })[key] = next
    }
    if ('where' in args) set('where', this.where(view, args.where, 'where', bi, uniqueWhere))
    if ('cursor' in args) set('cursor', this.where(view, args.cursor, 'cursor', bi, true))
    if ('orderBy' in args) set('orderBy', this.orderBy(view, args.orderBy))
    if ('distinct' in args) this.distinct(view, args.distinct)
    if ('select' in args) set('select', this.selection(view, args.select, bi))
    if ('include' in args) set('include', this.selection(view, args.include, bi))
    return out ?? args
  }

  /** A `select` or `include` tree: each relation entry may carry its own read arguments. */
  selection(view: ModelView, selection: unknown, bi?: BlindIndexQueryContext): unknown {
    if (!isPlainObject(selection)) return selection
    let out: Obj | undefined
    for (const [key, value] of Object.entries(selection)) {
      let next = value
      if (key === '_count' && isPlainObject(value) && isPlainObject(value.select)) {
        next = { ...value, select: this.countSelection(view, value.select, bi) }
      } else {
        const relation = view.relations.get(key)
        if (relation && isPlainObject(value)) next = this.readArgs(this.registry.get(relation.target)!, value, bi)
      }
      if (next !== value) (out ??= { ...selection })[key] = next
    }
    return out ?? selection
  }

  private countSelection(view: ModelView, select: Obj, bi: BlindIndexQueryContext | undefined): Obj {
    let out: Obj | undefined
    for (const [key, value] of Object.entries(select)) {
      const relation = view.relations.get(key)
      if (relation && isPlainObject(value) && 'where' in value) {
        const where = this.where(this.registry.get(relation.target)!, value.where, 'where', bi)
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

/**
 * Filters ciphertext answers as plaintext would: NULL or not (`null`, `{ equals: null }`,
 * `{ not: null }`) and, for lists, emptiness (`{ isEmpty }`): encryption keeps NULL as NULL and an
 * empty list empty. They carry no value, so nothing can leak.
 */
function isPresenceFilter(value: unknown, isList: boolean): boolean {
  if (value === null) return true
  if (!isPlainObject(value)) return false
  const keys = Object.keys(value)
  return (
    keys.length > 0 &&
    keys.every(
      (k) => ((k === 'equals' || k === 'not') && value[k] === null) || (isList && k === 'isEmpty' && typeof value[k] === 'boolean'),
    )
  )
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
