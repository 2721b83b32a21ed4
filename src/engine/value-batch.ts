import { ConfigurationError } from '../errors'
import type { FieldContext } from '../cipher/field-context'
import type { FieldValue, SealedValues, StoredValue } from './envelope-encryptor'

/**
 * Values found while walking a query or a result, each with the place its transformed value
 * goes back to (an object and a property, or an array and an index: no closure per value).
 * Collect first, then transform in one batch (one data-key lookup per batch).
 */
export class ValueBatch {
  readonly items: FieldValue[] = []
  private readonly holders: object[] = []
  private readonly keys: Array<string | number> = []
  /** Where a short-form value's key header goes (written values only), by the value's index. */
  private headerSpots: Map<number, { holder: object; key: string }> | undefined

  /** `scope`: the scope (tenant) of every value of the batch, when the client is scoped. */
  constructor(private readonly scope?: string) {}

  /**
   * `value`, whose transformed value goes to `holder[key]`; `scope`: this value's own scope (a
   * row-scoped model's row), else the batch's; `keyHeader`: on a read, the row's key header of a
   * short value (format version 2), when it was read.
   */
  add(
    value: unknown,
    ctx: FieldContext,
    holder: object,
    key: string | number,
    scope: string | undefined = this.scope,
    keyHeader?: unknown,
  ): void {
    const item: FieldValue = scope === undefined ? { value, ctx } : { value, ctx, scope }
    if (keyHeader !== undefined) item.keyHeader = keyHeader
    this.items.push(item)
    this.holders.push(holder)
    this.keys.push(key)
  }

  /** The key header of the value added last (a short-form field's, on a write) goes to `holder[key]`. */
  keyHeaderTo(holder: object, key: string): void {
    ;(this.headerSpots ??= new Map()).set(this.items.length - 1, { holder, key })
  }

  get size(): number {
    return this.items.length
  }

  /** Puts sealed values back, and each short-form value's key header where `keyHeaderTo` said. */
  assignSealed(sealed: SealedValues): void {
    this.assign(sealed.values)
    const spots = this.headerSpots
    // A short-form value without a place for its key header would be written unreadable: never.
    for (let i = 0; i < sealed.keyHeaders.length; i++)
      if (sealed.keyHeaders[i] !== undefined && !spots?.has(i))
        throw new ConfigurationError(
          `${this.items[i]!.ctx.model}.${this.items[i]!.ctx.field}: a short value has no key-header column to go to; nothing was written`,
        )
    if (!spots) return
    for (const [i, { holder, key }] of spots) {
      const header = sealed.keyHeaders[i]
      if (header === undefined)
        throw new ConfigurationError(
          `${this.items[i]!.ctx.model}.${this.items[i]!.ctx.field}: no key header for a short value; nothing was written`,
        )
      ;(holder as Record<string, unknown>)[key] = header
    }
  }

  /** Puts transformed values back, in the order they were added. */
  assign(values: readonly StoredValue[]): void {
    const { holders, keys } = this
    for (let i = 0; i < values.length; i++) (holders[i] as Record<string | number, unknown>)[keys[i]!] = values[i]
  }
}
