import { AsyncLocalStorage } from 'node:async_hooks'
import type { BlindIndexer } from '../blind-index/blind-indexer'
import type { EnvelopeEncryptor, StoredValue } from '../engine/envelope-encryptor'
import { ValueBatch } from '../engine/value-batch'
import { BlindIndexWriteError, ConfigurationError, InvalidFieldValueError } from '../errors'
import type { ModelView } from '../model/model-registry'
import type { DecryptQueue } from './decrypt-queue'

type Entity = Record<string, unknown>

/** What the adapter knows of a field of an entity object: its plaintext and the value stored for it. */
interface KnownValue {
  /** Whether plain and stored are known (only the index is, when the source was not loaded). */
  hasValue: boolean
  plain?: unknown
  stored?: unknown
  /** The blind index stored beside it, when the entity holds it. */
  index?: unknown
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
  private readonly pending = new WeakMap<object, Array<{ property: string; plain: unknown }>>()

  /**
   * The objects a `save()` call put ciphertexts into. TypeORM announces "after" events only for
   * the rows it wrote; an object whose values all turned out unchanged gets its plaintexts back
   * when its `save()` settles.
   */
  readonly saves = new AsyncLocalStorage<Array<{ view: ModelView; entity: Entity }>>()

  constructor(
    private readonly encryptor: EnvelopeEncryptor,
    private readonly decryptQueue: DecryptQueue,
    private readonly blindIndexer: BlindIndexer | undefined,
  ) {}

  /** Decrypts a loaded entity's encrypted properties (those it holds). */
  async decrypt(view: ModelView, entity: Entity): Promise<void> {
    const items = []
    const spots: Array<{ property: string; index?: number }> = []
    for (const [property, { field, ctx }] of view.encrypted) {
      const value = entity[property]
      if (value === null || value === undefined) continue
      if (field.isList && Array.isArray(value)) {
        value.forEach((v, index) => {
          items.push({ value: v, ctx })
          spots.push({ property, index })
        })
        continue
      }
      items.push({ value, ctx })
      spots.push({ property })
    }
    const known = this.knownOf(entity)
    for (const [property, { field }] of view.encrypted) {
      if (field.blindIndex && entity[field.blindIndex] !== undefined) known.set(property, { hasValue: false, index: entity[field.blindIndex] })
    }
    if (items.length === 0) return
    const plains = await this.decryptQueue.decrypt(items)
    const stored = new Map<string, unknown>()
    spots.forEach(({ property, index }, i) => {
      const plain = asBuffer(plains[i]!)
      if (index === undefined) {
        stored.set(property, entity[property])
        entity[property] = plain
      } else {
        if (!stored.has(property)) {
          stored.set(property, [...(entity[property] as unknown[])])
          entity[property] = [...(entity[property] as unknown[])]
        }
        ;(entity[property] as unknown[])[index] = plain
      }
    })
    for (const [property, value] of stored) {
      const indexName = view.encrypted.get(property)!.field.blindIndex
      known.set(property, { hasValue: true, plain: entity[property], stored: value, index: indexName ? entity[indexName] : undefined })
    }
  }

  /**
   * Before TypeORM builds an INSERT or UPDATE from `entity`: each encrypted property it sets is
   * replaced by its ciphertext (or by the stored value, if it is unchanged since it was loaded),
   * and its blind index is set beside it. `databaseEntity` (the row TypeORM compares against)
   * gets its stored values back, so unchanged values compare equal.
   */
  async encrypt(view: ModelView, entity: Entity, databaseEntity?: Entity): Promise<void> {
    const model = view.description.name
    const known = this.known.get(entity)
    const batch = new ValueBatch()
    const restore: Array<{ property: string; plain: unknown }> = []
    const indexes: Array<() => void> = []
    for (const [property, { field, ctx }] of view.encrypted) {
      const value = entity[property]
      const indexName = field.blindIndex
      if (value === undefined) {
        if (indexName) this.checkIndexUntouched(model, property, indexName, entity, known?.get(property))
        continue
      }
      if (value === null) {
        if (indexName) entity[indexName] = null
        continue
      }
      restore.push({ property, plain: value })
      const before = known?.get(property)
      if (before?.hasValue && samePlaintext(before.plain, value)) {
        entity[property] = before.stored
        if (indexName && before.index !== undefined) entity[indexName] = before.index
        continue
      }
      if (field.isList) {
        if (!Array.isArray(value)) throw new InvalidFieldValueError({ model, field: property }, 'an array', typeof value)
        const list: unknown[] = new Array(value.length)
        value.forEach((v, i) => batch.add(v, ctx, (stored) => (list[i] = stored)))
        entity[property] = list
      } else {
        batch.add(value, ctx, (stored) => (entity[property] = stored))
      }
      if (indexName) indexes.push(this.indexWriter(model, property, indexName, value, entity))
    }
    if (batch.size > 0) {
      try {
        batch.assign(await this.encryptor.encryptMany(batch.items))
      } catch (err) {
        for (const r of restore) entity[r.property] = r.plain
        throw err
      }
    }
    for (const write of indexes) write()
    if (restore.length > 0) {
      this.pending.set(entity, restore)
      this.saves.getStore()?.push({ view, entity })
    }
    if (databaseEntity) {
      const old = this.known.get(databaseEntity)
      for (const [property, value] of old ?? []) if (value.hasValue && samePlaintext(databaseEntity[property], value.plain)) databaseEntity[property] = value.stored
    }
  }

  /** After the statement: the plaintexts go back into the caller's object, remembered with what was stored. */
  written(view: ModelView, entity: Entity): void {
    const restore = this.pending.get(entity)
    if (!restore) return
    this.pending.delete(entity)
    const known = this.knownOf(entity)
    for (const { property, plain } of restore) {
      const indexName = view.encrypted.get(property)?.field.blindIndex
      known.set(property, { hasValue: true, plain, stored: entity[property], index: indexName ? entity[indexName] : undefined })
      entity[property] = plain
    }
  }

  /** Runs one `save()` (or similar) call; whatever it encrypted in the caller's objects is restored when it settles. */
  async aroundSave<T>(run: () => Promise<T>): Promise<T> {
    const touched: Array<{ view: ModelView; entity: Entity }> = []
    try {
      return await this.saves.run(touched, run)
    } finally {
      for (const { view, entity } of touched) this.written(view, entity)
    }
  }

  /** The index value to store for `value`, computed after the values are type-checked by the encryptor. */
  private indexWriter(model: string, property: string, indexName: string, value: unknown, entity: Entity): () => void {
    const field = this.blindIndexer?.indexNamed(model, indexName)
    if (!field) throw new ConfigurationError(`${model}.${property}: its blind index ${indexName} is not configured; nothing was written`)
    if (typeof value !== 'string') throw new InvalidFieldValueError({ model, field: property }, 'a string', typeof value)
    const hash = this.blindIndexer!.compute(field, value)
    return () => (entity[indexName] = hash)
  }

  /** A write that sets a blind index without its source is refused (the index follows its source). */
  private checkIndexUntouched(model: string, property: string, indexName: string, entity: Entity, known: KnownValue | undefined): void {
    const index = entity[indexName]
    if (index === undefined || (known && known.index === index)) return
    throw new BlindIndexWriteError({ model, field: indexName }, property)
  }

  private knownOf(entity: Entity): Map<string, KnownValue> {
    let known = this.known.get(entity)
    if (!known) this.known.set(entity, (known = new Map()))
    return known
  }
}
