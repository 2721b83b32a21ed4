import { And, Equal, FindOperator, In, Not, Or } from 'typeorm'
import type { EntityMetadata } from 'typeorm'
import type { BlindIndexer } from '../blind-index/blind-indexer'
import { InvalidFieldValueError, ScopeRequiredError, UnsupportedEncryptedFieldQueryError } from '../errors'
import { checkScope } from '../keys/scope-keys'
import type { ModelRegistry, ModelView } from '../model/model-registry'

type Obj = Record<string, unknown>

export function isFindOperator(value: unknown): value is FindOperator<unknown> {
  if (value instanceof FindOperator) return true
  const tag = typeof value === 'object' && value !== null ? (value as Obj)['@instanceof'] : undefined
  return tag === Symbol.for('FindOperator') || tag === Symbol.for('EqualOperator')
}

export function isPlainObject(value: unknown): value is Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || isFindOperator(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** A condition on an encrypted field, once rewritten: on the encrypted column itself (NULL checks) or on its index. */
type Rewritten = { on: 'source' | 'index'; value: unknown }

/**
 * Rewrites find-options `where` trees (objects; arrays meaning OR; nested relation conditions)
 * for the blind indexes: equality on an encrypted field (a plain value, `Equal`, `In`, `Not`,
 * `And`, `Or` of those) becomes the same condition on its index column, over the index of every
 * configured version; `IsNull` stays on the encrypted column (NULL is stored as NULL). Anything
 * else on an encrypted field throws before a statement is built. Root keys are loaded at setup,
 * so this runs synchronously inside TypeORM's query building. The caller's objects are copied.
 */
export class FindWhereRewriter {
  /** `scope`: the scope (tenant) whose blind indexes the filters compare with, when the DataSource is scoped. */
  constructor(
    private readonly registry: ModelRegistry,
    private readonly blindIndexer: BlindIndexer | undefined,
    private readonly scope?: string,
  ) {}

  where(metadata: EntityMetadata, where: unknown): unknown {
    const view = this.registry.get(metadata.name)
    if (!view || !view.reachesEncryption) return where
    if (Array.isArray(where)) return where.map((w) => this.where(metadata, w))
    if (typeof where !== 'object' || where === null || isFindOperator(where)) return where
    const out: Obj = { ...(where as Obj) }
    for (const [key, value] of Object.entries(where as Obj)) {
      if (value === undefined) continue
      const encrypted = view.encrypted.get(key)
      if (encrypted) {
        delete out[key]
        const rewritten = this.condition(view, key, value, this.scopeOf(view, where as Obj, key, value))
        const target = rewritten.on === 'source' ? key : encrypted.field.blindIndex!
        out[target] = target in out ? And(asOperator(out[target]), asOperator(rewritten.value)) : rewritten.value
        continue
      }
      const relation = metadata.findRelationWithPropertyPath(key)
      if (relation && (isPlainObject(value) || Array.isArray(value))) out[key] = this.where(relation.inverseEntityMetadata, value)
    }
    return out
  }

  /** find-options `order`: encrypted fields cannot be ordered (ciphertext order is random). */
  order(metadata: EntityMetadata, order: unknown): void {
    const view = this.registry.get(metadata.name)
    if (!view || !view.reachesEncryption || !isPlainObject(order)) return
    for (const [key, value] of Object.entries(order)) {
      if (value === undefined) continue
      if (view.encrypted.has(key)) throw unsupported(view, key, 'order', 'ciphertexts have no meaningful order')
      const relation = metadata.findRelationWithPropertyPath(key)
      if (relation) this.order(relation.inverseEntityMetadata, value)
    }
  }

  /**
   * The scope whose blind indexes a condition compares with: the DataSource's, or, for a row-scoped
   * entity, the scope equality in the same where object (required: never a cross-tenant match).
   */
  private scopeOf(view: ModelView, where: Obj, key: string, value: unknown): string | undefined {
    const scopeField = view.description.scopeField
    if (!scopeField) return this.scope
    if (value === null || (isFindOperator(value) && value.type === 'isNull')) return undefined
    let scope = where[scopeField.name]
    if (isFindOperator(scope) && scope.type === 'equal') scope = scope.value
    if (scope === undefined || scope === null || scope === '') {
      throw new ScopeRequiredError(
        { model: view.description.name, field: key },
        `a filter on ${key} needs the equality ${scopeField.name}: <scope> in the same where object (blind indexes are per scope)`,
      )
    }
    return checkScope(scope, { model: view.description.name, field: scopeField.name })
  }

  private condition(view: ModelView, key: string, value: unknown, scope: string | undefined): Rewritten {
    if (value === null) return { on: 'source', value }
    if (!isFindOperator(value)) return { on: 'index', value: this.equalTo(view, key, [value], scope) }
    const type = value.type as string
    switch (type) {
      case 'isNull':
        return { on: 'source', value }
      case 'equal':
        return { on: 'index', value: this.equalTo(view, key, [value.value], scope) }
      case 'in': {
        const list = value.value
        if (!Array.isArray(list)) throw unsupported(view, key, 'in', 'In() needs a list of values')
        return { on: 'index', value: this.equalTo(view, key, list, scope, true) }
      }
      case 'not': {
        const inner = this.condition(view, key, value.child ?? value.value, scope)
        return { on: inner.on, value: Not(inner.value as FindOperator<unknown>) }
      }
      case 'and':
      case 'or': {
        const parts = (value.value as unknown as unknown[]).map((v) => this.condition(view, key, v, scope))
        const on = parts[0]?.on ?? 'index'
        if (parts.some((p) => p.on !== on))
          throw unsupported(view, key, type, 'IsNull cannot be combined with equality on an encrypted field in one And/Or')
        const ops = parts.map((p) => asOperator(p.value))
        return { on, value: type === 'and' ? And(...ops) : Or(...ops) }
      }
      default:
        throw unsupported(view, key, type, 'only equality (through its blind index) and IsNull can be answered on ciphertext')
    }
  }

  /** Equality with any of `values`: the index of each value under every configured version. */
  private equalTo(view: ModelView, key: string, values: unknown[], scope: string | undefined, alwaysList = false): unknown {
    const model = view.description.name
    const indexName = view.encrypted.get(key)!.field.blindIndex
    const field = indexName ? this.blindIndexer?.indexNamed(model, indexName) : undefined
    if (!field) throw unsupported(view, key, 'equals', 'the field has no @BlindIndex, so equality cannot be answered')
    const hashes: string[] = []
    for (const v of values) {
      if (isFindOperator(v)) throw unsupported(view, key, String(v.type), 'only plain values can be compared with an encrypted field')
      if (typeof v !== 'string') throw new InvalidFieldValueError({ model, field: key }, 'a string', v === null ? 'null' : typeof v)
      hashes.push(...this.blindIndexer!.candidates(field, v, scope))
    }
    return hashes.length === 1 && !alwaysList ? hashes[0] : In(hashes)
  }
}

function asOperator(value: unknown): FindOperator<unknown> {
  return isFindOperator(value) ? value : Equal(value)
}

function unsupported(view: ModelView, field: string, operator: string, reason: string): UnsupportedEncryptedFieldQueryError {
  return new UnsupportedEncryptedFieldQueryError({ model: view.description.name, field }, operator, reason)
}
