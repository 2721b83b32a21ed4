import { fieldContext, type FieldContext } from '../cipher/field-context'
import type { BlindIndexModel, EncryptedFieldModel, EncryptionModel, ModelDescription, RelationModel } from './encryption-model'

/** One model of the encryption model, with a ready FieldContext per encrypted field. */
export interface ModelView {
  description: ModelDescription
  /** Encrypted field by name, with its cipher context. */
  encrypted: Map<string, { field: EncryptedFieldModel; ctx: FieldContext }>
  blindIndexes: Map<string, BlindIndexModel>
  /** Key-header fields (format version 2, `@keyHeader`) by name: the encrypted field each belongs to. */
  keyHeaders: Map<string, string>
  relations: Map<string, RelationModel>
  /** Whether this model, or any model reachable through relations, has encrypted fields. */
  reachesEncryption: boolean
}

/** Run-time lookups over the generated encryption model, built once per client. */
export class ModelRegistry {
  private readonly views = new Map<string, ModelView>()

  constructor(readonly model: EncryptionModel) {
    for (const description of Object.values(model.models)) {
      const encrypted = new Map<string, { field: EncryptedFieldModel; ctx: FieldContext }>()
      const keyHeaders = new Map<string, string>()
      for (const field of Object.values(description.encryptedFields)) {
        if (field.keyHeader) keyHeaders.set(field.keyHeader.name, field.name)
        const kind = field.type === 'Bytes' ? 'bytes' : 'text'
        encrypted.set(field.name, {
          field,
          ctx: fieldContext(description.name, field.name, description.table, field.column, kind, field.keyHeader !== undefined),
        })
      }
      this.views.set(description.name, {
        description,
        encrypted,
        blindIndexes: new Map(Object.entries(description.blindIndexes ?? {})),
        keyHeaders,
        relations: new Map(Object.entries(description.relations)),
        reachesEncryption: false,
      })
    }
    this.markReachable()
  }

  /** The view of a model, by Prisma model name (case-insensitive on the first letter). */
  get(name: string): ModelView | undefined {
    return this.views.get(name) ?? this.views.get(name.charAt(0).toUpperCase() + name.slice(1))
  }

  all(): ModelView[] {
    return [...this.views.values()]
  }

  private markReachable(): void {
    let changed = true
    for (const v of this.views.values()) v.reachesEncryption = v.encrypted.size > 0 || v.blindIndexes.size > 0
    while (changed) {
      changed = false
      for (const v of this.views.values()) {
        if (v.reachesEncryption) continue
        for (const r of v.relations.values()) {
          if (this.views.get(r.target)?.reachesEncryption) {
            v.reachesEncryption = true
            changed = true
            break
          }
        }
      }
    }
  }
}
