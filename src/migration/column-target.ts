import type { FieldContext } from '../cipher/field-context'
import { ConfigurationError } from '../errors'
import type { BlindIndexModel, EncryptionModel } from '../model/encryption-model'
import { ModelRegistry } from '../model/model-registry'

/** One encrypted column the migration works on, with what it needs to read and write it. */
export interface ColumnTarget {
  model: string
  field: string
  table: string
  column: string
  kind: 'text' | 'bytes'
  isList: boolean
  /** Primary key column names, in key order. */
  primaryKey: string[]
  /** The cipher context (binds values to table and column). */
  ctx: FieldContext
  /** Blind indexes computed from this field. */
  blindIndexes: BlindIndexModel[]
  /**
   * A row-scoped model's (@encryptionScope) scope field and column: each row's values are sealed,
   * and its indexes made, under the scope its column holds.
   */
  scopeField?: { name: string; column: string }
  /** With `scopeField`, in a run with a scope (`--scope`): only the rows of that scope are read. */
  onlyScope?: string
}

export interface TargetSelection {
  /** Only these models (Prisma model names). */
  models?: readonly string[]
  /** Only these fields: `Model.field`, or a bare field name (in every selected model that has it). */
  fields?: readonly string[]
}

/** `Model.field` */
export function targetName(t: Pick<ColumnTarget, 'model' | 'field'>): string {
  return `${t.model}.${t.field}`
}

/**
 * Every annotated column of the generated encryption model, in model order, narrowed to the
 * selection. A name in the selection that matches nothing is a configuration error (a typo must
 * not turn into a migration that silently does nothing).
 */
export function columnTargets(model: EncryptionModel, selection: TargetSelection = {}): ColumnTarget[] {
  const registry = new ModelRegistry(model)
  const views = registry.all()
  const wantedModels = selection.models?.length ? new Set(selection.models.map((m) => m.toLowerCase())) : undefined
  if (wantedModels) {
    for (const m of selection.models!) {
      if (!views.some((v) => v.description.name.toLowerCase() === m.toLowerCase())) {
        throw new ConfigurationError(
          `--model ${m}: no model of that name in the encryption model (models: ${views.map((v) => v.description.name).join(', ')})`,
        )
      }
    }
  }
  const out: ColumnTarget[] = []
  const matchedFields = new Set<string>()
  for (const view of views) {
    const d = view.description
    if (wantedModels && !wantedModels.has(d.name.toLowerCase())) continue
    for (const { field, ctx } of view.encrypted.values()) {
      if (selection.fields?.length) {
        const hit = selection.fields.find(
          (f) => f === `${d.name}.${field.name}` || f === field.name || f.toLowerCase() === `${d.name}.${field.name}`.toLowerCase(),
        )
        if (!hit) continue
        matchedFields.add(hit)
      }
      if (d.primaryKeyColumns.length === 0) {
        throw new ConfigurationError(
          `${d.name}: the model has no primary key (nor a @unique or @@unique of required fields); the migration needs one to page through the table`,
        )
      }
      out.push({
        model: d.name,
        field: field.name,
        table: d.table,
        column: field.column,
        kind: field.type === 'Bytes' ? 'bytes' : 'text',
        isList: field.isList,
        primaryKey: [...d.primaryKeyColumns],
        ctx,
        blindIndexes: [...view.blindIndexes.values()].filter((b) => b.source === field.name),
        ...(d.scopeField ? { scopeField: { name: d.scopeField.name, column: d.scopeField.column } } : {}),
      })
    }
  }
  for (const f of selection.fields ?? []) {
    if (!matchedFields.has(f)) throw new ConfigurationError(`--field ${f}: no encrypted field of that name in the selected models`)
  }
  return out
}
