import type { DMMF } from '@prisma/generator-helper'
import { encryptionModel as projectModel } from '../prisma/generated/encryption'
import { encryptionModel as mysqlProjectModel } from '../prisma/generated/mysql/encryption'
import { encryptionModel as sqliteProjectModel } from '../prisma/generated/sqlite/encryption'
import { ConfigurationError, SchemaAnnotationError } from '../src'
import { lintAnnotationText } from '../src/generator/annotation-text-lint'
import { buildEncryptionModel } from '../src/generator/build-encryption-model'
import { parseAnnotations } from '../src/generator/parse-annotations'
import type { EncryptionModel } from '../src/model/encryption-model'
import { validateEncryptionModel } from '../src/model/validate-encryption-model'
import { prismaGenerate, type GenerateResult } from './support/prisma-generate'

/**
 * The field annotation `/// @keyHeader(field)` (stored format v2, docs/format-v2.md) in the
 * generator, on the DMMF the real `prisma generate` builds: a valid one puts `keyHeader` (name and
 * @map column) in the encrypted field's entry; every mistake is a SchemaAnnotationError naming the
 * model and the header field, never a model with the field silently left without (or with a
 * wrong) key header. `prisma generate` runs six times, concurrently: a DMMF dump of the schemas
 * below on PostgreSQL and on MySQL (column sizes), and the package's generator end to end on one
 * valid and three refused schemas.
 */

/**
 * A model with `fields` (one declaration a line; `///` lines as given), `doc` lines above it, and
 * `id Int @id` first unless `fields` declare the key themselves (@id, @@id).
 */
const model = (name: string, fields: string[], doc: string[] = []) =>
  [
    ...doc.map((d) => `/// ${d}`),
    `model ${name} {`,
    ...(fields.some((f) => /@@?id\b/.test(f)) ? [] : ['  id Int @id']),
    ...fields.map((f) => `  ${f}`),
    '}',
  ].join('\n')

const ENCRYPTED_NAME = ['/// @encrypted', 'name String']

const DOCTOR = `model Doctor {
  id       Int       @id
  code     String    @unique
  patients Patient[]
  byCode   KhRelationScalar[]
  byRel    KhRelation[]
}`

const PATIENT = `model Patient {
  id       Int     @id @default(autoincrement())
  /// @encrypted
  name     String
  /// @keyHeader(name)
  nameKey  String? @map("name_key")
  /// @encrypted
  ssn      String?
  /// Holds ssn's key header: @keyHeader(ssn)
  ssnKey   String? @map("ssn_key")
  /// @blindIndex(ssn)
  ssnIndex String? @unique @map("ssn_index")
  /// @encrypted
  scan     Bytes?
  /// @keyHeader(  scan  )
  scanKey  String?
  /// @encrypted
  phone    String?
  /// Owners: ops@keyheader.example (an email is not an annotation).
  note     String?
  doctorId Int?    @map("doctor_id")
  doctor   Doctor? @relation(fields: [doctorId], references: [id])
  @@map("patients")
}`

/**
 * Header fields the annotation names correctly but that cannot work:
 * [model, header field, fields of the model, expected message after `Model.field: @keyHeader(target): `].
 */
const BAD_HEADERS: Array<[string, string, string[], RegExp, string[]?]> = [
  // The target.
  ['KhMissing', 'nameKey', [...ENCRYPTED_NAME, '/// @keyHeader(nmae)', 'nameKey String?'], /^KhMissing has no field 'nmae'$/],
  [
    'KhNotEncrypted',
    'noteKey',
    [...ENCRYPTED_NAME, 'note String?', '/// @keyHeader(note)', 'noteKey String?'],
    /^'note' is not an @encrypted field of KhNotEncrypted$/,
  ],
  // `secret` is encrypted in KhSecretHolder, not in this model.
  ['KhOtherModel', 'secretKey', [...ENCRYPTED_NAME, '/// @keyHeader(secret)', 'secretKey String?'], /^KhOtherModel has no field 'secret'$/],
  [
    'KhHeaderOfHeader',
    'otherKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String?', '/// @keyHeader(nameKey)', 'otherKey String?'],
    /^'nameKey' is not an @encrypted field of KhHeaderOfHeader$/,
  ],
  [
    'KhListTarget',
    'tagsKey',
    ['/// @encrypted', 'tags String[]', '/// @keyHeader(tags)', 'tagsKey String?'],
    /^'tags' is a list \(String\[\]\); key headers \(stored format v2\) are not for lists$/,
  ],
  [
    'KhTwice',
    'nameKey2',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String?', '/// @keyHeader(name)', 'nameKey2 String?'],
    /^'name' already has a key header field \(nameKey\)$/,
  ],
  // What the header field is.
  [
    'KhEncrypted',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @encrypted', '/// @keyHeader(name)', 'nameKey String?'],
    /^a field cannot be both @encrypted and a @keyHeader$/,
  ],
  [
    'KhBlindIndex',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @blindIndex(name)', '/// @keyHeader(name)', 'nameKey String?'],
    /^a field cannot be both a @blindIndex and a @keyHeader$/,
  ],
  [
    'KhScope',
    'tenantId',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'tenantId String'],
    /^a @keyHeader field cannot be the @encryptionScope field$/,
    ['@encryptionScope(tenantId)'],
  ],
  [
    'KhRelationScalar',
    'doctorCode',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'doctorCode String?', 'doctor Doctor? @relation(fields: [doctorCode], references: [code])'],
    /^a @keyHeader field cannot be a relation scalar \(foreign key\)$/,
  ],
  [
    'KhRelation',
    'doctor',
    [...ENCRYPTED_NAME, 'doctorId Int?', '/// @keyHeader(name)', 'doctor Doctor? @relation(fields: [doctorId], references: [id])'],
    /^a @keyHeader field must be String\?, not a relation to Doctor$/,
  ],
  // Its attributes.
  [
    'KhId',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String @id'],
    /^a @keyHeader field cannot be \(part of\) the primary key$/,
  ],
  [
    'KhCompoundId',
    'nameKey',
    ['id Int', ...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String', '@@id([id, nameKey])'],
    /^a @keyHeader field cannot be \(part of\) the primary key$/,
  ],
  [
    'KhUnique',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String? @unique'],
    /^a @keyHeader field cannot be @unique or part of a @@unique/,
  ],
  [
    'KhCompoundUnique',
    'nameKey',
    [...ENCRYPTED_NAME, 'note String', '/// @keyHeader(name)', 'nameKey String?', '@@unique([note, nameKey])'],
    /^a @keyHeader field cannot be @unique or part of a @@unique/,
  ],
  [
    'KhDefault',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String? @default("")'],
    /^a @keyHeader field cannot have @default \(the extension writes it\)$/,
  ],
  [
    'KhUpdatedAt',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey DateTime? @updatedAt'],
    /^a @keyHeader field cannot be @updatedAt \(the extension writes it\)$/,
  ],
  // Its type: String? only.
  [
    'KhRequired',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String'],
    /^a @keyHeader field must be String\? \(optional: it is null when 'name' is null, and the extension writes it\), not String$/,
  ],
  ['KhInt', 'nameKey', [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey Int?'], /^a @keyHeader field must be String\? .*, not Int\?$/],
  [
    'KhBytes',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey Bytes?'],
    /^a @keyHeader field must be String\? .*, not Bytes\?$/,
  ],
  [
    'KhListHeader',
    'nameKey',
    [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String[]'],
    /^a @keyHeader field must be String\? .*, not String\[\]$/,
  ],
]

/** Key-header fields whose annotation cannot be read: [model, fields, expected message after `Model.nameKey: `]. */
const BAD_ANNOTATIONS: Array<[string, string, RegExp]> = [
  ['KhTwoOnOne', '@keyHeader(name) @keyHeader(name)', /^a field can carry only one @keyHeader$/],
  ['KhTwoTargets', '@keyHeader(name, phone)', /^@keyHeader must read @keyHeader\(encryptedField\)/],
  ['KhEmpty', '@keyHeader()', /^@keyHeader must read @keyHeader\(encryptedField\)/],
  ['KhQuoted', '@keyHeader("name")', /^@keyHeader must read @keyHeader\(encryptedField\)/],
  ['KhNoParens', '@keyHeader name', /^unknown annotation '@keyHeader': write @encrypted, .* or @keyHeader\(encryptedField\)$/],
  ['KhLower', '@keyheader(name)', /^unknown annotation '@keyheader\(\.\.\.\)'.* or @keyHeader\(encryptedField\)$/],
  ['KhCapital', '@KeyHeader(name)', /^unknown annotation '@KeyHeader\(\.\.\.\)'/],
  ['KhSnake', '@key_header(name)', /^unknown annotation '@key_header\(\.\.\.\)'/],
  ['KhKebab', '@key-header(name)', /^unknown annotation '@key-header\(\.\.\.\)'/],
  ['KhPlural', '@keyHeaders(name)', /^unknown annotation '@keyHeaders\(\.\.\.\)'/],
]

/** On MySQL (and for @db.VarChar(N) on PostgreSQL): the header column must hold 1024 characters. */
const COLUMNS: Array<[string, string, RegExp | undefined]> = [
  ['KhColDefault', '', /^a @keyHeader field on MySQL needs a longer column than the default VARCHAR\(191\) .*; use @db\.Text/],
  ['KhColVarChar191', '@db.VarChar(191)', /^@db\.VarChar\(191\) is too short for a key header .*at least 1024.*; use @db\.Text/],
  ['KhColVarChar1023', '@db.VarChar(1023)', /^@db\.VarChar\(1023\) is too short/],
  ['KhColTinyText', '@db.TinyText', /^@db\.TinyText holds 255 bytes, too few for a key header/],
  ['KhColVarChar1024', '@db.VarChar(1024)', undefined],
  ['KhColText', '@db.Text', undefined],
  ['KhColMediumText', '@db.MediumText', undefined],
]

const columnModel = (name: string, type: string) =>
  model(name, ['/// @encrypted', 'name String @db.Text', '/// @keyHeader(name)', `nameKey String? ${type}`])

const REFUSED_MODELS = [
  model('KhSecretHolder', ['/// @encrypted', 'secret String?']),
  ...BAD_HEADERS.map(([name, , fields, , doc]) => model(name, fields, doc)),
  ...BAD_ANNOTATIONS.map(([name, annotation]) =>
    model(name, [...ENCRYPTED_NAME, '/// @encrypted', 'phone String?', `/// ${annotation}`, 'nameKey String?']),
  ),
  // A field annotation above the model: attached to no field.
  model('KhAboveModel', [...ENCRYPTED_NAME, 'nameKey String?'], ['@keyHeader(name)']),
]

let pgDump: GenerateResult
let mysqlDump: GenerateResult
let validRun: GenerateResult
let requiredRun: GenerateResult
let misspeltRun: GenerateResult
let mysqlRun: GenerateResult

beforeAll(async () => {
  ;[pgDump, mysqlDump, validRun, requiredRun, misspeltRun, mysqlRun] = await Promise.all([
    prismaGenerate([DOCTOR, PATIENT, ...REFUSED_MODELS].join('\n\n'), { encryption: false, dmmf: true }),
    prismaGenerate(COLUMNS.map(([name, type]) => columnModel(name, type)).join('\n\n'), {
      encryption: false,
      dmmf: true,
      provider: 'mysql',
    }),
    prismaGenerate([DOCTOR.replace(/\n {2}byCode.*\n {2}byRel.*/, ''), PATIENT].join('\n\n')),
    prismaGenerate(model('Note', [...ENCRYPTED_NAME, '/// @keyHeader(name)', 'nameKey String @map("name_key")'])),
    prismaGenerate(model('Note', [...ENCRYPTED_NAME, '/// @KeyHeader(name)', 'nameKey String?'])),
    prismaGenerate(model('Note', [...ENCRYPTED_NAME.slice(0, 1), 'name String @db.Text', '/// @keyHeader(name)', 'nameKey String?']), {
      provider: 'mysql',
    }),
  ])
}, 120_000)

/** The real DMMF of the named models of a dump. */
function datamodelOf(dump: GenerateResult, ...names: string[]): DMMF.Datamodel {
  expect(dump.exitCode).toBe(0)
  const models = dump.datamodel!.models.filter((m) => names.includes(m.name))
  expect(models.map((m) => m.name).sort()).toEqual([...names].sort())
  return { ...dump.datamodel!, models }
}

function refusal(datamodel: DMMF.Datamodel, provider: string, name: string): SchemaAnnotationError {
  let error: unknown
  let built: unknown
  try {
    built = buildEncryptionModel(datamodel, provider)
  } catch (e) {
    error = e
  }
  // Never a model: a refused annotation builds nothing.
  expect(built).toBeUndefined()
  expect(error).toBeInstanceOf(SchemaAnnotationError)
  expect(error).toMatchObject({ code: 'KFE_SCHEMA_ANNOTATION', model: name })
  return error as SchemaAnnotationError
}

describe('a valid @keyHeader', () => {
  test('gives its encrypted field a keyHeader (name and @map column); other fields get none', () => {
    const patient = buildEncryptionModel(datamodelOf(pgDump, 'Patient'), 'postgresql').models.Patient!
    expect(patient.encryptedFields.name!.keyHeader).toEqual({ name: 'nameKey', column: 'name_key' })
    expect(patient.encryptedFields.ssn!.keyHeader).toEqual({ name: 'ssnKey', column: 'ssn_key' })
    // Spaces inside the parentheses; an unmapped field is its own column.
    expect(patient.encryptedFields.scan!.keyHeader).toEqual({ name: 'scanKey', column: 'scanKey' })
    // An encrypted field without a header field stays format v1.
    expect(patient.encryptedFields.phone).not.toHaveProperty('keyHeader')
    // The header fields are plain columns: neither encrypted nor blind indexes.
    expect(Object.keys(patient.encryptedFields).sort()).toEqual(['name', 'phone', 'scan', 'ssn'])
    expect(Object.keys(patient.blindIndexes)).toEqual(['ssnIndex'])
    expect(patient.encryptedFields.ssn).toMatchObject({ blindIndex: 'ssnIndex', isRequired: false })
  })

  test('end to end: `prisma generate` writes the keyHeader into the generated model', () => {
    expect(validRun.exitCode).toBe(0)
    const fields = validRun.model!.models.Patient!.encryptedFields
    expect(Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.keyHeader]))).toEqual({
      name: { name: 'nameKey', column: 'name_key' },
      ssn: { name: 'ssnKey', column: 'ssn_key' },
      scan: { name: 'scanKey', column: 'scanKey' },
      phone: undefined,
    })
    expect(validateEncryptionModel(validRun.model)).toBe(validRun.model)
  })

  test.each([
    ['postgresql', projectModel],
    ['mysql', mysqlProjectModel],
    ['sqlite', sqliteProjectModel],
  ])('the project schema (%s): Patient has key headers on name, ssn and scan, no other field of any model has one', (_p, m) => {
    const withHeaders = Object.values(m.models as EncryptionModel['models']).flatMap((d) =>
      Object.values(d.encryptedFields)
        .filter((f) => f.keyHeader !== undefined)
        .map((f) => [`${d.name}.${f.name}`, f.keyHeader]),
    )
    expect(withHeaders).toEqual([
      ['Patient.name', { name: 'nameKey', column: 'name_key' }],
      ['Patient.ssn', { name: 'ssnKey', column: 'ssn_key' }],
      ['Patient.scan', { name: 'scanKey', column: 'scan_key' }],
    ])
  })
})

describe('a header field that cannot hold the key header is refused, naming model and field', () => {
  test.each(BAD_HEADERS)('%s.%s', (name, field, fields, problem) => {
    // The field's own annotation: the last @keyHeader of the model's documentation lines.
    const target = [...fields.join('\n').matchAll(/@keyHeader\((\w+)\)/g)].at(-1)![1]
    const error = refusal(datamodelOf(pgDump, name), 'postgresql', name)
    expect(error.field).toBe(field)
    const prefix = `${name}.${field}: @keyHeader(${target}): `
    expect(error.message.startsWith(prefix)).toBe(true)
    expect(error.message.slice(prefix.length)).toMatch(problem)
  })
})

describe('a key-header annotation that cannot be read is refused, naming model and field', () => {
  test.each(BAD_ANNOTATIONS)('%s: %s', (name, _annotation, problem) => {
    const error = refusal(datamodelOf(pgDump, name), 'postgresql', name)
    expect(error.field).toBe('nameKey')
    expect(error.message.startsWith(`${name}.nameKey: `)).toBe(true)
    expect(error.message.slice(`${name}.nameKey: `.length)).toMatch(problem)
  })

  test('@keyHeader above the model (in its documentation) is refused, naming the model', () => {
    const error = refusal(datamodelOf(pgDump, 'KhAboveModel'), 'postgresql', 'KhAboveModel')
    expect(error.field).toBeUndefined()
    expect(error.message).toMatch(/^KhAboveModel: an annotation above the model is not attached to any field/)
  })

  test('parseAnnotations reads the target, and refuses what it cannot read', () => {
    expect(parseAnnotations('@keyHeader(email)')).toEqual({ encrypted: false, keyHeader: 'email' })
    expect(parseAnnotations('Key header of the email: @keyHeader( email )')).toEqual({ encrypted: false, keyHeader: 'email' })
    expect(parseAnnotations('Ask ops@keyheader.example or sec@key_header.io')).toEqual({ encrypted: false })
    expect(parseAnnotations('@key header(email)').malformed).toMatch(/^unknown annotation '@key header\(\.\.\.\)'/)
  })
})

describe('on MySQL the header column must hold 1024 characters', () => {
  test.each(COLUMNS)('%s: nameKey String? %s', (name, _type, problem) => {
    const datamodel = datamodelOf(mysqlDump, name)
    if (!problem) {
      expect(buildEncryptionModel(datamodel, 'mysql').models[name]!.encryptedFields.name!.keyHeader).toEqual({
        name: 'nameKey',
        column: 'nameKey',
      })
      return
    }
    const error = refusal(datamodel, 'mysql', name)
    expect(error.field).toBe('nameKey')
    expect(error.message.startsWith(`${name}.nameKey: `)).toBe(true)
    expect(error.message.slice(`${name}.nameKey: `.length)).toMatch(problem)
  })

  test('the same DMMF on SQLite (no column sizes) is accepted', () => {
    expect(
      buildEncryptionModel(datamodelOf(mysqlDump, 'KhColDefault'), 'sqlite').models.KhColDefault!.encryptedFields.name!.keyHeader,
    ).toEqual({ name: 'nameKey', column: 'nameKey' })
  })
})

describe('the schema text: key-header mistakes Prisma would drop or nothing would read', () => {
  const text = (annotation: string, where: 'above' | 'end' | 'map' | 'model' = 'above') => {
    const field = where === 'end' ? `  nameKey String? ${annotation}` : `  ${annotation}\n  nameKey String?`
    const body = where === 'map' ? `  nameKey String?\n  ${annotation}\n  @@map("notes")` : field
    return `${where === 'model' ? `${annotation}\n` : ''}model Note {\n  id Int @id\n  /// @encrypted\n  name String\n${where === 'model' ? '  nameKey String?' : body}\n}\n`
  }
  const lintError = (schema: string): SchemaAnnotationError => {
    let error: unknown
    try {
      lintAnnotationText(schema)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(SchemaAnnotationError)
    return error as SchemaAnnotationError
  }

  test.each([
    ['/// @keyheader(name)', /unknown annotation '@keyheader\(\.\.\.\)': write @keyHeader\(encryptedField\)$/],
    ['/// @KeyHeader(name)', /unknown annotation '@KeyHeader\(\.\.\.\)': write @keyHeader\(encryptedField\)$/],
    ['/// @key_header(name)', /unknown annotation '@key_header\(\.\.\.\)'/],
    ['/// @key-header(name)', /unknown annotation '@key-header\(\.\.\.\)'/],
    ['/// @key header(name)', /unknown annotation '@key header\(\.\.\.\)'/],
    ['/// @keyHeaders(name)', /unknown annotation '@keyHeaders\(\.\.\.\)'/],
    ['/// @keyHeader', /unknown annotation '@keyHeader': write @keyHeader\(encryptedField\)$/],
    ['/// Its key header: @KEYHEADER(name)', /unknown annotation '@KEYHEADER\(\.\.\.\)'/],
    ['// @keyHeader(name)', /a \/\/ comment is dropped by Prisma.*three slashes/],
    ['// keyHeader(name)', /three slashes/],
    ['/// keyHeader(name)', /needs its @: .*@keyHeader\(encryptedField\)/],
    ['/// ＠keyHeader(name)', /not the ASCII @ sign/],
    ['/// @ keyHeader(name)', /no space may follow @: .*@keyHeader\(\.\.\.\)/],
  ])('%s above the field', (annotation, problem) => {
    const error = lintError(text(annotation))
    expect(error).toMatchObject({ model: 'Note', field: 'nameKey' })
    expect(error.message).toMatch(/^Note\.nameKey: schema line 5 \(/)
    expect(error.message).toMatch(problem)
  })

  test('a misspelling at the end of the field line', () => {
    const error = lintError(text('/// @keyheader(name)', 'end'))
    expect(error).toMatchObject({ model: 'Note', field: 'nameKey' })
    expect(error.message).toMatch(/schema line 5 .*unknown annotation '@keyheader\(\.\.\.\)'/)
  })

  test.each([
    [
      'map',
      6,
      /above a block attribute \(@@\.\.\.\), not above a field: Prisma does not attach it to a field, so no column would hold the key header/,
    ],
    ['model', 1, /above model Note, not above a field: Prisma does not attach it to a field, so no column would hold the key header/],
  ] as const)('/// @keyHeader(name) %s, where Prisma attaches it to no field', (where, line, problem) => {
    const error = lintError(text('/// @keyHeader(name)', where))
    expect(error.field).toBeUndefined()
    expect(error.message).toMatch(new RegExp(`schema line ${line} \\(`))
    expect(error.message).toMatch(problem)
  })

  test('valid annotations and prose about key headers pass', () => {
    expect(() => lintAnnotationText(text('/// @keyHeader(name)'))).not.toThrow()
    expect(() => lintAnnotationText(text('/// @keyHeader(name)', 'end'))).not.toThrow()
    expect(() => lintAnnotationText(text('/// The key header of name, written by the extension.'))).not.toThrow()
    expect(() => lintAnnotationText(text('/// Ask ops@keyheader.example'))).not.toThrow()
  })
})

describe('end to end: `prisma generate` fails, prints the message and writes no model', () => {
  test('a required header field', () => {
    expect(requiredRun.exitCode).not.toBe(0)
    expect(requiredRun.output).toMatch(/Note\.nameKey: @keyHeader\(name\): a @keyHeader field must be String\? .*, not String/)
    expect(requiredRun.model).toBeUndefined()
  })

  test('a misspelt @KeyHeader', () => {
    expect(misspeltRun.exitCode).not.toBe(0)
    expect(misspeltRun.output).toMatch(
      /Note\.nameKey: schema line \d+ .*unknown annotation '@KeyHeader\(\.\.\.\)': write @keyHeader\(encryptedField\)/,
    )
    expect(misspeltRun.model).toBeUndefined()
  })

  test("MySQL's default VARCHAR(191)", () => {
    expect(mysqlRun.exitCode).not.toBe(0)
    expect(mysqlRun.output).toMatch(/Note\.nameKey: a @keyHeader field on MySQL needs a longer column than the default VARCHAR\(191\)/)
    expect(mysqlRun.model).toBeUndefined()
  })
})

describe('validateEncryptionModel checks keyHeader references', () => {
  const withPatient = (change: (fields: Record<string, Record<string, unknown>>) => void): unknown => {
    const m = JSON.parse(JSON.stringify(projectModel)) as {
      models: Record<string, { encryptedFields: Record<string, Record<string, unknown>> }>
    }
    change(m.models.Patient!.encryptedFields)
    return m
  }

  test('the generated model passes', () => {
    expect(() => validateEncryptionModel(projectModel)).not.toThrow()
  })

  test.each([
    [
      'not a reference',
      (f: Record<string, Record<string, unknown>>) => (f.name!.keyHeader = 'nameKey'),
      /name\.keyHeader is not a field reference/,
    ],
    [
      'an empty column',
      (f: Record<string, Record<string, unknown>>) => (f.name!.keyHeader = { name: 'nameKey', column: '' }),
      /name\.keyHeader is not a field reference/,
    ],
    [
      'an encrypted field',
      (f: Record<string, Record<string, unknown>>) => (f.name!.keyHeader = { name: 'ssn', column: 'ssn' }),
      /name\.keyHeader names the encrypted field 'ssn'/,
    ],
    [
      'a blind index',
      (f: Record<string, Record<string, unknown>>) => (f.name!.keyHeader = { name: 'ssnIndex', column: 'ssn_index' }),
      /name\.keyHeader names the blind index 'ssnIndex'/,
    ],
    [
      'shared',
      (f: Record<string, Record<string, unknown>>) => (f.scan!.keyHeader = { name: 'nameKey', column: 'name_key' }),
      /scan\.keyHeader names 'nameKey', the key header of 'name' too/,
    ],
    ['on a list', (f: Record<string, Record<string, unknown>>) => (f.name!.isList = true), /name\.keyHeader is set on a list field/],
  ])('refused: %s', (_name, change, problem) => {
    let error: unknown
    try {
      validateEncryptionModel(withPatient(change))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toMatch(/^model\.models\.Patient\.encryptedFields\./)
    expect((error as Error).message).toMatch(problem)
  })

  test('refused: the scope field', () => {
    const m = JSON.parse(JSON.stringify(projectModel)) as { models: Record<string, Record<string, unknown>> }
    const note = m.models.TenantNote as { encryptedFields: Record<string, Record<string, unknown>> }
    note.encryptedFields.body!.keyHeader = { name: 'tenantId', column: 'tenant_id' }
    expect(() => validateEncryptionModel(m)).toThrow(/TenantNote\.encryptedFields\.body\.keyHeader names the scope field 'tenantId'/)
  })
})
