import type { EntityMetadata } from 'typeorm'
import { isPlainObject } from '../engine/unknown-value'
import type { ModelRegistry } from '../model/model-registry'

type Obj = Record<string, unknown>

/**
 * A find's `select` with the scope column added wherever it selects an encrypted column of a
 * row-scoped entity (@EncryptionScope) without it, at any relation depth: each row's values are
 * sealed under its scope, so they cannot be read without it. The entity then carries its scope
 * property too. The object form of `select` only (`{ id: true, email: true }`); the array form and
 * query builders are left as they are (a read without the scope column is refused,
 * `ScopeRequiredError`). Unchanged (the same object) when nothing needs adding.
 */
export function withScopeColumns(registry: ModelRegistry, metadata: EntityMetadata, select: unknown): unknown {
  if (!isPlainObject(select)) return select
  let out: Obj | undefined
  const set = (key: string, value: unknown) => ((out ??= { ...select })[key] = value)
  for (const [key, value] of Object.entries(select)) {
    const relation = metadata.relations.find((r) => r.propertyName === key)
    if (relation && isPlainObject(value)) {
      const inner = withScopeColumns(registry, relation.inverseEntityMetadata, value)
      if (inner !== value) set(key, inner)
    }
  }
  const view = registry.get(metadata.name)
  const scopeField = view?.description.scopeField
  if (scopeField && select[scopeField.name] !== true && Object.keys(select).some((k) => view.encrypted.has(k) && select[k] === true))
    set(scopeField.name, true)
  return out ?? select
}
