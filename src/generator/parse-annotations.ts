import type { BlindIndexNormalization } from '../model/encryption-model'

/** What a field's `///` documentation asks of us. */
export interface FieldAnnotations {
  encrypted: boolean
  blindIndex?: { source: string; normalize: string[] }
  /** `@keyHeader(field)`: this field holds the key header (format v2) of the encrypted field named. */
  keyHeader?: string
  /** Text of an annotation we could not read, to report. */
  malformed?: string
}

export const NORMALIZATIONS: readonly BlindIndexNormalization[] = ['lowercase', 'uppercase', 'trim', 'spaces', 'diacritics']

const ENCRYPTED = /(^|\s)@encrypted(\s|$)/
const BLIND_INDEX = /(^|\s)@blindIndex\b/
// @blindIndex(email) or @blindIndex(email, normalize: [lowercase, trim])
const BLIND_INDEX_CALL = /@blindIndex\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:,\s*normalize\s*:\s*\[([^\]]*)\])?\s*\)/
// @keyHeader(email)
const KEY_HEADER_CALL = /@keyHeader\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)/g

// Anything that looks like one of our annotations: a misspelt one must not silently leave a
// field unencrypted or unindexed.
// Not after a character of an email's local part (`ops@blindspot.io` is not an annotation).
// `@key_header`, `@key-header`, `@key header`: the separator is part of the look-alike.
const LOOKALIKE = /(?<![A-Za-z0-9._%+-])@(encrypt|blind|key[\s_-]?header)[A-Za-z_]*/gi

export function parseAnnotations(documentation: string | undefined): FieldAnnotations {
  const doc = documentation ?? ''
  const result: FieldAnnotations = { encrypted: ENCRYPTED.test(doc) }
  for (const m of doc.matchAll(LOOKALIKE)) {
    const after = doc.charAt(m.index! + m[0].length)
    const ok =
      (m[0] === '@encrypted' && (after === '' || /\s/.test(after))) || ((m[0] === '@blindIndex' || m[0] === '@keyHeader') && after === '(')
    if (m[0] === '@encryptionScope') {
      result.malformed =
        '@encryptionScope is a model annotation: put /// @encryptionScope(scopeField) on the line right above `model ... {`'
      return result
    }
    if (!ok) {
      result.malformed = `unknown annotation '${m[0]}${after === '(' ? '(...)' : ''}': write @encrypted, @blindIndex(sourceField, normalize: [...]) or @keyHeader(encryptedField)`
      return result
    }
  }
  if ((doc.match(/@blindIndex\(/g) ?? []).length > 1) {
    result.malformed = 'a field can carry only one @blindIndex'
    return result
  }
  const keyHeaders = (doc.match(/@keyHeader\(/g) ?? []).length
  if (keyHeaders > 1) {
    result.malformed = 'a field can carry only one @keyHeader'
    return result
  }
  if (keyHeaders === 1) {
    const calls = [...doc.matchAll(KEY_HEADER_CALL)]
    if (calls.length !== 1) {
      result.malformed = '@keyHeader must read @keyHeader(encryptedField): the name of one @encrypted field of this model'
      return result
    }
    result.keyHeader = calls[0]![1]!
  }
  if (BLIND_INDEX.test(doc)) {
    const m = BLIND_INDEX_CALL.exec(doc)
    if (!m) {
      result.malformed = '@blindIndex must read @blindIndex(sourceField) or @blindIndex(sourceField, normalize: [lowercase, trim])'
    } else {
      const normalize = (m[2] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      result.blindIndex = { source: m[1]!, normalize }
    }
  }
  return result
}
