import {
  DeleteQueryBuilder,
  EntityManager,
  InsertQueryBuilder,
  SelectQueryBuilder,
  UpdateQueryBuilder,
  type DataSource,
  type EntityMetadata,
} from 'typeorm'
import { ConfigurationError, ScopeChangeError, ScopeRequiredError, UnsupportedEncryptedFieldQueryError } from '../errors'
import type { ModelRegistry } from '../model/model-registry'
import type { EntityValues } from './entity-values'
import { addKeyHeaderSelections, removeAddedKeyHeaders, type SelectExpression } from './key-header-selection'
import { withScopeColumns } from './scope-column-selection'
import { isFindOperator, isPlainObject, type FindWhereRewriter } from './find-where-rewriter'

/** What the hooks need of a DataSource set up by `encryptDataSource`. */
export interface HookedDataSource {
  registry: ModelRegistry
  rewriter: FindWhereRewriter
  values: EntityValues
}

const hooked = new WeakMap<object, HookedDataSource>()

// TypeORM's builder methods, wrapped whatever their signature: their types are TypeORM's own.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...args: any[]) => any

interface Builder {
  dataSource?: DataSource
  connection?: DataSource
  expressionMap: {
    mainAlias?: { hasMetadata: boolean; metadata: EntityMetadata }
    aliases: Array<{ name: string; hasMetadata: boolean; metadata: EntityMetadata }>
  }
}

function stateOf(owner: { dataSource?: DataSource; connection?: DataSource }): HookedDataSource | undefined {
  const dataSource = 'dataSource' in owner && owner.dataSource ? owner.dataSource : owner.connection
  return dataSource ? hooked.get(dataSource) : undefined
}

function mainMetadata(qb: Builder): EntityMetadata | undefined {
  const alias = qb.expressionMap.mainAlias
  return alias?.hasMetadata ? alias.metadata : undefined
}

function wrap(proto: object, name: string, make: (original: Fn) => Fn): void {
  const target = proto as Record<string, Fn & { kfeHooked?: true }>
  const original = target[name]
  if (typeof original !== 'function' || original.kfeHooked) return
  const wrapped = make(original) as Fn & { kfeHooked?: true }
  wrapped.kfeHooked = true
  target[name] = wrapped
}

function refuseEncrypted(state: HookedDataSource, metadata: EntityMetadata, property: string, operator: string, reason: string): void {
  const view = state.registry.get(metadata.name)
  const column = metadata.findColumnWithPropertyPath(property) ?? metadata.findColumnWithDatabaseName(property)
  const name = column?.propertyName ?? property
  if (view?.encrypted.has(name)) throw new UnsupportedEncryptedFieldQueryError({ model: metadata.name, field: name }, operator, reason)
}

/**
 * The scope equalities an UPDATE builder's object conditions put on a row-scoped entity: the one
 * scope its rows are all of, or `undefined` when unknown (no such condition, an OR, a string condition).
 */
const builderScopes = new WeakMap<object, unknown>()

function scopeEquality(metadata: EntityMetadata, state: HookedDataSource, where: unknown): unknown {
  const scopeField = state.registry.get(metadata.name)?.description.scopeField
  if (!scopeField || !isPlainObject(where)) return undefined
  const value = where[scopeField.name]
  return isFindOperator(value) ? (value.type === 'equal' ? value.value : undefined) : value
}

/** `where(object)` and friends: object conditions get the same rewrite as find options. */
function objectWhere(original: Fn, name: string): Fn {
  return function (this: Builder, where: unknown, ...rest: unknown[]) {
    const state = stateOf(this)
    const metadata = state && mainMetadata(this)
    const rewritable = isPlainObject(where) || (Array.isArray(where) && where.every(isPlainObject))
    if (
      metadata &&
      this instanceof UpdateQueryBuilder &&
      typeof where === 'string' &&
      state.registry.get(metadata.name)?.description.scopeField
    ) {
      // TypeORM joins string conditions without parentheses: `tenant = 'A' AND id = 1 OR id = 2`
      // would reach other tenants' rows. In parentheses, a string can only narrow an AND.
      where = `(${where})`
    }
    if (metadata && this instanceof UpdateQueryBuilder) {
      const scope = scopeEquality(metadata, state, where)
      const current = builderScopes.get(this)
      // andWhere narrows (two different scopes match nothing: treated as unknown), orWhere widens.
      if (name === 'where') builderScopes.set(this, scope)
      else if (name === 'orWhere') builderScopes.set(this, undefined)
      else if (scope !== undefined) builderScopes.set(this, current === undefined || current === scope ? scope : undefined)
    }
    return original.call(this, metadata && rewritable ? state.rewriter.where(metadata, where) : where, ...rest)
  }
}

/**
 * An UPDATE of a row-scoped entity that sets encrypted values or the scope: its object condition
 * must hold the scope equality (the rows' scope), which the values are then encrypted under.
 */
function checkUpdateScope(qb: Builder & { expressionMap: { valuesSet?: unknown } }, state: HookedDataSource): void {
  const metadata = mainMetadata(qb)
  const view = metadata && state.registry.get(metadata.name)
  const scopeField = view?.description.scopeField
  const set = qb.expressionMap.valuesSet
  if (!view || !scopeField || !isPlainObject(set)) return
  const touched = scopeField.name in set || [...view.encrypted.keys()].some((p) => set[p] !== undefined && set[p] !== null)
  if (!touched) return
  // save()'s own UPDATE (listeners off, the row named by its key): its values were sealed after
  // the stored row's scope was checked (EntityValues.verifyRowScope).
  const listenersOff = (qb.expressionMap as { callListeners?: boolean }).callListeners === false
  if (listenersOff && !(scopeField.name in set) && state.values.takeVerified(view, set)) return
  const scope = builderScopes.get(qb)
  const field = scopeField.name in set ? scopeField.name : [...view.encrypted.keys()].find((p) => set[p] !== undefined)!
  if (scope === undefined || scope === null) {
    throw new ScopeRequiredError(
      { model: view.description.name, field },
      `an update of ${field} needs the equality ${scopeField.name}: <scope> in its where object (the rows' scope)`,
    )
  }
  if (scopeField.name in set && set[scopeField.name] !== scope)
    throw new ScopeChangeError({ model: view.description.name, field: scopeField.name }, 'an update cannot move rows to another scope')
  set[scopeField.name] = scope
}

/**
 * An INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE (`orUpdate`, `repo.upsert`) of an entity with
 * encrypted columns. The row it updates is the one it conflicts with, which the adapter never sees:
 * - row-scoped: that row may be another tenant's, so overwriting an encrypted column or the scope
 *   is refused unless the conflict target holds the scope column (then the rows share the scope);
 * - a blind-indexed column it overwrites gets its index column overwritten too (TypeORM picks the
 *   columns before the index is set), and a short-form column (format version 2) its key-header column.
 */
function checkUpsert(qb: Builder, state: HookedDataSource): void {
  checkRawConflict(qb, state)
  const onUpdate = (qb.expressionMap as { onUpdate?: { overwrite?: string[]; columns?: unknown; conflict?: string | string[] } }).onUpdate
  const metadata = onUpdate && mainMetadata(qb)
  const view = metadata && state.registry.get(metadata.name)
  if (!onUpdate || !metadata || !view) return
  const overwrite = Array.isArray(onUpdate.overwrite) ? onUpdate.overwrite : undefined
  const columnOf = (property: string) => metadata.findColumnWithPropertyName(property)?.databaseName ?? property
  const encryptedColumns = [...view.encrypted.keys()].map(columnOf)
  const scopeField = view.description.scopeField
  if (scopeField) {
    const scopeColumn = columnOf(scopeField.name)
    const conflict = Array.isArray(onUpdate.conflict) ? onUpdate.conflict : onUpdate.conflict ? [onUpdate.conflict] : []
    const touches = !overwrite || overwrite.some((c) => c === scopeColumn || encryptedColumns.includes(c))
    if (touches && !conflict.includes(scopeColumn)) {
      throw new ScopeRequiredError(
        { model: view.description.name, field: scopeField.name },
        `an upsert (orUpdate, upsert) that overwrites encrypted values or ${scopeField.name} needs ${scopeField.name} in its conflict target: the row it updates may be another scope's`,
      )
    }
  }
  if (!overwrite) return
  for (const [property, { field }] of view.encrypted) {
    if (!overwrite.includes(columnOf(property))) continue
    for (const companion of [field.blindIndex, field.keyHeader?.name]) {
      if (companion === undefined) continue
      const column = columnOf(companion)
      if (!overwrite.includes(column)) overwrite.push(column)
    }
  }
}

/** A raw conflict clause that only does nothing: `DO NOTHING`, after an optional `(columns)` target. */
const RAW_DO_NOTHING = /^\s*(\([^()]*\)\s*)?DO\s+NOTHING\s*$/i

/**
 * TypeORM 0.3's `onConflict(statement)` (raw SQL, removed in 1.x), which TypeORM puts into the
 * INSERT ahead of `orUpdate`: the adapter cannot see what its `DO UPDATE SET` overwrites, so an
 * encrypted column overwritten there would lose its key header (format version 2: the old one
 * stays, and the value no longer opens once the cache is cold), its blind index, or its row's
 * scope. Refused on an entity with encrypted columns, unless it only does nothing.
 */
function checkRawConflict(qb: Builder, state: HookedDataSource): void {
  const map = qb.expressionMap as { onConflict?: unknown; onIgnore?: unknown }
  if (map.onIgnore || map.onConflict === undefined || map.onConflict === null || map.onConflict === '') return
  const metadata = mainMetadata(qb)
  const view = metadata && state.registry.get(metadata.name)
  if (!view || view.encrypted.size === 0) return
  if (typeof map.onConflict === 'string' && RAW_DO_NOTHING.test(map.onConflict)) return
  throw new UnsupportedEncryptedFieldQueryError(
    { model: view.description.name },
    'onConflict',
    'a raw conflict clause may overwrite encrypted columns without their key headers, blind indexes or scope: use orUpdate',
  )
}

/** `orderBy('alias.property')`: refused on an encrypted property of any joined entity. */
function checkedOrder(original: Fn): Fn {
  return function (this: Builder, sort: unknown, ...rest: unknown[]) {
    const state = stateOf(this)
    if (state) {
      const keys = typeof sort === 'string' ? [sort] : isPlainObject(sort) ? Object.keys(sort) : []
      for (const key of keys) {
        const [aliasName, property] = key.split('.')
        const alias = property && this.expressionMap.aliases.find((a) => a.name === aliasName && a.hasMetadata)
        if (alias) refuseEncrypted(state, alias.metadata, property, 'order', 'ciphertexts have no meaningful order')
      }
    }
    return original.call(this, sort, ...rest)
  }
}

/**
 * Hooks TypeORM's query building, once per process, for the DataSources set up by
 * `encryptDataSource` (the others pass straight through): find options and object `where`
 * conditions are rewritten for blind indexes, orderings and aggregates on encrypted properties
 * are refused, and `save()` gets its caller's objects back in plaintext when it settles.
 */
export function hookQueries(dataSource: DataSource, state: HookedDataSource): void {
  if (!(dataSource.createQueryBuilder() instanceof SelectQueryBuilder) || !(dataSource.manager instanceof EntityManager)) {
    throw new ConfigurationError(
      'the DataSource comes from another copy of typeorm than kms-field-encryption/typeorm loads; install a single typeorm',
    )
  }
  hooked.set(dataSource, state)
  // Not exported by typeorm's index: reached through an instance.
  const softDelete = Object.getPrototypeOf(dataSource.createQueryBuilder().softDelete()) as object

  wrap(
    SelectQueryBuilder.prototype,
    'setFindOptions',
    (original) =>
      function (this: Builder, options: Record<string, unknown> | undefined) {
        const state = stateOf(this)
        const metadata = state && mainMetadata(this)
        if (!metadata || !options) return original.call(this, options)
        if (options.order) state.rewriter.order(metadata, options.order)
        let next = options.where === undefined ? options : { ...options, where: state.rewriter.where(metadata, options.where) }
        const select = withScopeColumns(state.registry, metadata, options.select)
        if (select !== options.select) next = { ...next, select }
        return original.call(this, next)
      },
  )
  // Entity reads: short-form properties selected without their key headers get them (then lose them).
  wrap(
    SelectQueryBuilder.prototype,
    'executeEntitiesAndRawResults',
    (original) =>
      async function (this: Builder, ...args: unknown[]) {
        const state = stateOf(this)
        const map = this.expressionMap as unknown as SelectExpression
        const added = state && addKeyHeaderSelections(state.registry, map)
        if (!added) return original.apply(this, args)
        let result: { entities?: unknown } | undefined
        try {
          result = (await original.apply(this, args)) as { entities?: unknown }
          return result
        } finally {
          removeAddedKeyHeaders(map, result?.entities, added)
        }
      },
  )
  for (const proto of [SelectQueryBuilder.prototype, UpdateQueryBuilder.prototype, DeleteQueryBuilder.prototype, softDelete]) {
    for (const name of ['where', 'andWhere', 'orWhere']) wrap(proto, name, (original) => objectWhere(original, name))
  }
  for (const proto of [SelectQueryBuilder.prototype, UpdateQueryBuilder.prototype, softDelete]) {
    for (const name of ['orderBy', 'addOrderBy']) wrap(proto, name, checkedOrder)
  }

  // A failed INSERT/UPDATE gets no "after" event: its value objects get their plaintexts back here.
  for (const proto of [InsertQueryBuilder.prototype, UpdateQueryBuilder.prototype]) {
    wrap(
      proto,
      'execute',
      (original) =>
        async function (this: Builder & { expressionMap: { valuesSet?: unknown } }, ...args: unknown[]) {
          const state = stateOf(this)
          if (!state) return original.apply(this, args)
          if (this instanceof UpdateQueryBuilder) checkUpdateScope(this, state)
          else checkUpsert(this, state)
          try {
            return await original.apply(this, args)
          } finally {
            const set = this.expressionMap.valuesSet
            for (const values of Array.isArray(set) ? set : [set])
              if (values && typeof values === 'object') state.values.written(values as never)
          }
        },
    )
  }

  const manager = EntityManager.prototype
  wrap(
    manager,
    'callAggregateFun',
    (original) =>
      function (this: EntityManager, target: unknown, fn: string, column: string, ...rest: unknown[]) {
        const state = stateOf(this as never)
        try {
          if (state)
            refuseEncrypted(state, this.connection.getMetadata(target as never), column, fn, 'an aggregate of ciphertexts means nothing')
        } catch (err) {
          return Promise.reject(err)
        }
        return original.call(this, target, fn, column, ...rest)
      },
  )
  for (const name of ['increment', 'decrement']) {
    wrap(
      manager,
      name,
      (original) =>
        function (this: EntityManager, target: unknown, conditions: unknown, property: string, ...rest: unknown[]) {
          const state = stateOf(this as never)
          try {
            if (state) refuseEncrypted(state, this.connection.getMetadata(target as never), property, name, 'ciphertext is not a number')
          } catch (err) {
            return Promise.reject(err)
          }
          return original.call(this, target, conditions, property, ...rest)
        },
    )
  }
  wrap(
    manager,
    'save',
    (original) =>
      function (this: EntityManager, ...args: unknown[]) {
        const state = stateOf(this as never)
        return state ? state.values.aroundSave(args, () => original.apply(this, args)) : original.apply(this, args)
      },
  )
}

/** The hooked state of a DataSource, if `encryptDataSource` set it up. */
export function hookedStateOf(dataSource: DataSource): HookedDataSource | undefined {
  return hooked.get(dataSource)
}
