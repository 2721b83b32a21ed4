import type { FieldContext } from '../cipher/field-context'
import { ConfigurationError } from '../errors'
import type { BlindIndexModel, EncryptedFieldModel, EncryptionModel, ModelDescription } from '../model/encryption-model'
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
  /**
   * The field's key-header column (stored format v2): read with every value, written with every
   * value written, compared by the compare-and-set. Set when the model gives the field a key header
   * (`ctx.shortForm`: values are written in the short form), or from `formerKeyHeaders` for a field
   * whose model no longer does (values are written in version 1 and the column set to NULL).
   */
  keyHeader?: { name: string; column: string }
}

export interface TargetSelection {
  /** Only these models (Prisma model names). */
  models?: readonly string[]
  /** Only these fields: `Model.field`, or a bare field name (in every selected model that has it). */
  fields?: readonly string[]
  /**
   * `Model.field` -> column: the key-header column of a field whose model no longer gives it one
   * (its `@keyHeader` was removed), so that its short values can be read (and moved back to version 1).
   */
  formerKeyHeaders?: Readonly<Record<string, string>>
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
  const former = formerKeyHeadersOf(model, selection.formerKeyHeaders)
  const out: ColumnTarget[] = []
  const matchedFields = new Set<string>()
  for (const view of views) {
    const d = view.description
    if (wantedModels && !wantedModels.has(d.name.toLowerCase())) continue
    checkKeyHeaderColumns(d, former)
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
        ...keyHeaderOf(d, field, former),
      })
    }
  }
  for (const f of selection.fields ?? []) {
    if (!matchedFields.has(f)) throw new ConfigurationError(`--field ${f}: no encrypted field of that name in the selected models`)
  }
  return out
}

/** The key-header column of a field: the model's, or the one `formerKeyHeaders` names. */
function keyHeaderOf(
  d: ModelDescription,
  field: EncryptedFieldModel,
  former: ReadonlyMap<string, string>,
): Pick<ColumnTarget, 'keyHeader'> {
  if (field.keyHeader) return { keyHeader: { name: field.keyHeader.name, column: field.keyHeader.column } }
  const column = former.get(`${d.name}.${field.name}`)
  return column === undefined ? {} : { keyHeader: { name: column, column } }
}

/**
 * `formerKeyHeaders` checked against the model: each names an encrypted field (`Model.field`)
 * that has no key header in the model (one that has is read from its own).
 */
function formerKeyHeadersOf(model: EncryptionModel, former: Readonly<Record<string, string>> | undefined): Map<string, string> {
  const out = new Map<string, string>()
  for (const [name, column] of Object.entries(former ?? {})) {
    const [modelName, fieldName, ...rest] = name.split('.')
    const field = rest.length === 0 && fieldName !== undefined ? model.models[modelName!]?.encryptedFields[fieldName] : undefined
    if (!field) throw new ConfigurationError(`formerKeyHeaders: ${name} is not an encrypted field (Model.field) of the encryption model`)
    if (field.keyHeader) {
      throw new ConfigurationError(
        `formerKeyHeaders: ${name} has a key header in the model (${field.keyHeader.name}); it is read from there`,
      )
    }
    if (typeof column !== 'string' || column === '') throw new ConfigurationError(`formerKeyHeaders: ${name} needs a column name`)
    out.set(name, column)
  }
  return out
}

/**
 * The migration works column by column: a key-header column shared by two fields would have one
 * field's run overwrite the header the other's values need, and a list holds values sealed under
 * several data keys that one header cannot serve. Both are refused before anything is read.
 */
function checkKeyHeaderColumns(d: ModelDescription, former: ReadonlyMap<string, string>): void {
  const owners = new Map<string, string>()
  const encryptedColumns = new Set(Object.values(d.encryptedFields).map((f) => f.column))
  for (const field of Object.values(d.encryptedFields)) {
    const column = field.keyHeader?.column ?? former.get(`${d.name}.${field.name}`)
    if (column === undefined) continue
    if (field.isList) {
      throw new ConfigurationError(`${d.name}.${field.name}: the migration does not handle a key header on a list field (String[])`)
    }
    const other = owners.get(column)
    if (other !== undefined) {
      throw new ConfigurationError(
        `${d.name}: fields ${other} and ${field.name} share the key-header column "${column}"; the migration needs one key-header column per field`,
      )
    }
    if (encryptedColumns.has(column) || d.primaryKeyColumns.includes(column) || d.scopeField?.column === column) {
      throw new ConfigurationError(`${d.name}.${field.name}: key-header column "${column}" is also an encrypted, key or scope column`)
    }
    owners.set(column, field.name)
  }
}
