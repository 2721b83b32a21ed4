import type { EntitySubscriberInterface, InsertEvent, LoadEvent, UpdateEvent } from 'typeorm'
import type { EntityMetadata } from 'typeorm'
import type { ModelRegistry, ModelView } from '../model/model-registry'
import type { EntityValues } from './entity-values'

type Entity = Record<string, unknown>

/**
 * TypeORM's entity events, which it awaits (persistence, insert and update query builders,
 * entity loading): encrypt before a write, restore the plaintexts after it, decrypt after a load.
 */
export class EncryptionSubscriber implements EntitySubscriberInterface {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly values: EntityValues,
  ) {}

  private view(metadata: EntityMetadata | undefined): ModelView | undefined {
    const view = metadata && this.registry.get(metadata.name)
    return view && view.encrypted.size > 0 ? view : undefined
  }

  afterLoad(entity: unknown, event?: LoadEvent<unknown>): Promise<void> | void {
    const view = this.view(event?.metadata)
    if (view && entity && typeof entity === 'object') return this.values.decrypt(view, entity as Entity)
  }

  beforeInsert(event: InsertEvent<unknown>): Promise<void> | void {
    const view = this.view(event.metadata)
    if (view && event.entity) return this.values.encrypt(view, event.entity as Entity)
  }

  beforeUpdate(event: UpdateEvent<unknown>): Promise<void> | void {
    const view = this.view(event.metadata)
    if (view && event.entity) return this.values.encrypt(view, event.entity as Entity, event.databaseEntity as Entity | undefined)
  }

  afterInsert(event: InsertEvent<unknown>): void {
    const view = this.view(event.metadata)
    if (view && event.entity) this.values.written(event.entity as Entity)
  }

  afterUpdate(event: UpdateEvent<unknown>): void {
    const view = this.view(event.metadata)
    if (view && event.entity) this.values.written(event.entity as Entity)
  }
}
