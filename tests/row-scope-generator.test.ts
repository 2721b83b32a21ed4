import type { DMMF } from '@prisma/generator-helper'
import { SchemaAnnotationError } from '../src'
import { buildEncryptionModel } from '../src/generator/build-encryption-model'
import { prismaGenerate, type GenerateResult } from './support/prisma-generate'

/**
 * The model annotation `/// @encryptionScope(field)` (row-scoped keys) in the generator, on the
 * DMMF the real `prisma generate` builds: a valid one puts `scopeField` (name and @map column) in
 * the model; every mistake is a SchemaAnnotationError naming the model (and the scope field when
 * the annotation was read) with the fix, and a misspelt or malformed annotation is refused, never
 * read as "no scope" (a silently unscoped model would seal its rows under the shared key).
 * `prisma generate` runs three times, concurrently: a DMMF dump of all the schemas below, and the
 * package's generator end to end on two refused schemas.
 */

/** A model annotated `doc` (one `///` line each) with `fields` (one declaration a line). */
const model = (name: string, doc: string[], fields: string[]) =>
  [...doc.map((d) => `/// ${d}`), `model ${name} {`, '  id Int @id', ...fields.map((f) => `  ${f}`), '}'].join('\n')

const ENCRYPTED_BODY = ['/// @encrypted', 'body String?']

const VALID_MODELS = [
  `model Tenant {
  id       String          @id
  notes    ScopedNote[]
  relNotes ScopeRelation[]
}`,
  [
    '/// Notes of a tenant, encrypted at rest under the tenant key.',
    '/// @encryptionScope(tenantId)',
    'model ScopedNote {',
    '  id         Int     @id @default(autoincrement())',
    '  tenantId   String  @map("tenant_id")',
    '  tenant     Tenant  @relation(fields: [tenantId], references: [id])',
    '  /// @encrypted',
    '  body       String?',
    '  /// @encrypted',
    '  email      String',
    '  /// @blindIndex(email, normalize: [lowercase])',
    '  emailIndex String? @map("email_index")',
    '  @@map("scoped_notes")',
    '}',
  ].join('\n'),
  model('SpacedScope', ['@encryptionScope(  org  )'], ['org String', ...ENCRYPTED_BODY]),
  model('Unscoped', ['Plain documentation about encryption, without an annotation.'], ['tenantId String', ...ENCRYPTED_BODY]),
  model(
    'EmailsInDoc',
    ['Owners: ops@blindspot.io, sec@encrypt.example (an email is not an annotation).', '@encryptionScope(tenantId)'],
    ['tenantId String', ...ENCRYPTED_BODY],
  ),
]

/**
 * Scope fields the annotation names correctly but that cannot scope a row:
 * [model, scope field, fields of the model, expected message after `Model.field: @encryptionScope(field): `].
 */
const BAD_SCOPE_FIELDS: Array<[string, string, string[], RegExp]> = [
  ['ScopeMissing', 'tenantId', ['tenant String', ...ENCRYPTED_BODY], /^ScopeMissing has no field 'tenantId'$/],
  [
    'ScopeRelation',
    'tenant',
    ['tenantId String', 'tenant Tenant @relation(fields: [tenantId], references: [id])', ...ENCRYPTED_BODY],
    /^'tenant' is a relation field; name its scalar \(e\.g\. tenantId\)$/,
  ],
  ['ScopeList', 'tenantIds', ['tenantIds String[]', ...ENCRYPTED_BODY], /^the scope field must be String, not String\[\]$/],
  ['ScopeInt', 'tenantId', ['tenantId Int', ...ENCRYPTED_BODY], /^the scope field must be String \(a scope id is a string\), not Int$/],
  ['ScopeBigInt', 'tenantId', ['tenantId BigInt', ...ENCRYPTED_BODY], /^the scope field must be String .*, not BigInt$/],
  ['ScopeEnum', 'role', ['role Role', ...ENCRYPTED_BODY], /enum/],
  [
    'ScopeOptional',
    'tenantId',
    ['tenantId String?', ...ENCRYPTED_BODY],
    /^the scope field must be required \(String, not String\?\): every row needs a scope$/,
  ],
  [
    'ScopeEncrypted',
    'tenantId',
    ['/// @encrypted', 'tenantId String', ...ENCRYPTED_BODY],
    /^the scope field cannot be @encrypted \(its value selects the key\)$/,
  ],
  [
    'ScopeBlindIndex',
    'emailIndex',
    ['/// @encrypted', 'email String', '/// @blindIndex(email)', 'emailIndex String'],
    /^the scope field cannot be a @blindIndex$/,
  ],
  ['ScopeNothingEncrypted', 'tenantId', ['tenantId String', 'body String?'], /^ScopeNothingEncrypted has no @encrypted field to scope$/],
]

/**
 * Model documentation that must be refused before any field is read:
 * [model, `///` lines above it, expected message after `Model: `].
 */
const BAD_ANNOTATIONS: Array<[string, string[], RegExp]> = [
  // Misspelt: must never leave the model silently unscoped.
  [
    'MisspeltLower',
    ['@encryptionscope(tenantId)'],
    /^unknown model annotation '@encryptionscope\(\.\.\.\)': write @encryptionScope\(scopeField\)$/,
  ],
  [
    'MisspeltShort',
    ['@encryptScope(tenantId)'],
    /^unknown model annotation '@encryptScope\(\.\.\.\)': write @encryptionScope\(scopeField\)$/,
  ],
  ['MisspeltCapital', ['@EncryptionScope(tenantId)'], /^unknown model annotation '@EncryptionScope\(\.\.\.\)': write @encryptionScope/],
  ['MisspeltPlural', ['@encryptionScopes(tenantId)'], /^unknown model annotation '@encryptionScopes\(\.\.\.\)': write @encryptionScope/],
  ['MisspeltBlind', ['@blindScope(tenantId)'], /^unknown model annotation '@blindScope\(\.\.\.\)': write @encryptionScope/],
  [
    'MisspeltAfterProse',
    ['Tenant notes.', 'Sealed per tenant: @encryptionscope(tenantId)'],
    /^unknown model annotation '@encryptionscope\(/,
  ],
  // The right name, but no field name we can read.
  ['NoParens', ['@encryptionScope tenantId'], /^unknown model annotation '@encryptionScope': write @encryptionScope\(scopeField\)$/],
  ['EmptyParens', ['@encryptionScope()'], /^unknown model annotation '@encryptionScope\(\.\.\.\)': write @encryptionScope\(scopeField\)$/],
  ['TwoNames', ['@encryptionScope(tenantId, orgId)'], /^unknown model annotation '@encryptionScope\(\.\.\.\)': write @encryptionScope/],
  ['QuotedName', ['@encryptionScope("tenantId")'], /^unknown model annotation '@encryptionScope\(\.\.\.\)': write @encryptionScope/],
  ['DashedName', ['@encryptionScope(tenant-id)'], /^unknown model annotation '@encryptionScope\(\.\.\.\)': write @encryptionScope/],
  // Two scopes: refused, even when both name the same field, or the second is correct.
  ['TwoScopes', ['@encryptionScope(tenantId)', '@encryptionScope(orgId)'], /^a model can carry only one @encryptionScope$/],
  ['SameScopeTwice', ['@encryptionScope(tenantId)', '@encryptionScope(tenantId)'], /^a model can carry only one @encryptionScope$/],
  ['OneLineTwoScopes', ['@encryptionScope(tenantId) @encryptionScope(orgId)'], /^a model can carry only one @encryptionScope$/],
  ['ScopeThenMisspelt', ['@encryptionScope(tenantId)', '@encryptionscope(orgId)'], /^unknown model annotation '@encryptionscope\(/],
  // A field annotation above the model: attached to no field, so nothing would be encrypted.
  [
    'EncryptedAbove',
    ['@encrypted'],
    /^an annotation above the model is not attached to any field.*put it on the line right above the field$/,
  ],
  ['BlindIndexAbove', ['@blindIndex(email)'], /^an annotation above the model is not attached to any field.*right above the field$/],
  ['ScopeAndEncrypted', ['@encryptionScope(tenantId)', '@encrypted'], /^an annotation above the model is not attached to any field/],
]

const REFUSED_MODELS = [
  'enum Role {\n  ADMIN\n  MEMBER\n}',
  ...BAD_SCOPE_FIELDS.map(([name, scope, fields]) => model(name, [`@encryptionScope(${scope})`], fields)),
  ...BAD_ANNOTATIONS.map(([name, doc]) => model(name, doc, ['tenantId String', 'orgId String', ...ENCRYPTED_BODY])),
  // @encryptionScope on a field instead of the model.
  model('ScopeOnField', [], ['/// @encryptionScope(tenantId)', 'tenantId String', ...ENCRYPTED_BODY]),
]

let dump: GenerateResult
let optionalRun: GenerateResult
let misspeltRun: GenerateResult

beforeAll(async () => {
  ;[dump, optionalRun, misspeltRun] = await Promise.all([
    prismaGenerate([...VALID_MODELS, ...REFUSED_MODELS].join('\n\n'), { encryption: false, dmmf: true }),
    prismaGenerate(model('Note', ['@encryptionScope(tenantId)'], ['tenantId String? @map("tenant_id")', ...ENCRYPTED_BODY])),
    prismaGenerate(model('Note', ['@encryptScope(tenantId)'], ['tenantId String', ...ENCRYPTED_BODY])),
  ])
}, 120_000)

/** buildEncryptionModel on the real DMMF of the named models of the dump. */
function datamodelOf(...names: string[]): DMMF.Datamodel {
  expect(dump.exitCode).toBe(0)
  const models = dump.datamodel!.models.filter((m) => names.includes(m.name))
  expect(models.map((m) => m.name).sort()).toEqual([...names].sort())
  return { ...dump.datamodel!, models }
}

function refusal(name: string): SchemaAnnotationError {
  let error: unknown
  let built: unknown
  try {
    built = buildEncryptionModel(datamodelOf(name), 'postgresql')
  } catch (e) {
    error = e
  }
  // Never a model, scoped or not: a refused annotation builds nothing.
  expect(built).toBeUndefined()
  expect(error).toBeInstanceOf(SchemaAnnotationError)
  expect(error).toMatchObject({ code: 'KFE_SCHEMA_ANNOTATION', model: name })
  return error as SchemaAnnotationError
}

describe('a valid @encryptionScope', () => {
  test('gives the model its scope field, by name and by @map column', () => {
    const built = buildEncryptionModel(datamodelOf('Tenant', 'ScopedNote'), 'postgresql')
    const note = built.models.ScopedNote!
    expect(note.scopeField).toEqual({ name: 'tenantId', column: 'tenant_id' })
    // The rest of the model is what it is without the annotation.
    expect(note).toMatchObject({ table: 'scoped_notes', primaryKey: ['id'] })
    expect(Object.keys(note.encryptedFields).sort()).toEqual(['body', 'email'])
    expect(note.encryptedFields.email).toMatchObject({ blindIndex: 'emailIndex' })
    expect(note.blindIndexes.emailIndex).toMatchObject({ column: 'email_index', source: 'email' })
    expect(note.relations).toEqual({ tenant: { name: 'tenant', target: 'Tenant', isList: false } })
    expect(built.models.Tenant).not.toHaveProperty('scopeField')
  })

  test('spaces inside the parentheses; an unmapped field is its own column', () => {
    expect(buildEncryptionModel(datamodelOf('SpacedScope'), 'postgresql').models.SpacedScope!.scopeField).toEqual({
      name: 'org',
      column: 'org',
    })
  })

  test('email addresses in the documentation are not read as annotations', () => {
    expect(buildEncryptionModel(datamodelOf('EmailsInDoc'), 'postgresql').models.EmailsInDoc!.scopeField).toEqual({
      name: 'tenantId',
      column: 'tenantId',
    })
  })

  test('a model without the annotation (prose about encryption aside) has no scope field', () => {
    const unscoped = buildEncryptionModel(datamodelOf('Unscoped'), 'postgresql').models.Unscoped!
    expect(unscoped).not.toHaveProperty('scopeField')
    expect(Object.keys(unscoped.encryptedFields)).toEqual(['body'])
  })
})

describe('a scope field that cannot scope a row is refused, naming model and field', () => {
  test.each(BAD_SCOPE_FIELDS)('%s: @encryptionScope(%s)', (name, scope, _fields, problem) => {
    const error = refusal(name)
    expect(error.field).toBe(scope)
    const prefix = `${name}.${scope}: @encryptionScope(${scope}): `
    expect(error.message.startsWith(prefix)).toBe(true)
    expect(error.message.slice(prefix.length)).toMatch(problem)
  })
})

describe('a model annotation that cannot be read is refused, naming the model', () => {
  test.each(BAD_ANNOTATIONS)('%s: %j', (name, _doc, problem) => {
    const error = refusal(name)
    expect(error.field).toBeUndefined()
    expect(error.message.startsWith(`${name}: `)).toBe(true)
    expect(error.message.slice(name.length + 2)).toMatch(problem)
  })

  test('@encryptionScope on a field, not the model, is refused, naming the field', () => {
    const error = refusal('ScopeOnField')
    expect(error).toMatchObject({ field: 'tenantId' })
    expect(error.message).toMatch(/^ScopeOnField\.tenantId: @encryptionScope is a model annotation: .*right above `model \.\.\. \{`$/)
  })
})

describe('end to end: `prisma generate` fails and prints the message', () => {
  test('an optional scope field', () => {
    expect(optionalRun.exitCode).not.toBe(0)
    expect(optionalRun.output).toMatch(
      /Note\.tenantId: @encryptionScope\(tenantId\): the scope field must be required \(String, not String\?\): every row needs a scope/,
    )
    expect(optionalRun.model).toBeUndefined()
  })

  test('a misspelt @encryptScope: no model is written, scoped or not', () => {
    expect(misspeltRun.exitCode).not.toBe(0)
    expect(misspeltRun.output).toMatch(/Note: unknown model annotation '@encryptScope\(\.\.\.\)': write @encryptionScope\(scopeField\)/)
    expect(misspeltRun.model).toBeUndefined()
  })
})
