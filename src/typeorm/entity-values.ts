import type { BlindIndexer } from '../blind-index/blind-indexer'
import type { EnvelopeEncryptor, FieldValue, StoredValue } from '../engine/envelope-encryptor'
import { ValueBatch } from '../engine/value-batch'
import {
  BlindIndexWriteError,
  ConfigurationError,
  InvalidFieldValueError,
  KeyHeaderWriteError,
  ScopeChangeError,
  ScopeRequiredError,
} from '../errors'
import { LRUCache } from 'lru-cache'
import { checkScope } from '../keys/scope-keys'
import type { ModelView } from '../model/model-registry'

type Entity = Record<string, unknown>

/** What the adapter knows of a field of an entity object: its plaintext and the value stored for it. */
interface KnownValue {
  /** Whether plain and stored are known (only the index is, when the source was not loaded). */
  hasValue: boolean
  plain?: unknown
  stored?: unknown
  /** The blind index stored beside it, when the entity holds it. */
  index?: unknown
  /** A short-form field's (format version 2): the key header stored beside it, when known. */
  header?: unknown
}

/** The entities loaded in one tick, decrypted together. */
interface LoadBatch {
  views: ModelView[]
  entities: Entity[]
  done: Promise<void>
}

function samePlaintext(a: unknown, b: unknown): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => samePlaintext(v, b[i]))
  return false
}

function asBuffer(value: StoredValue): StoredValue {
  return typeof value === 'string' || Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

/**
 * Encrypts and decrypts the encrypted properties of entity objects in place, for TypeORM's
 * entity events. A write puts ciphertexts (and blind indexes) into the object just before
 * TypeORM builds the statement; once written, the plaintexts are put back. Objects loaded or
 * written are remembered (weakly) with their stored values, so saving a loaded entity whose
 * encrypted values did not change writes nothing new for them.
 */
export class EntityValues {
  private readonly known = new WeakMap<object, Map<string, KnownValue>>()
  /** The scope value of row-scoped entities as loaded (or last written): a row's scope cannot change. */
  private readonly loadedScope = new WeakMap<object, unknown>()
  /**
   * The key headers (format version 2) each object held as loaded, or as the adapter set them on a
   * write, by key-header property: any other value in a write is a key header set by hand.
   */
  private readonly knownHeaders = new WeakMap<object, Map<string, unknown>>()
  // Ciphertexts sealed by a save() whose stored row was checked to be of their scope (bounded:
  // an UPDATE that never came leaves its values to age out).
  private readonly verified = new LRUCache<string, true>({ max: 10_000 })
  private readonly pending = new WeakMap<object, { view: ModelView; restore: Array<{ property: string; plain: unknown }> }>()

  private loads: LoadBatch | undefined

  /** `scope`: the scope (tenant) of every value this DataSource writes and reads, when it is scoped. */
  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    private readonly blindIndexer: BlindIndexer | undefined,
    private readonly scope?: string,
  ) {}

  /**
   * Decrypts a loaded entity's encrypted properties (those it holds). TypeORM announces loaded
   * entities one by one, all in the same tick, then awaits them together: the entities of a tick
   * share one batch (one `decryptMany`, each data key resolved once, one promise), as a Prisma
   * result does.
   */
  decrypt(view: ModelView, entity: Entity): Promise<void> {
    let batch = this.loads
    if (!batch) {
      const fresh: LoadBatch = { views: [], entities: [], done: undefined as unknown as Promise<void> }
      fresh.done = Promise.resolve().then(() => this.decryptBatch(fresh))
      this.loads = batch = fresh
    }
    batch.views.push(view)
    batch.entities.push(entity)
    return batch.done
  }

  private async decryptBatch(batch: LoadBatch): Promise<void> {
    if (this.loads === batch) this.loads = undefined
    const items: FieldValue[] = []
    const spotEntity: Entity[] = []
    const spotProperty: string[] = []
    const spotIndex: number[] = [] // -1: a single value; otherwise the list position
    batch.entities.forEach((entity, e) => {
      const view = batch.views[e]!
      const scopeField = view.description.scopeField
      let rowScope = this.scope
      if (scopeField) {
        rowScope = entity[scopeField.name] as string | undefined
        if (rowScope !== undefined) this.loadedScope.set(entity, rowScope)
      }
      let known: Map<string, KnownValue> | undefined
      for (const [property, { field, ctx }] of view.encrypted) {
        const value = entity[property]
        const headerName = field.keyHeader?.name
        const header = headerName === undefined ? undefined : entity[headerName]
        if (headerName !== undefined && header !== undefined) this.headersOf(entity).set(headerName, header)
        if (scopeField && value !== null && value !== undefined && rowScope === undefined) {
          throw new ScopeRequiredError(
            { model: view.description.name, field: property },
            `its row's scope column '${scopeField.name}' was not selected; select it to read the encrypted values`,
          )
        }
        if (field.blindIndex && entity[field.blindIndex] !== undefined) {
          ;(known ??= this.knownOf(entity)).set(property, { hasValue: false, index: entity[field.blindIndex] })
        }
        if (value === null || value === undefined) continue
        if (field.isList && Array.isArray(value)) {
          entity[property] = [...value]
          for (let i = 0; i < value.length; i++) {
            items.push(this.item(value[i], ctx, rowScope))
            spotEntity.push(entity)
            spotProperty.push(property)
            spotIndex.push(i)
          }
        } else {
          items.push(this.item(value, ctx, rowScope, header))
          spotEntity.push(entity)
          spotProperty.push(property)
          spotIndex.push(-1)
        }
        ;(known ??= this.knownOf(entity)).set(property, {
          hasValue: true,
          plain: undefined,
          stored: value,
          index: field.blindIndex ? entity[field.blindIndex] : undefined,
          header,
        })
      }
    })
    if (items.length === 0) return
    const plains = await this.encryptor.decryptMany(items)
    for (let i = 0; i < plains.length; i++) {
      const entity = spotEntity[i]!
      const property = spotProperty[i]!
      const plain = asBuffer(plains[i]!)
      if (spotIndex[i]! < 0) entity[property] = plain
      else (entity[property] as unknown[])[spotIndex[i]!] = plain
    }
    // What was stored is known now with its plaintext (lists: the decrypted copy, kept apart from the caller's).
    for (let i = 0; i < spotEntity.length; i++) {
      const known = this.known.get(spotEntity[i]!)!.get(spotProperty[i]!)!
      if (known.plain === undefined) {
        const current = spotEntity[i]![spotProperty[i]!]
        known.plain = Array.isArray(current) ? [...current] : current
      }
    }
  }

  /**
   * Before TypeORM builds an INSERT or UPDATE from `entity`: each encrypted property it sets is
   * replaced by its ciphertext (or by the stored value, if it is unchanged since it was loaded),
   * and its blind index is set beside it, and a short-form field's key header (format version 2).
   * `databaseEntity` (the row TypeORM compares against) gets its stored values back, so unchanged
   * values compare equal.
   */
  async encrypt(view: ModelView, entity: Entity, databaseEntity?: Entity): Promise<void> {
    const model = view.description.name
    const known = this.known.get(entity)
    const scope = this.writeScope(view, entity)
    for (const [property, { field }] of view.encrypted)
      if (field.keyHeader) this.checkKeyHeaderUntouched(model, property, field.keyHeader.name, entity, databaseEntity)
    const batch = new ValueBatch(scope)
    const restore: Array<{ property: string; plain: unknown }> = []
    const headersBefore: Array<{ name: string; header: unknown }> = []
    const setHeader = (name: string, header: unknown) => {
      headersBefore.push({ name, header: entity[name] })
      entity[name] = header
    }
    const undo = () => {
      for (const r of restore) entity[r.property] = r.plain
      for (let i = headersBefore.length - 1; i >= 0; i--) entity[headersBefore[i]!.name] = headersBefore[i]!.header
    }
    const indexes: Array<() => void> = []
    for (const [property, { field, ctx }] of view.encrypted) {
      const value = entity[property]
      const indexName = field.blindIndex
      const headerName = field.keyHeader?.name
      if (value === undefined) {
        if (indexName) this.checkIndexUntouched(model, property, indexName, entity, known?.get(property))
        continue
      }
      if (value === null) {
        if (indexName) entity[indexName] = null
        if (headerName !== undefined) setHeader(headerName, null)
        continue
      }
      restore.push({ property, plain: value })
      const before = known?.get(property)
      // A short value is reused only with the key header it was stored with (written beside it again).
      if (before?.hasValue && samePlaintext(before.plain, value) && (headerName === undefined || before.header !== undefined)) {
        entity[property] = before.stored
        if (indexName && before.index !== undefined) entity[indexName] = before.index
        if (headerName !== undefined) setHeader(headerName, before.header)
        continue
      }
      if (field.isList) {
        if (!Array.isArray(value)) throw new InvalidFieldValueError({ model, field: property }, 'an array', typeof value)
        const list: unknown[] = new Array(value.length)
        for (let i = 0; i < value.length; i++) batch.add(value[i], ctx, list, i)
        entity[property] = list
      } else {
        batch.add(value, ctx, entity, property)
        if (headerName !== undefined) {
          headersBefore.push({ name: headerName, header: entity[headerName] })
          batch.keyHeaderTo(entity, headerName)
        }
      }
      if (indexName) indexes.push(this.indexWriter(model, property, indexName, value, entity, scope))
    }
    if (batch.size > 0) {
      try {
        batch.assignSealed(await this.encryptor.encryptManyWithKeyHeaders(batch.items))
      } catch (err) {
        undo()
        throw err
      }
    }
    // The key headers put in are the adapter's: a later write of this object may carry them.
    for (const { name } of headersBefore) this.headersOf(entity).set(name, entity[name])
    for (const write of indexes) write()
    if (restore.length > 0) this.pending.set(entity, { view, restore })
    if (scope !== undefined && view.description.scopeField && databaseEntity) {
      try {
        this.verifyRowScope(view, entity, databaseEntity, scope)
      } catch (err) {
        undo()
        this.pending.delete(entity)
        throw err
      }
    }
    if (databaseEntity) {
      const old = this.known.get(databaseEntity)
      for (const [property, value] of old ?? [])
        if (value.hasValue && samePlaintext(databaseEntity[property], value.plain)) databaseEntity[property] = value.stored
    }
  }

  /**
   * A `save()` of a row-scoped entity: TypeORM's UPDATE names the row by its primary key only, so
   * the row as stored (`databaseEntity`) must be of the scope the values were sealed under; its
   * ciphertexts are then remembered as verified, which lets that UPDATE through (`takeVerified`).
   */
  private verifyRowScope(view: ModelView, entity: Entity, databaseEntity: Entity, scope: string): void {
    const scopeField = view.description.scopeField!
    const stored = databaseEntity[scopeField.name]
    if (stored === undefined) return // not loaded: the UPDATE stays unverified (refused)
    if (stored !== scope) {
      throw new ScopeChangeError(
        { model: view.description.name, field: scopeField.name },
        'the scope of a stored row cannot change (its values are bound to it)',
      )
    }
    for (const property of view.encrypted.keys()) {
      const value = entity[property]
      for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') this.verified.set(v, true)
    }
  }

  /**
   * Whether every encrypted value an UPDATE sets was sealed by a verified `save()` (see
   * `verifyRowScope`); each is forgotten once asked for. False when any is not (or none is set).
   */
  takeVerified(view: ModelView, set: Record<string, unknown>): boolean {
    const values: string[] = []
    for (const property of view.encrypted.keys()) {
      const value = set[property]
      if (value === undefined || value === null) continue
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v !== 'string' || !this.verified.has(v)) return false
        values.push(v)
      }
    }
    for (const v of values) this.verified.delete(v)
    return values.length > 0
  }

  /** After the statement: the plaintexts go back into the caller's object, remembered with what was stored. */
  written(entity: Entity): void {
    const found = this.pending.get(entity)
    if (!found) return
    const { view, restore } = found
    this.pending.delete(entity)
    const known = this.knownOf(entity)
    const scopeField = view.description.scopeField
    if (scopeField && typeof entity[scopeField.name] === 'string') this.loadedScope.set(entity, entity[scopeField.name])
    for (const { property, plain } of restore) {
      const field = view.encrypted.get(property)?.field
      const indexName = field?.blindIndex
      const headerName = field?.keyHeader?.name
      known.set(property, {
        hasValue: true,
        plain,
        stored: entity[property],
        index: indexName ? entity[indexName] : undefined,
        header: headerName === undefined ? undefined : entity[headerName],
      })
      entity[property] = plain
    }
  }

  /**
   * Runs one `save()` call, then puts the plaintexts back into every object of the graph it was
   * given. TypeORM announces "after" events only for the rows it wrote: an entity whose values all
   * turned out unchanged (no UPDATE) would otherwise keep the stored values it was given.
   */
  async aroundSave<T>(saved: unknown, run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } finally {
      this.restoreGraph(saved, new Set(), 0)
    }
  }

  private restoreGraph(value: unknown, seen: Set<object>, depth: number): void {
    if (typeof value !== 'object' || value === null || seen.has(value) || depth > 16) return
    if (value instanceof Uint8Array || value instanceof Date) return
    seen.add(value)
    if (Array.isArray(value)) {
      for (const v of value) this.restoreGraph(v, seen, depth + 1)
      return
    }
    this.written(value as Entity)
    for (const v of Object.values(value)) if (typeof v === 'object' && v !== null) this.restoreGraph(v, seen, depth + 1)
  }

  /** The index value to store for `value`, computed after the values are type-checked by the encryptor. */
  private indexWriter(
    model: string,
    property: string,
    indexName: string,
    value: unknown,
    entity: Entity,
    scope: string | undefined,
  ): () => void {
    const field = this.blindIndexer?.indexNamed(model, indexName)
    if (!field) throw new ConfigurationError(`${model}.${property}: its blind index ${indexName} is not configured; nothing was written`)
    if (typeof value !== 'string') throw new InvalidFieldValueError({ model, field: property }, 'a string', typeof value)
    const hash = this.blindIndexer!.compute(field, value, scope)
    return () => (entity[indexName] = hash)
  }

  /**
   * The scope of a write: the DataSource's, or, for a row-scoped entity, its scope property. A row
   * whose scope changed since it was loaded is refused (its values are bound to the old scope), and
   * so is a write of encrypted values without the scope.
   */
  private writeScope(view: ModelView, entity: Entity): string | undefined {
    const scopeField = view.description.scopeField
    if (!scopeField) return this.scope
    const model = view.description.name
    const value = entity[scopeField.name]
    if (this.loadedScope.has(entity) && value !== undefined && value !== this.loadedScope.get(entity)) {
      throw new ScopeChangeError({ model, field: scopeField.name }, 'the scope of a loaded row cannot change (its values are bound to it)')
    }
    // Every scope written is a scope, sealing or not: a row 'a ' would match tenant_id = 'a' under
    // MySQL/MariaDB's PAD SPACE collations and take tenant a's values in a later update.
    if (typeof value === 'string') checkScope(value, { model, field: scopeField.name })
    const writes = [...view.encrypted.keys()].find((p) => entity[p] !== undefined && entity[p] !== null)
    if (writes === undefined) return undefined
    if (value === undefined || value === null || value === '') {
      throw new ScopeRequiredError({ model, field: writes }, `a write of ${model}.${writes} needs the row's scope '${scopeField.name}'`)
    }
    return checkScope(value, { model, field: scopeField.name })
  }

  /** A write that sets a blind index without its source is refused (the index follows its source). */
  private checkIndexUntouched(model: string, property: string, indexName: string, entity: Entity, known: KnownValue | undefined): void {
    const index = entity[indexName]
    if (index === undefined || (known && known.index === index)) return
    throw new BlindIndexWriteError({ model, field: indexName }, property)
  }

  /**
   * A write that sets a key header (format version 2) is refused unless the value is the one the
   * object holds as loaded or as last written, or the stored row's (`databaseEntity`, in a save()):
   * the adapter writes key headers with their values, and a key header written alone would leave
   * its row's value unreadable.
   */
  private checkKeyHeaderUntouched(model: string, property: string, headerName: string, entity: Entity, databaseEntity?: Entity): void {
    const header = entity[headerName]
    if (header === undefined) return
    const known = this.knownHeaders.get(entity)
    if (known?.has(headerName) && known.get(headerName) === header) return
    if (databaseEntity && databaseEntity[headerName] === header) return
    throw new KeyHeaderWriteError({ model, field: headerName }, property)
  }

  /** A stored value to decrypt, with its scope (the DataSource's, or its row's) when it is scoped, and its row's key header. */
  private item(value: unknown, ctx: FieldValue['ctx'], scope: string | undefined, keyHeader?: unknown): FieldValue {
    const item: FieldValue = scope === undefined ? { value, ctx } : { value, ctx, scope }
    if (keyHeader !== undefined) item.keyHeader = keyHeader
    return item
  }

  private headersOf(entity: Entity): Map<string, unknown> {
    let headers = this.knownHeaders.get(entity)
    if (!headers) this.knownHeaders.set(entity, (headers = new Map()))
    return headers
  }

  private knownOf(entity: Entity): Map<string, KnownValue> {
    let known = this.known.get(entity)
    if (!known) this.known.set(entity, (known = new Map()))
    return known
  }
}
