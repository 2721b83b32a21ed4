import type { BlindIndexNormalization } from '../model/encryption-model'

/** Every normalisation a blind index can apply, in the order they are documented. */
export const BLIND_INDEX_NORMALIZATIONS: readonly BlindIndexNormalization[] = ['lowercase', 'uppercase', 'trim', 'spaces', 'diacritics']

const STEPS: Record<BlindIndexNormalization, (s: string) => string> = {
  // Locale-independent Unicode case mapping (never toLocaleLowerCase: the index must not depend
  // on the machine's locale).
  lowercase: (s) => s.toLowerCase(),
  uppercase: (s) => s.toUpperCase(),
  // Unicode white space at both ends (spaces, tabs, line breaks, NBSP, BOM...).
  trim: (s) => s.trim(),
  // Every run of Unicode white space becomes one ASCII space (the ends are not trimmed: add trim).
  spaces: (s) => s.replace(/\s+/gu, ' '),
  // Canonical decomposition, drop non-spacing marks (accents, cedillas...), recompose:
  // "Ångström" -> "Angstrom". Spacing marks (e.g. Indic vowel signs) are kept.
  diacritics: (s) =>
    s
      .normalize('NFD')
      .replace(/\p{Mn}/gu, '')
      .normalize('NFC'),
}

/**
 * Applies a blind index's normalisations, in order. Without any, the index compares the exact
 * string (the same equality the database would apply to the plaintext).
 */
export function normalizeForBlindIndex(value: string, steps: readonly BlindIndexNormalization[]): string {
  let out = value
  for (const step of steps) {
    const fn = STEPS[step]
    if (!fn) throw new RangeError(`unknown blind index normalization '${String(step)}'`)
    out = fn(out)
  }
  return out
}

/** Whether the normalisations make the index case-insensitive (so `mode: 'insensitive'` is honoured). */
export function foldsCase(steps: readonly BlindIndexNormalization[]): boolean {
  return steps.includes('lowercase') || steps.includes('uppercase')
}

/** A problem with a normalisation list (unknown, repeated or contradictory steps), or undefined. */
export function normalizationProblem(steps: readonly string[]): string | undefined {
  const seen = new Set<string>()
  for (const step of steps) {
    if (!BLIND_INDEX_NORMALIZATIONS.includes(step as BlindIndexNormalization)) {
      return `unknown normalization '${step}'; use ${BLIND_INDEX_NORMALIZATIONS.join(', ')}`
    }
    if (seen.has(step)) return `normalization '${step}' is listed twice`
    seen.add(step)
  }
  if (seen.has('lowercase') && seen.has('uppercase')) return 'lowercase and uppercase cannot both be applied; pick one'
  return undefined
}
