import type { FieldContext } from '../cipher/field-context'
import type { FieldValue, StoredValue } from './envelope-encryptor'

/**
 * Values found while walking a query or a result, each with the place its transformed value
 * goes back to. Collect first, then transform in one batch (one data-key lookup per batch).
 */
export class ValueBatch {
  readonly items: FieldValue[] = []
  private readonly targets: Array<(value: StoredValue) => void> = []

  /** `scope`: the scope (tenant) of every value of the batch, when the client is scoped. */
  constructor(private readonly scope?: string) {}

  add(value: unknown, ctx: FieldContext, assign: (value: StoredValue) => void): void {
    this.items.push(this.scope === undefined ? { value, ctx } : { value, ctx, scope: this.scope })
    this.targets.push(assign)
  }

  get size(): number {
    return this.items.length
  }

  /** Puts transformed values back, in the order they were added. */
  assign(values: readonly StoredValue[]): void {
    for (let i = 0; i < values.length; i++) this.targets[i]!(values[i]!)
  }
}
