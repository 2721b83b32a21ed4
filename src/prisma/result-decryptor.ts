import type { FieldContext } from '../cipher/field-context'
import { NOT_OPENED, type CachedKeyOpener } from '../engine/cached-key-opener'
import type { ValueBatch } from '../engine/value-batch'
import type { ModelRegistry, ModelView } from '../model/model-registry'
import { ScopeRequiredError } from '../errors'
import { checkRowScopeSetup, type RowScopeSetup } from './row-scope'

type Obj = Record<string, unknown>

/** What to look at in a record of one model, made once per model: its encrypted fields, then the relations that lead to some. */
interface WalkPlan {
  fields: string[]
  ctxs: FieldContext[]
  lists: boolean[]
  /** Each field's key-header field (format version 2), or undefined. */
  headers: Array<string | undefined>
  relations: string[]
  targets: ModelView[]
  /** A row-scoped model's scope field: each record's values are decrypted under its value. */
  scopeField?: string
  model: string
}

/**
 * Walks what Prisma returns (a record, a list, nested relations at any depth) and puts every
 * encrypted value into the batch; the decrypted value replaces it in place (the result objects
 * are Prisma's own, fresh for this call). One pass, plain loops: per record, only the model's
 * encrypted fields and the relations that reach encryption are read.
 */
export class ResultDecryptor {
  private readonly plans = new Map<ModelView, WalkPlan>()

  constructor(
    private readonly registry: ModelRegistry,
    private readonly setup: RowScopeSetup = { hasScopeKeys: false },
  ) {}

  /**
   * `withKeyHeaders`: the records hold the key headers of short values (read with them, for a cold
   * data-key cache). `opener`: values it can open at once (unscoped, data key cached) are replaced
   * in the walk; only the others go into the batch.
   */
  collect(view: ModelView, result: unknown, batch: ValueBatch, withKeyHeaders = false, opener?: CachedKeyOpener): void {
    const plan = this.plans.get(view) ?? this.planFor(view)
    if (Array.isArray(result)) {
      for (let i = 0; i < result.length; i++) this.collectRecord(plan, result[i], batch, withKeyHeaders, opener)
    } else this.collectRecord(plan, result, batch, withKeyHeaders, opener)
  }

  private collectRecord(
    plan: WalkPlan,
    result: unknown,
    batch: ValueBatch,
    withKeyHeaders: boolean,
    opener: CachedKeyOpener | undefined,
  ): void {
    if (result === null || typeof result !== 'object') return
    const record = result as Obj
    const { fields, ctxs, lists, headers, relations, scopeField } = plan
    const scope = scopeField === undefined ? undefined : record[scopeField]
    for (let f = 0; f < fields.length; f++) {
      const key = fields[f]!
      const value = record[key]
      if (value === null || value === undefined) continue
      if (scopeField !== undefined && typeof scope !== 'string') {
        throw new ScopeRequiredError(
          { model: plan.model, field: key },
          `a record of the row-scoped ${plan.model} came back without its ${scopeField}, which its values are decrypted under`,
        )
      }
      if (opener !== undefined && scope === undefined && !lists[f]) {
        const plain = opener.open(value, ctxs[f]!)
        if (plain !== NOT_OPENED) {
          record[key] = plain
          continue
        }
      }
      if (lists[f] && Array.isArray(value)) {
        const arr = value.slice()
        record[key] = arr
        for (let i = 0; i < arr.length; i++) batch.add(arr[i], ctxs[f]!, arr, i, scope as string | undefined)
      } else {
        const header = withKeyHeaders && headers[f] !== undefined ? record[headers[f]!] : undefined
        batch.add(value, ctxs[f]!, record, key, scope as string | undefined, header)
      }
    }
    for (let r = 0; r < relations.length; r++) {
      const value = record[relations[r]!]
      if (value !== null && value !== undefined) this.collect(plan.targets[r]!, value, batch, withKeyHeaders, opener)
    }
  }

  private planFor(view: ModelView): WalkPlan {
    const plan: WalkPlan = { fields: [], ctxs: [], lists: [], headers: [], relations: [], targets: [], model: view.description.name }
    if (view.description.scopeField && view.encrypted.size > 0) {
      checkRowScopeSetup(view, this.setup)
      plan.scopeField = view.description.scopeField.name
    }
    for (const [name, { field, ctx }] of view.encrypted) {
      plan.fields.push(name)
      plan.ctxs.push(ctx)
      plan.lists.push(field.isList)
      plan.headers.push(field.keyHeader?.name)
    }
    for (const [name, relation] of view.relations) {
      const target = this.registry.get(relation.target)!
      if (!target.reachesEncryption) continue
      plan.relations.push(name)
      plan.targets.push(target)
    }
    this.plans.set(view, plan)
    return plan
  }
}
