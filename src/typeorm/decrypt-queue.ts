import type { EnvelopeEncryptor, FieldValue, StoredValue } from '../engine/envelope-encryptor'

/**
 * TypeORM announces loaded entities one by one (`afterLoad`), all in the same tick, then awaits
 * them together. The queue gathers the values of that tick and decrypts them in one
 * `decryptMany`, so a `find` of many rows resolves each data key once, as the Prisma side does.
 */
export class DecryptQueue {
  private items: FieldValue[] = []
  private waiting: Array<{ from: number; count: number; resolve: (v: StoredValue[]) => void; reject: (e: unknown) => void }> = []

  constructor(private readonly encryptor: EnvelopeEncryptor) {}

  decrypt(items: FieldValue[]): Promise<StoredValue[]> {
    if (items.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
      if (this.waiting.length === 0) queueMicrotask(() => this.flush())
      this.waiting.push({ from: this.items.length, count: items.length, resolve, reject })
      for (const item of items) this.items.push(item)
    })
  }

  private flush(): void {
    const items = this.items
    const waiting = this.waiting
    this.items = []
    this.waiting = []
    this.encryptor.decryptMany(items).then(
      (values) => {
        for (const w of waiting) w.resolve(values.slice(w.from, w.from + w.count))
      },
      (err: unknown) => {
        for (const w of waiting) w.reject(err)
      },
    )
  }
}
