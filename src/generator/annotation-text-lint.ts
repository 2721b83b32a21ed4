import { SchemaAnnotationError } from '../errors'

/**
 * Annotation mistakes that the DMMF cannot show, found in the schema text Prisma hands the
 * generator (`options.datamodel`): Prisma drops `//` comments, and drops a `///` comment that sits
 * above a model, a block attribute or the end of a block, so a field annotated that way would
 * silently stay in clear. Each is a SchemaAnnotationError naming the line and the fix.
 */

/** Something that reads as one of our annotations, with any sigil (or none) in front. */
const OUR_WORD = /(encrypt|blind[\s_-]?index|key[\s_-]?header)/i
/** The at sign we want, and look-alikes: fullwidth (U+FF20), small (U+FE6B). */
const LOOKALIKE_AT = /[\uFF20\uFE6B]\s*(encrypt|blind|key[\s_-]?header)/i
const SPACED_AT = /@\s+(encrypt|blind|key[\s_-]?header)/i
const ANY_AT_ANNOTATION = /@\s*(encrypt|blind|key[\s_-]?header)/i
/** A comment made of the word alone: `/// encrypted`, `// blindIndex(email)`, `/// keyHeader(email)`. */
const BARE_WORD = /^(encrypted|encrypt|encryption|(blind[\s_-]?index|key[\s_-]?header)\s*(\(.*\))?)[.!]?$/i
const VALID_ANNOTATION = /(^|\s)@(encrypted|blindIndex|keyHeader)(\s|\(|$)/
/**
 * A key-header annotation spelt otherwise than `@keyHeader(`: `@keyheader(`, `@KeyHeader(`,
 * `@key_header(`, `@keyHeaders(`. (Not after a character of an email's local part.) Prisma would keep
 * the comment, but nothing would read it, and the column would silently not be the field's key header.
 */
const KEY_HEADER_LOOKALIKE = /(?<![A-Za-z0-9._%+-])@key[\s_-]?header[A-Za-z_]*(\()?/gi
/** The model annotation: valid only right above `model X {` (Prisma drops it anywhere else in a model). */
const SCOPE_ANNOTATION = /(^|\s)@encryptionScope\(/
const BLOCK_START = /^(model|type|view|enum|generator|datasource)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/
const FIELD_LINE = /^[A-Za-z_][A-Za-z0-9_]*\s+[A-Za-z_]/

interface Line {
  number: number
  code: string
  comment?: { doc: boolean; text: string }
}

/** Splits a line into code and comment, ignoring `//` inside string literals (`"postgresql://..."`). */
function splitLine(text: string, number: number): Line {
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === '/' && text[i + 1] === '/') {
      const doc = text[i + 2] === '/'
      return { number, code: text.slice(0, i).trim(), comment: { doc, text: text.slice(i + (doc ? 3 : 2)).trim() } }
    }
  }
  return { number, code: text.trim() }
}

export function lintAnnotationText(datamodel: string): void {
  const lines = datamodel.split(/\r?\n/).map((t, i) => splitLine(t, i + 1))
  let block: { kind: string; name: string } | undefined
  const fail = (line: Line, problem: string, model?: string, field?: string): never => {
    const shown = lines[line.number - 1]
    const text = `${shown!.code}${shown!.comment ? ` ${shown!.comment.doc ? '///' : '//'} ${shown!.comment.text}` : ''}`.trim()
    throw new SchemaAnnotationError({ model, field }, `schema line ${line.number} (${text}): ${problem}`)
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const start = BLOCK_START.exec(line.code)
    if (start) block = { kind: start[1]!, name: start[2]! }
    const inModel = block?.kind === 'model' && !start
    const fieldHere = inModel && FIELD_LINE.test(line.code) ? line.code.split(/\s+/)[0] : undefined
    if (line.code.startsWith('}')) block = undefined
    const comment = line.comment
    if (!comment || !OUR_WORD.test(comment.text)) continue
    const target = fieldHere
      ? { field: fieldHere, what: '' }
      : line.code !== ''
        ? { what: `it ends a line that declares no model field${block ? ` (in ${block.kind} ${block.name})` : ''}` }
        : nextDeclaration(lines, i, block)
    const model = block?.kind === 'model' ? block.name : target.model
    if (LOOKALIKE_AT.test(comment.text)) {
      const problem =
        'this is not the ASCII @ sign (a fullwidth or small look-alike), so nothing would be encrypted: type @encrypted with a plain @'
      fail(line, problem, model, target.field)
    }
    if (SPACED_AT.test(comment.text))
      fail(line, 'no space may follow @: write @encrypted, @blindIndex(...) or @keyHeader(...)', model, target.field)
    if (!comment.doc) {
      if (ANY_AT_ANNOTATION.test(comment.text) || BARE_WORD.test(comment.text)) {
        const problem =
          'a // comment is dropped by Prisma, so nothing would be encrypted: write the annotation as a /// comment (three slashes)'
        fail(line, problem, model, target.field)
      }
      continue
    }
    if (BARE_WORD.test(comment.text)) {
      const problem = 'the annotation needs its @: write /// @encrypted (or /// @blindIndex(sourceField), /// @keyHeader(encryptedField))'
      fail(line, problem, model, target.field)
    }
    for (const m of comment.text.matchAll(KEY_HEADER_LOOKALIKE)) {
      if (m[0] === '@keyHeader(') continue
      const shown = m[1] ? `${m[0]}...)` : m[0]
      fail(line, `unknown annotation '${shown}': write @keyHeader(encryptedField)`, model, target.field)
    }
    if (SCOPE_ANNOTATION.test(comment.text)) {
      if (line.code === '' && !fieldHere && target.model && !target.field && target.what.startsWith('it sits above model')) continue
      fail(
        line,
        '@encryptionScope belongs to a model: put /// @encryptionScope(scopeField) on its own line right above `model ... {`, or the rows would not be scoped',
        model,
        target.field,
      )
    }
    if (!VALID_ANNOTATION.test(comment.text)) continue // other look-alikes (@Encrypted...) are reported per field from the DMMF
    if (fieldHere || target.field) continue
    fail(
      line,
      `${target.what}: Prisma does not attach it to a field, so ${/@keyHeader\(/.test(comment.text) && !/@(encrypted|blindIndex)/.test(comment.text) ? 'no column would hold the key header' : 'nothing would be encrypted'}; put it on the line right above the field (or at the end of the field's line)`,
      model,
    )
  }
}

/** What the comment at `index` documents: the next declaration, skipping blank and comment lines. */
function nextDeclaration(
  lines: Line[],
  index: number,
  block: { kind: string; name: string } | undefined,
): { field?: string; model?: string; what: string } {
  for (let j = index + 1; j < lines.length; j++) {
    const code = lines[j]!.code
    if (code === '') continue
    const start = BLOCK_START.exec(code)
    if (start)
      return { model: start[1] === 'model' ? start[2] : undefined, what: `it sits above ${start[1]} ${start[2]}, not above a field` }
    if (code.startsWith('}')) return { what: `it sits at the end of ${block ? `${block.kind} ${block.name}` : 'a block'}, above no field` }
    if (code.startsWith('@@')) return { what: 'it sits above a block attribute (@@...), not above a field' }
    if (block?.kind === 'model' && FIELD_LINE.test(code)) return { field: code.split(/\s+/)[0], what: '' }
    return { what: `it documents ${block ? `a line of ${block.kind} ${block.name}` : 'no field'}, and only model fields can be annotated` }
  }
  return { what: 'it sits at the end of the schema, above no field' }
}
