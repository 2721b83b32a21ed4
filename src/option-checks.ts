import { ConfigurationError } from './errors'

// Checks of numeric options, shared by every layer that takes them (core, migration, adapters):
// one wording, one ConfigurationError naming the option.

/** `value` when it is an integer >= 1; otherwise a ConfigurationError naming `option`. */
export function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw new ConfigurationError(`${option} must be a positive integer`)
  return value
}

/** `value` when it is a finite number > 0; otherwise a ConfigurationError naming `option`. */
export function positiveNumber(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new ConfigurationError(`${option} must be a positive number`)
  return value
}
