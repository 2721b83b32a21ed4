import { createHmac, randomBytes } from 'node:crypto'
import type { DataSource, EntityMetadata, QueryRunner, ValueTransformer } from 'typeorm'

type ColumnMetadata = EntityMetadata['columns'][number]
import { UnsupportedEncryptedFieldQueryError, type FieldLocation } from '../errors'
import { looksEncrypted } from '../format/envelope-format'
import { looksShort } from '../format/short-format'

/**
 * The last line of defence. TypeORM turns every entity value it writes, and every find-options
 * filter value, into a parameter through the column's transformer, synchronously. The adapter
 * encrypts (or rewrites) before that point; if a value arrives there still in plaintext (a path
 * the adapter does not see: `listeners: false`, `callListeners(false)`, an unrewritten filter),
 * the transformer replaces it with a marker that holds no plaintext (a keyed hash under a key
 * that lives only in this process, so changed values still compare different in TypeORM's
 * change detection), and every query runner refuses a statement that carries a marker.
 */
const MARKER = '\u0000kfe-unencrypted:'
const markerKey = randomBytes(32)

function marker(location: FieldLocation, value: unknown): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value instanceof Uint8Array ? value : Buffer.from(String(value))
  return `${MARKER}${location.model}.${location.field}:${createHmac('sha256', markerKey).update(bytes).digest('base64url')}`
}

function guardOne(location: FieldLocation, value: unknown): unknown {
  if (value === null || value === undefined || looksEncrypted(value) || looksShort(value)) return value
  return marker(location, value)
}

/** The transformer put on each encrypted column: ciphertext and null pass, anything else becomes a marker. */
export function unencryptedValueGuard(location: FieldLocation, isList: boolean): ValueTransformer {
  return {
    to: (value: unknown) => (isList && Array.isArray(value) ? value.map((v) => guardOne(location, v)) : guardOne(location, value)),
    from: (value: unknown) => value,
  }
}

export function installColumnGuard(column: ColumnMetadata, location: FieldLocation, isList: boolean): void {
  column.transformer = unencryptedValueGuard(location, isList)
}

/** The `Model.field` a marker was made for, if the value holds one. */
function markedField(value: unknown, depth = 0): string | undefined {
  if (typeof value === 'string') {
    const at = value.indexOf(MARKER)
    return at < 0 ? undefined : value.slice(at + MARKER.length, value.indexOf(':', at + MARKER.length))
  }
  if (Array.isArray(value) && depth < 4) {
    for (const v of value) {
      const found = markedField(v, depth + 1)
      if (found) return found
    }
  }
  return undefined
}

const guarded = new WeakSet<object>()

/** Wraps a query runner so that no statement carrying a marker is sent. */
export function guardQueryRunner(runner: QueryRunner): QueryRunner {
  if (guarded.has(runner)) return runner
  guarded.add(runner)
  for (const method of ['query', 'stream'] as const) {
    const original = runner[method] as ((query: string, parameters?: unknown[], ...rest: unknown[]) => Promise<unknown>) | undefined
    if (typeof original !== 'function') continue
    ;(runner as unknown as Record<string, unknown>)[method] = function (
      this: QueryRunner,
      query: string,
      parameters?: unknown[],
      ...rest: unknown[]
    ) {
      const field = markedField(query) ?? markedField(parameters ?? [])
      if (field) return Promise.reject(refuseError(field))
      return original.call(this, query, parameters, ...rest)
    }
  }
  return runner
}

function refuseError(field: string): Error {
  const [model, name] = field.split('.')
  return new UnsupportedEncryptedFieldQueryError(
    { model, field: name },
    'unencrypted value',
    'the value reached the database driver without being encrypted or rewritten (listeners disabled, or a query form the adapter cannot see)',
  )
}

/** Every query runner the DataSource's driver hands out from now on is guarded. */
export function installDriverGuard(dataSource: DataSource): void {
  const driver = dataSource.driver as unknown as { createQueryRunner: (...args: unknown[]) => QueryRunner }
  if (guarded.has(driver)) return
  guarded.add(driver)
  const create = driver.createQueryRunner
  driver.createQueryRunner = function (...args: unknown[]) {
    return guardQueryRunner(create.apply(this, args))
  }
}
