/** What a model's `///` documentation (above `model X {`) asks of us. */
export interface ModelAnnotations {
  /** `@encryptionScope(field)`: the field whose value is the scope of the row's encrypted values. */
  scopeField?: string
  /** Text of an annotation we could not read, to report. */
  malformed?: string
}

// @encryptionScope(tenantId)
const SCOPE_CALL = /^@encryptionScope\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)/
// Anything that looks like one of our annotations: a misspelt one must not silently leave a model unscoped.
// Not after a character of an email's local part (`ops@blindspot.io` is not an annotation).
const LOOKALIKE = /(?<![A-Za-z0-9._%+-])@(encrypt|blind|key[\s_-]?header)[A-Za-z_]*/gi

export function parseModelAnnotations(documentation: string | undefined): ModelAnnotations {
  const doc = documentation ?? ''
  const result: ModelAnnotations = {}
  for (const m of doc.matchAll(LOOKALIKE)) {
    if (m[0] === '@encrypted' || m[0] === '@blindIndex' || m[0] === '@keyHeader') {
      result.malformed =
        'an annotation above the model is not attached to any field, so nothing would be encrypted; put it on the line right above the field'
      return result
    }
    const call = m[0] === '@encryptionScope' ? SCOPE_CALL.exec(doc.slice(m.index!)) : null
    if (!call) {
      result.malformed = `unknown model annotation '${m[0]}${doc.charAt(m.index! + m[0].length) === '(' ? '(...)' : ''}': write @encryptionScope(scopeField)`
      return result
    }
    if (result.scopeField !== undefined) {
      result.malformed = 'a model can carry only one @encryptionScope'
      return result
    }
    result.scopeField = call[1]!
  }
  return result
}
