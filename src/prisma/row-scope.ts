import { isPlainObject } from '../engine/unknown-value'
import { ConfigurationError, ScopeChangeError, ScopeRequiredError } from '../errors'
import { checkScope } from '../keys/scope-keys'
import type { ModelView } from '../model/model-registry'

type Obj = Record<string, unknown>

/** Where a write's row scope comes from: a create's own data, or an update's `where`. */
export type ScopeSource = { kind: 'create' } | { kind: 'update'; where: unknown }

export const FROM_CREATE: ScopeSource = { kind: 'create' }

/** How this client may serve row-scoped models: refused with a client `scope`, or without `scopeKeys`. */
export interface RowScopeSetup {
  clientScope?: string
  hasScopeKeys: boolean
}

/**
 * The scope a `where` pins its rows to: `scopeField: 'a'` or `scopeField: { equals: 'a' }`, in the
 * object itself or in its top-level AND (any depth of AND). OR, NOT, `in` and relations pin nothing.
 */
export function scopeEquality(where: unknown, scopeField: string): string | undefined {
  if (!isPlainObject(where)) return undefined
  const direct = where[scopeField]
  if (typeof direct === 'string') return direct
  if (isPlainObject(direct)) {
    const keys = Object.keys(direct).filter((k) => direct[k] !== undefined)
    if (keys.length === 1 && keys[0] === 'equals' && typeof direct.equals === 'string') return direct.equals
  }
  // A compound unique input (`tenantId_id: { tenantId, id }`).
  for (const [key, value] of Object.entries(where)) {
    if (key.includes('_') && isPlainObject(value) && typeof value[scopeField] === 'string') return value[scopeField] as string
  }
  const and = where.AND
  for (const w of Array.isArray(and) ? and : and === undefined ? [] : [and]) {
    const found = scopeEquality(w, scopeField)
    if (found !== undefined) return found
  }
  return undefined
}

/** Refuses a row-scoped model on a client that cannot serve it (a ConfigurationError naming the model). */
export function checkRowScopeSetup(view: ModelView, setup: RowScopeSetup): void {
  const model = view.description.name
  const field = view.description.scopeField!.name
  if (setup.clientScope !== undefined) {
    throw new ConfigurationError(
      `${model} is row-scoped (@encryptionScope(${field})) and this client has scope '${setup.clientScope}': client scopes are for a schema or database per tenant, row scopes for shared tables; use a client without scope for ${model}`,
    )
  }
  if (!setup.hasScopeKeys) {
    throw new ConfigurationError(
      `${model} is row-scoped (@encryptionScope(${field})): fieldEncryption needs scopeKeys (in the options or the encryptor)`,
    )
  }
}

/**
 * The scope of the row a write's `data` writes, or undefined when that data seals and indexes
 * nothing (or the model is not row-scoped). A create takes it from its data, an update from its
 * `where`; an update may set the scope field only to the value its `where` pins.
 */
export function writeScopeOf(view: ModelView, data: Obj, source: ScopeSource, setup: RowScopeSetup): string | undefined {
  const scopeField = view.description.scopeField
  if (!scopeField) return undefined
  checkRowScopeSetup(view, setup)
  const name = scopeField.name
  const at = { model: view.description.name, field: name }
  const seals = Object.keys(data).some((k) => view.encrypted.has(k) && data[k] !== undefined && data[k] !== null)
  if (source.kind === 'create') {
    const value = data[name]
    // Every scope written is a scope, sealing or not: a row 'a ' (trailing space) would match
    // `tenantId = 'a'` on a PAD SPACE collation (MySQL/MariaDB) and take tenant a's values.
    if (typeof value === 'string') checkScope(value, at)
    if (!seals) return undefined
    if (value === undefined || value === null) {
      throw new ScopeRequiredError(
        at,
        `a create of ${at.model} with encrypted values needs ${name} in its data (the scalar itself, not a relation connect): it is the scope of the row's keys`,
      )
    }
    return checkScope(value, at)
  }
  const pinned = scopeEquality(source.where, name)
  const raw = data[name]
  const set = isPlainObject(raw) && Object.keys(raw).length === 1 && 'set' in raw ? raw.set : raw
  if (set !== undefined) {
    checkScope(set, at)
    if (pinned === undefined) {
      throw new ScopeRequiredError(
        at,
        `an update that sets ${name} needs ${name}: <current scope> in its where (a row cannot change scope)`,
      )
    }
    if (set !== pinned) {
      throw new ScopeChangeError(
        at,
        `an update cannot move a row from scope '${pinned}' to another: the row's other encrypted values stay sealed under '${pinned}'`,
      )
    }
  }
  if (!seals) return undefined
  if (pinned === undefined) {
    throw new ScopeRequiredError(
      at,
      `an update of ${at.model}'s encrypted fields needs the row's scope: add ${name} to the update's where (where: { ..., ${name}: <scope> })`,
    )
  }
  return checkScope(pinned, at)
}
