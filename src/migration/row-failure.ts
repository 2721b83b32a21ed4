import { FieldEncryptionError, type ErrorCode } from '../errors'

/** Why one row could not be processed: a stable code and a message that never holds a value. */
export interface RowFailure {
  reason: ErrorCode
  message: string
}

/**
 * Whether an error must stop the whole run rather than fail one row: the key provider is
 * unreachable or misconfigured (every row would fail the same way, and a later run will do
 * better), or the error is not one of the library's (a database error, a bug). Judged by the
 * error's `code`, so errors from another copy of the library (a config file's) count the same.
 */
export function isFatal(err: unknown): boolean {
  const code = libraryCode(err)
  return code === undefined || code === 'KFE_KEY_UNAVAILABLE' || code === 'KFE_KEY_MISCONFIGURED'
}

export function failureOf(err: unknown): RowFailure {
  const code = libraryCode(err)
  if (code) return { reason: code, message: (err as Error).message }
  return { reason: 'KFE_UNEXPECTED', message: err instanceof Error ? err.message : String(err) }
}

/** The stable code of one of the library's errors (`KFE_...`), or undefined. */
function libraryCode(err: unknown): ErrorCode | undefined {
  if (err instanceof FieldEncryptionError) return err.code
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  // Another copy of the library (a config file's own import) throws its own classes, same codes.
  return typeof code === 'string' && code.startsWith('KFE_') ? (code as ErrorCode) : undefined
}
