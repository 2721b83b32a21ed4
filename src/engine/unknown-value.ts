// Questions about a value of unknown type, as ORM adapters hand them over. Neither ever looks
// at (or reports) the value itself, only its shape: error messages must never carry a value.

/** A plain object (`{...}` or `Object.create(null)`), not an array, Date, Buffer or class instance. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** What kind of value this is, for an error message: `null`, `an array`, a class name or a `typeof`. */
export function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object'
  return typeof value
}
