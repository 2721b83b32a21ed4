import { describeType } from '../engine/unknown-value'
import { InvalidFieldValueError } from '../errors'
import type { BlindIndexField } from './blind-index-field'
import type { BlindIndexer } from './blind-indexer'

/**
 * What a plaintext is hashed for: `write` stores the current version; `match` must find a row
 * on any configured version (current first).
 */
export type BlindIndexPurpose = 'write' | 'match'

/** A plaintext waiting for its index; `hashes` is filled by `resolve` (one for write, one per version for match). */
export interface BlindIndexTicket {
  readonly field: BlindIndexField
  readonly purpose: BlindIndexPurpose
  hashes: string[]
}

/**
 * Plaintexts met while walking a query, hashed together once the root keys are loaded. Nothing
 * is hashed (and nothing is sent) unless every value is a string: a wrong type throws a typed
 * error naming the model and field.
 */
export class BlindIndexBatch {
  private readonly tickets: Array<{ ticket: BlindIndexTicket; value: unknown; scope: string | undefined }> = []
  private readonly finishers: Array<() => void> = []

  /** `scope`: the scope (tenant) every index of the batch is computed for, when the client is scoped. */
  constructor(private readonly scope?: string) {}

  /** Queues a plaintext (`scope`: its row's own scope, else the batch's). Its ticket holds the hashes once `resolve` has run. */
  request(field: BlindIndexField, value: unknown, purpose: BlindIndexPurpose, scope: string | undefined = this.scope): BlindIndexTicket {
    if (typeof value !== 'string')
      throw new InvalidFieldValueError({ model: field.model, field: field.source }, 'a string', describeType(value))
    const ticket: BlindIndexTicket = { field, purpose, hashes: [] }
    this.tickets.push({ ticket, value, scope })
    return ticket
  }

  /** Runs after every ticket is filled, in the order registered (to build filters from tickets). */
  afterResolve(fn: () => void): void {
    this.finishers.push(fn)
  }

  get size(): number {
    return this.tickets.length + this.finishers.length
  }

  /** Fills every ticket, then runs the finishers. The indexer must be loaded. */
  resolve(indexer: BlindIndexer): void {
    for (const { ticket, value, scope } of this.tickets) {
      const text = value as string
      ticket.hashes =
        ticket.purpose === 'write' ? [indexer.compute(ticket.field, text, scope)] : indexer.candidates(ticket.field, text, scope)
    }
    for (const fn of this.finishers) fn()
  }
}
