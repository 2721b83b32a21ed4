import { isFatal, libraryCodeOf, type ErrorCode } from '../errors'

export { isFatal }

/** Why one row could not be processed: a stable code and a message that never holds a value. */
export interface RowFailure {
  reason: ErrorCode
  message: string
}

export function failureOf(err: unknown): RowFailure {
  const code = libraryCodeOf(err)
  if (code) return { reason: code, message: (err as Error).message }
  return { reason: 'KFE_UNEXPECTED', message: err instanceof Error ? err.message : String(err) }
}
