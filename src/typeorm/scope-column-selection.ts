import type { EntityMetadata } from 'typeorm'
import { isPlainObject } from '../engine/unknown-value'
import type { ModelRegistry } from '../model/model-registry'

type Obj = Record<string, unknown>

/**
 * A find's `select` with the scope column added when it selects an encrypted column of a
 * row-scoped entity (@EncryptionScope) without it: each row's values are sealed under its scope,
 * so they cannot be read without it. The entity then carries its scope property too. The find's
 * own entity and the object form of `select` only (`{ id: true, email: true }`); a relation's
 * select, the array form and query builders are left as they are (a read without the scope
 * column is refused, `ScopeRequiredError`). Unchanged (the same object) when nothing needs adding.
 */
export function withScopeColumns(registry: ModelRegistry, metadata: EntityMetadata, select: unknown): unknown {
  if (!isPlainObject(select)) return select
  const view = registry.get(metadata.name)
  const scopeField = view?.description.scopeField
  if (!scopeField || select[scopeField.name] === true) return select
  const readsEncrypted = Object.keys(select).some((k) => view.encrypted.has(k) && select[k] === true)
  return readsEncrypted ? ({ ...select, [scopeField.name]: true } as Obj) : select
}
