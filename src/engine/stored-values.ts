import type { FieldContext } from '../cipher/field-context'
import { DecryptionFailedError, FieldEncryptionError, InvalidFieldValueError, type FieldLocation } from '../errors'
import type { SplitEnvelope } from '../format/envelope-format'
import type { DataKeyEntry } from './data-key-entry'
import type { StoredValue } from './envelope-encryptor'
import { describeType } from './unknown-value'
import { isWellFormed, LONE_SURROGATE } from './well-formed-text'

/* The encryptor's per-value steps: plaintext to bytes, opening a value, naming its field. */

/** Opens one split value with its data key; the plaintext as the field's type. */
export function openValue(entry: DataKeyEntry, split: SplitEnvelope, ctx: FieldContext): StoredValue {
  const key = entry.key // throws if released: not a decryption failure
  const aad = split.short ? entry.shortAadFor(ctx) : entry.aadFor(ctx)
  try {
    if (ctx.kind === 'text') return key.openText(split.body, aad)
    const plain = key.open(split.body, aad)
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength)
  } catch {
    throw new DecryptionFailedError(locate(ctx))
  }
}

/**
 * A data-key failure met for another field's value (values of several fields share a data key,
 * and the failure is shared by concurrent callers and kept a few seconds by the cache), as the
 * same error naming this value's model and field.
 */
export function relocated(err: unknown, ctx: FieldContext): unknown {
  if (!(err instanceof FieldEncryptionError) || (err.model === ctx.model && err.field === ctx.field)) return err
  const before = err.model && err.field ? `${err.model}.${err.field}` : undefined
  const copy = Object.assign(Object.create(Object.getPrototypeOf(err) as object) as FieldEncryptionError, err, {
    model: ctx.model,
    field: ctx.field,
  })
  const message = before && err.message.startsWith(before) ? `${ctx.model}.${ctx.field}${err.message.slice(before.length)}` : err.message
  Object.defineProperty(copy, 'message', { value: message, writable: true, configurable: true, enumerable: false })
  if (err.cause !== undefined)
    Object.defineProperty(copy, 'cause', { value: err.cause, writable: true, configurable: true, enumerable: false })
  Object.defineProperty(copy, 'stack', { value: err.stack, writable: true, configurable: true, enumerable: false })
  return copy
}

export function locate(ctx: FieldContext): FieldLocation {
  return { model: ctx.model, field: ctx.field }
}

export function toPlainBytes(value: unknown, ctx: FieldContext): Buffer {
  if (ctx.kind === 'text') {
    if (typeof value !== 'string') throw new InvalidFieldValueError(locate(ctx), 'a string', describeType(value))
    // UTF-8 cannot hold a lone surrogate: Buffer.from would store U+FFFD while the caller keeps the original.
    if (!isWellFormed(value)) throw new InvalidFieldValueError(locate(ctx), 'well-formed Unicode text', LONE_SURROGATE)
    return Buffer.from(value, 'utf8')
  }
  if (!(value instanceof Uint8Array)) throw new InvalidFieldValueError(locate(ctx), 'a Uint8Array', describeType(value))
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}
