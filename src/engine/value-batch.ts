import type { FieldContext } from '../cipher/field-context'
import type { FieldValue, StoredValue } from './envelope-encryptor'

/**
 * Values found while walking a query or a result, each with the place its transformed value
 * goes back to (an object and a property, or an array and an index: no closure per value).
 * Collect first, then transform in one batch (one data-key lookup per batch).
 */
export class ValueBatch {
  readonly items: FieldValue[] = []
  private readonly holders: object[] = []
  private readonly keys: Array<string | number> = []

  /** `scope`: the scope (tenant) of every value of the batch, when the client is scoped. */
  constructor(private readonly scope?: string) {}

  /** `value`, whose transformed value goes to `holder[key]`; `scope`: this value's own scope (a row-scoped model's row), else the batch's. */
  add(value: unknown, ctx: FieldContext, holder: object, key: string | number, scope: string | undefined = this.scope): void {
    this.items.push(scope === undefined ? { value, ctx } : { value, ctx, scope })
    this.holders.push(holder)
    this.keys.push(key)
  }

  get size(): number {
    return this.items.length
  }

  /** Puts transformed values back, in the order they were added. */
  assign(values: readonly StoredValue[]): void {
    const { holders, keys } = this
    for (let i = 0; i < values.length; i++) (holders[i] as Record<string | number, unknown>)[keys[i]!] = values[i]
  }
}
