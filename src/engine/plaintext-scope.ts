import { ConfigurationError } from '../errors'

/**
 * `readPlaintext`: which encrypted fields may hold values not yet in our format (while existing
 * rows are migrated), returned as they are instead of refused with `NotEncryptedError`.
 *
 * - `false` (default): none; `true`: every encrypted field;
 * - by model: `{ User: true, Post: ['body'] }`: every encrypted field of User, and Post.body.
 *
 * Names are Prisma model and field names (not tables or columns). A name that matches nothing
 * lets nothing through: a typo fails closed (`NotEncryptedError`), it never opens more.
 */
export type ReadPlaintextOption = boolean | Readonly<Record<string, true | readonly string[]>>

export class PlaintextScope {
  private constructor(
    private readonly all: boolean,
    private readonly models: ReadonlyMap<string, true | ReadonlySet<string>>,
  ) {}

  static of(option: ReadPlaintextOption | undefined): PlaintextScope {
    if (option === undefined || option === false) return new PlaintextScope(false, new Map())
    if (option === true) return new PlaintextScope(true, new Map())
    if (typeof option !== 'object' || option === null || Array.isArray(option)) {
      throw new ConfigurationError('readPlaintext must be true, false, or { Model: true | [field names] }')
    }
    const models = new Map<string, true | ReadonlySet<string>>()
    for (const [model, fields] of Object.entries(option)) {
      if (fields === true) models.set(model, true)
      else if (Array.isArray(fields) && fields.every((f) => typeof f === 'string' && f !== '')) models.set(model, new Set(fields))
      else throw new ConfigurationError(`readPlaintext.${model} must be true or a list of field names`)
    }
    return new PlaintextScope(false, models)
  }

  /** Whether a value of `model.field` that is not in our format may be returned as it is. */
  allows(model: string, field: string): boolean {
    if (this.all) return true
    const fields = this.models.get(model)
    return fields === true || (fields !== undefined && fields.has(field))
  }

  /** Whether any field at all may hold plaintext. */
  get any(): boolean {
    return this.all || this.models.size > 0
  }
}
