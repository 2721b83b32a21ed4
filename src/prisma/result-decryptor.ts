import type { ValueBatch } from '../engine/value-batch'
import type { ModelRegistry, ModelView } from '../model/model-registry'

type Obj = Record<string, unknown>

/**
 * Walks what Prisma returns (a record, a list, nested relations at any depth) and puts every
 * encrypted value into the batch; the decrypted value replaces it in place (the result objects
 * are Prisma's own, fresh for this call).
 */
export class ResultDecryptor {
  constructor(private readonly registry: ModelRegistry) {}

  collect(view: ModelView, result: unknown, batch: ValueBatch): void {
    if (Array.isArray(result)) {
      for (const r of result) this.collect(view, r, batch)
      return
    }
    if (result === null || typeof result !== 'object') return
    const record = result as Obj
    for (const key in record) {
      const value = record[key]
      if (value === null || value === undefined) continue
      const encrypted = view.encrypted.get(key)
      if (encrypted) {
        if (encrypted.field.isList && Array.isArray(value)) {
          const arr = value.slice()
          record[key] = arr
          arr.forEach((v, i) => batch.add(v, encrypted.ctx, (p) => (arr[i] = p)))
        } else {
          batch.add(value, encrypted.ctx, (p) => (record[key] = p))
        }
        continue
      }
      const relation = view.relations.get(key)
      if (relation) {
        const target = this.registry.get(relation.target)!
        if (target.reachesEncryption) this.collect(target, value, batch)
      }
    }
  }
}
