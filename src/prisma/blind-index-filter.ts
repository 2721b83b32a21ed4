import type { UniqueWrite, UniqueWriteScope } from './unique-across-versions'
import type { BlindIndexBatch, BlindIndexTicket } from '../blind-index/blind-index-batch'
import type { BlindIndexField } from '../blind-index/blind-index-field'
import { foldsCase } from '../blind-index/normalize'
import { isStoredIndex, isStoredIndexPrefix } from '../blind-index/stored-index-format'
import { isPlainObject } from '../engine/unknown-value'
import { InvalidFieldValueError, UnsupportedEncryptedFieldQueryError } from '../errors'
import type { UniqueIndexLookups } from './unique-index-lookup'

type Obj = Record<string, unknown>

/** The per-query state filters on blind indexes fill: plaintexts to hash, unique lookups to resolve. */
export interface BlindIndexQueryContext {
  batch: BlindIndexBatch
  lookups: UniqueIndexLookups
  /** Set while a previous index version is configured: unique index values written, to check across versions. */
  uniqueWrites?: UniqueWrite[]
  /** Where the data being walked sits (set by the query handler and nested writes). */
  writeScope?: UniqueWriteScope
  /** While a filter of a row-scoped model is placed: the scope its where pins (its indexes are that scope's). */
  rowScope?: string
}

const EQUALITY_OPERATORS = 'equals, in, notIn, not'

/**
 * Turns a Prisma filter on an encrypted field that has a blind index into the same filter on the
 * index column: every plaintext becomes its index value (all configured versions, so rows not yet
 * recomputed still match). Only equality can be answered: `equals`, `in`, `notIn`, `not` (a value
 * or a nested filter of these), `null`, and `mode: 'insensitive'` when the index folds case.
 * Anything else throws before the query runs.
 */
export class BlindIndexFilters {
  constructor(private readonly versionCount: number) {}

  /**
   * Sets `holder[field.index]` to the index filter standing for `value`, a filter on
   * `field.source`. In a unique where (findUnique, upsert, connect, cursor...), an equality on a
   * unique index becomes the bare index value Prisma requires.
   */
  place(holder: Obj, field: BlindIndexField, value: unknown, ctx: BlindIndexQueryContext, unique: boolean): void {
    if (value === undefined) return
    const key = field.index
    if (value === null) {
      holder[key] = null
      return
    }
    if (!isPlainObject(value)) {
      const ticket = ctx.batch.request(field, value, 'match', ctx.rowScope)
      holder[key] = undefined
      if (unique && field.unique) {
        this.uniqueValue(holder, key, ticket, ctx)
      } else {
        ctx.batch.afterResolve(() => (holder[key] = ticket.hashes.length === 1 ? ticket.hashes[0] : { in: ticket.hashes }))
      }
      return
    }
    const ops = Object.keys(value).filter((k) => value[k] !== undefined)
    if (
      unique &&
      field.unique &&
      isPlainObject(value) &&
      ops.includes('equals') &&
      value.equals !== null &&
      ops.every((k) => k === 'equals' || k === 'mode')
    ) {
      this.checkMode(field, value.mode)
      holder[key] = undefined
      this.uniqueValue(holder, key, ctx.batch.request(field, value.equals, 'match', ctx.rowScope), ctx)
      return
    }
    holder[key] = this.filter(field, value, ctx, true)
  }

  private uniqueValue(holder: Obj, key: string, ticket: BlindIndexTicket, ctx: BlindIndexQueryContext): void {
    ctx.batch.afterResolve(() => {
      if (ticket.hashes.length === 1) holder[key] = ticket.hashes[0]
      else ctx.lookups.add(ticket.field, ticket.hashes, (h) => (holder[key] = h))
    })
  }

  /**
   * A filter object; returns the index filter object (filled once the batch is resolved).
   *
   * Prisma reads a nested `not: { ... }` key by key: `not: { equals: a, in: L }` is
   * `x <> a AND x NOT IN L` (and `not: value` inside it stays `x <> value`, as Prisma
   * compiles it). So the negation is pushed down to each key here, and the whole
   * filter becomes one conjunction of IN / NOT IN sets (with two index versions a single
   * `equals` already needs IN, which could not share an object with another `in`).
   */
  private filter(field: BlindIndexField, filter: Obj, ctx: BlindIndexQueryContext, topLevel: boolean): Obj {
    const out: Obj = {}
    const positive: Array<{ op: 'equals' | 'in'; tickets: BlindIndexTicket[] }> = []
    const negative: Array<{ op: 'not' | 'notIn'; tickets: BlindIndexTicket[] }> = []
    let isNull = false
    let notNull = false
    const list = (op: string, v: unknown): BlindIndexTicket[] => {
      if (!Array.isArray(v))
        throw new InvalidFieldValueError(
          { model: field.model, field: field.source },
          `a list of strings for '${op}'`,
          v === null ? 'null' : typeof v,
        )
      return v.map((item) => ctx.batch.request(field, item, 'match', ctx.rowScope))
    }
    const one = (v: unknown) => [ctx.batch.request(field, v, 'match', ctx.rowScope)]
    const collect = (f: Obj, negated: boolean, top: boolean): void => {
      for (const [op, v] of Object.entries(f)) {
        if (v === undefined) continue
        switch (op) {
          case 'mode':
            if (!top) this.refuse(field, 'mode', 'mode belongs at the top of the filter')
            this.checkMode(field, v)
            break
          case 'equals':
            if (v === null) {
              if (negated) notNull = true
              else isNull = true
            } else if (negated) negative.push({ op: 'not', tickets: one(v) })
            else positive.push({ op: 'equals', tickets: one(v) })
            break
          case 'in':
            if (negated) negative.push({ op: 'notIn', tickets: list(op, v) })
            else positive.push({ op: 'in', tickets: list(op, v) })
            break
          case 'notIn':
            if (negated) positive.push({ op: 'in', tickets: list(op, v) })
            else negative.push({ op: 'notIn', tickets: list(op, v) })
            break
          case 'not':
            // Prisma flips the keys of a nested object, but `not: value` (or null) means
            // `x <> value` (IS NOT NULL) at any depth: the same here.
            if (v === null) notNull = true
            else if (isPlainObject(v)) collect(v, !negated, false)
            else negative.push({ op: 'not', tickets: one(v) })
            break
          default:
            this.refuse(field, op, `a blind index answers only equality (${EQUALITY_OPERATORS})`)
        }
      }
    }
    collect(filter, false, topLevel)
    if (isNull) out.equals = null
    if (notNull) out.not = null
    if (positive.length === 0 && negative.length === 0) return out
    ctx.batch.afterResolve(() => {
      if (positive.length > 0) {
        const only = positive.length === 1 ? positive[0]! : undefined
        if (only?.op === 'equals' && this.versionCount === 1 && !('equals' in out)) {
          out.equals = only.tickets[0]!.hashes[0]
        } else {
          // Several positive clauses are a conjunction: the intersection of their index sets.
          const sets = positive.map((clause) => dedupe(clause.tickets.flatMap((t) => t.hashes)))
          const common = sets.reduce((acc, set) => acc.filter((h) => set.includes(h)))
          if (common.length > 0 || sets.some((set) => set.length === 0)) {
            out.in = common
          } else {
            // Disjoint non-empty sets: false for a value, but NULL (not false) for a null row, as
            // the plaintext conjunction is; `in: []` would be false even there, and under NOT
            // would select the null rows. `x IN S AND x NOT IN S` keeps three-valued logic.
            out.in = sets[0]
            negative.push({ op: 'notIn', tickets: [{ field, purpose: 'match', hashes: sets[0]! }] })
          }
        }
      }
      if (negative.length > 0) {
        const only = negative.length === 1 ? negative[0]! : undefined
        if (only?.op === 'not' && this.versionCount === 1 && !('not' in out)) {
          out.not = only.tickets[0]!.hashes[0]
        } else {
          // A conjunction of NOT IN lists is NOT IN their union (an empty list alone is true).
          out.notIn = dedupe(negative.flatMap((c) => c.tickets.flatMap((t) => t.hashes)))
        }
      }
    })
    return out
  }

  private checkMode(field: BlindIndexField, mode: unknown): void {
    if (mode === undefined || mode === 'default') return
    if (mode === 'insensitive') {
      if (!foldsCase(field.normalize)) {
        this.refuse(
          field,
          'mode: insensitive',
          `the blind index ${field.model}.${field.index} does not fold case; add lowercase to its normalize list`,
        )
      }
      return
    }
    this.refuse(field, 'mode', 'unknown mode')
  }

  private refuse(field: BlindIndexField, op: string, reason: string): never {
    throw new UnsupportedEncryptedFieldQueryError({ model: field.model, field: field.source }, op, reason)
  }
}

/**
 * A filter written directly on an index column must hold index values (or null, or a version
 * prefix for `startsWith`): a plaintext there would reach the database. Filter by the source
 * field and the index is computed for you.
 */
export function checkDirectIndexFilter(field: BlindIndexField, value: unknown): void {
  const refuse = (op: string): never => {
    throw new UnsupportedEncryptedFieldQueryError(
      { model: field.model, field: field.index },
      op,
      `it holds blind index values, and this is not one; filter by '${field.source}' and the index is computed`,
    )
  }
  const check = (v: unknown, op: string): void => {
    if (v === undefined || v === null || isStoredIndex(v)) return
    if (!isPlainObject(v)) return refuse(op)
    for (const [k, inner] of Object.entries(v)) {
      if (inner === undefined) continue
      switch (k) {
        case 'mode':
          break
        case 'equals':
        case 'not':
          check(inner, k)
          break
        case 'in':
        case 'notIn':
          if (!Array.isArray(inner) || !inner.every(isStoredIndex)) refuse(k)
          break
        case 'startsWith':
          if (!isStoredIndexPrefix(inner)) refuse(k)
          break
        default:
          refuse(k)
      }
    }
  }
  check(value, 'equals')
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)]
}
