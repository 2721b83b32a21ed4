/**
 * The stored form of a blind index, a public format:
 *
 *   "v" + version (decimal, 1..999999999) + ":" + base64url(HMAC-SHA256), no padding (43 chars)
 *
 * e.g. `v1:3q2-7wYyF0...`. The version names the index key (root key + derivation) that made
 * it, so values of two versions can live side by side while indexes are recomputed.
 */
export const INDEX_MAC_BYTES = 32
const PATTERN = /^v([1-9][0-9]{0,8}):([A-Za-z0-9_-]{43})$/
const VERSION_PREFIX = /^v[1-9][0-9]{0,8}:$/

export function formatStoredIndex(version: number, mac: Buffer): string {
  return `v${version}:${mac.toString('base64url')}`
}

/** The version of a stored index value, or undefined if the value is not one. */
export function storedIndexVersion(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined
  const m = PATTERN.exec(value)
  return m ? Number(m[1]) : undefined
}

export function isStoredIndex(value: unknown): value is string {
  return storedIndexVersion(value) !== undefined
}

/** The prefix every value of a version starts with (`v2:`), e.g. to find rows still on another. */
export function storedIndexPrefix(version: number): string {
  return `v${version}:`
}

export function isStoredIndexPrefix(value: unknown): boolean {
  return typeof value === 'string' && VERSION_PREFIX.test(value)
}

export function checkIndexVersion(version: unknown, label: string): number {
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > 999_999_999) {
    throw new RangeError(`${label} must be an integer from 1 to 999999999`)
  }
  return version
}
