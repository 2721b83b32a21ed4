import { ConfigurationError } from './errors'

// Checks of numeric options, the one place for every layer that takes them (keys, engine,
// migration, adapters): one wording, one ConfigurationError naming the option and showing what
// was given (numbers and kinds of value only: an option is never a secret key or a plaintext).

/** `value` when it is a finite number > 0; otherwise a ConfigurationError naming `option`. */
export function positiveNumber(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(`${option} must be a positive number, got ${describeOptionValue(value)}`)
  }
  return value
}

/** `value` when it is a whole number >= 1 (and a safe integer); otherwise a ConfigurationError naming `option`. */
export function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigurationError(`${option} must be a positive whole number, got ${describeOptionValue(value)}`)
  }
  return value
}

/** The kind of a configuration value, for messages (numbers are shown: they are no secret). */
export function describeOptionValue(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'object') return value.constructor?.name ? `a ${value.constructor.name}` : 'an object'
  return `a ${typeof value}`
}
