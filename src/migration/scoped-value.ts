import type { FieldValue } from '../engine/envelope-encryptor'

/** The value bound to the run's scope, when the run has one (`--scope`); unchanged otherwise. */
export function scoped(item: FieldValue, scope: string | undefined): FieldValue {
  return scope === undefined ? item : { ...item, scope }
}
