import { open } from '../cipher/aes-gcm'
import type { FieldContext } from '../cipher/field-context'
import { DecryptionFailedError, InvalidFieldValueError, KeyProviderError, type FieldLocation } from '../errors'
import type { SplitEnvelope } from '../format/envelope-format'
import type { DataKeyEntry } from './data-key-entry'
import type { StoredValue } from './envelope-encryptor'

/* The encryptor's per-value steps: plaintext to bytes, opening a value, naming its field. */

/** Opens one split value with its data key; the plaintext as the field's type. */
export function openValue(entry: DataKeyEntry, split: SplitEnvelope, ctx: FieldContext): StoredValue {
  let plain: Buffer
  try {
    plain = open(entry.key, split.body, entry.aadFor(ctx))
  } catch {
    throw new DecryptionFailedError(locate(ctx))
  }
  return ctx.kind === 'text' ? plain.toString('utf8') : new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength)
}

/** A key-provider failure met for another field's value (same data key), naming this one's. */
export function relocated(err: unknown, ctx: FieldContext): unknown {
  if (!(err instanceof KeyProviderError) || (err.model === ctx.model && err.field === ctx.field)) return err
  const message = err.message.replace(/^.*?key provider '[^']*': /, '')
  return new KeyProviderError(err.providerId, err.reason, message, { cause: err.cause, location: locate(ctx) })
}

export function locate(ctx: FieldContext): FieldLocation {
  return { model: ctx.model, field: ctx.field }
}

export function toPlainBytes(value: unknown, ctx: FieldContext): Buffer {
  if (ctx.kind === 'text') {
    if (typeof value !== 'string') throw new InvalidFieldValueError(locate(ctx), 'a string', describeType(value))
    return Buffer.from(value, 'utf8')
  }
  if (!(value instanceof Uint8Array)) throw new InvalidFieldValueError(locate(ctx), 'a Uint8Array', describeType(value))
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return value.constructor?.name ?? 'an object'
  return typeof value
}
