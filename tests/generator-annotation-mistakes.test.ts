import type { DMMF } from '@prisma/generator-helper'
import { SchemaAnnotationError } from '../src'
import { lintAnnotationText } from '../src/generator/annotation-text-lint'
import { buildEncryptionModel } from '../src/generator/build-encryption-model'
import { prismaGenerate, type GenerateResult } from './support/prisma-generate'

/**
 * Annotation mistakes that would silently encrypt nothing fail `prisma generate`, naming the
 * line and the fix: `// @encrypted` (Prisma drops `//` comments), `/// encrypted` (no @), a
 * fullwidth `＠encrypted`, and `/// @encrypted` where Prisma attaches it to no field (above the
 * model, above a block attribute, at the end of a block). And encrypted fields that could not
 * work: a relation scalar (foreign key), or part of a compound @@unique.
 */
const model = (body: string, above = '') => `${above}model User {\n  id Int @id\n${body}\n}\n`

function lintError(schema: string): SchemaAnnotationError {
  let error: unknown
  try {
    lintAnnotationText(schema)
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(SchemaAnnotationError)
  return error as SchemaAnnotationError
}

describe('the schema text is checked for annotations Prisma would drop', () => {
  test.each([
    ['// @encrypted above the field', model('  // @encrypted\n  email String'), 3, /three slashes/, 'email'],
    ['// @encrypted at the end of the field line', model('  email String // @encrypted'), 3, /three slashes/, 'email'],
    [
      '//@blindIndex(email)',
      model('  /// @encrypted\n  email String\n  //@blindIndex(email)\n  emailIndex String?'),
      5,
      /three slashes/,
      'emailIndex',
    ],
    ['// encrypted (bare word)', model('  // encrypted\n  email String'), 3, /three slashes/, 'email'],
    ['/// encrypted (no @)', model('  /// encrypted\n  email String'), 3, /needs its @: write \/\/\/ @encrypted/, 'email'],
    ['/// Encrypted. (no @)', model('  /// Encrypted.\n  email String'), 3, /needs its @/, 'email'],
    [
      '/// blindIndex(email) (no @)',
      model('  /// @encrypted\n  email String\n  /// blindIndex(email)\n  emailIndex String?'),
      5,
      /needs its @/,
      'emailIndex',
    ],
    ['fullwidth ＠encrypted', model('  /// ＠encrypted\n  email String'), 3, /not the ASCII @ sign/, 'email'],
    ['small ﹫encrypted', model('  /// ﹫encrypted\n  email String'), 3, /not the ASCII @ sign/, 'email'],
    ['@ encrypted (space)', model('  /// @ encrypted\n  email String'), 3, /no space may follow @/, 'email'],
    ['/// @encrypted above the model', model('  email String', '/// @encrypted\n'), 1, /above model User, not above a field/, undefined],
    ['/// @encrypted above @@map', model('  email String\n  /// @encrypted\n  @@map("users")'), 4, /above a block attribute/, undefined],
    ['/// @encrypted at the end of the model', model('  email String\n  /// @encrypted'), 4, /at the end of model User/, undefined],
    ['/// @encrypted in an enum', 'enum Role {\n  /// @encrypted\n  ADMIN\n}\n', 2, /only model fields can be annotated/, undefined],
    ['/// @encrypted after an enum value', 'enum Role {\n  ADMIN /// @encrypted\n}\n', 2, /declares no model field/, undefined],
  ])('%s', (_name, schema, line, fix, field) => {
    const error = lintError(schema)
    expect(error.message).toMatch(new RegExp(`schema line ${line} \\(`))
    expect(error.message).toMatch(fix)
    expect(error.field).toBe(field)
    if (!schema.startsWith('enum')) expect(error.model).toBe('User')
  })

  test('correct annotations, prose about encryption and URLs in strings pass', () => {
    expect(() =>
      lintAnnotationText(
        [
          'datasource db {\n  provider = "postgresql" // see https://example.com//docs\n}',
          '/// Users. Their e-mail is encrypted at rest.',
          model(
            [
              '  /// @encrypted',
              '  email String',
              '  /// @blindIndex(email, normalize: [lowercase])',
              '  // a plain note between the doc comment and the field',
              '  emailIndex String? @unique',
              '  phone String? /// @encrypted',
              '  /// Free text first, then the annotation: @encrypted',
              '  note String',
              '  /// Not encrypted: looked up by prefix.',
              '  site String @default("https://a.b//c")',
              '  // TODO: encryption of the address later',
              '  address String',
            ].join('\n'),
          ),
        ].join('\n'),
      ),
    ).not.toThrow()
  })
})

const FIELD_MODELS = `
model Owner {
  id    Int    @id
  code  String @unique
  pets  Pet[]
}
model Pet {
  id        Int    @id
  /// @encrypted
  ownerCode String
  owner     Owner  @relation(fields: [ownerCode], references: [code])
}
model Pair {
  id     Int    @id
  /// @encrypted
  email  String
  tenant Int
  @@unique([tenant, email])
}
/// @encrypted
model Documented {
  id    Int    @id
  email String
}
`

let dump: GenerateResult
let commentRun: GenerateResult
let foreignKeyRun: GenerateResult
beforeAll(async () => {
  ;[dump, commentRun, foreignKeyRun] = await Promise.all([
    prismaGenerate(FIELD_MODELS, { encryption: false, dmmf: true }),
    prismaGenerate(model('  // @encrypted\n  email String')),
    prismaGenerate(FIELD_MODELS.split('model Pair')[0]!),
  ])
}, 120_000)

function build(name: string): unknown {
  expect(dump.exitCode).toBe(0)
  const datamodel: DMMF.Datamodel = { ...dump.datamodel!, models: dump.datamodel!.models.filter((m) => m.name === name) }
  try {
    buildEncryptionModel(datamodel, 'postgresql')
  } catch (e) {
    return e
  }
  return undefined
}

describe('encrypted fields that could not work are refused', () => {
  test('a relation scalar (foreign key)', () => {
    const error = build('Pet')
    expect(error).toBeInstanceOf(SchemaAnnotationError)
    expect(error).toMatchObject({ model: 'Pet', field: 'ownerCode', message: expect.stringMatching(/foreign key.*in clear/) })
  })

  test('part of a compound @@unique, pointing to the blind index', () => {
    expect(build('Pair')).toMatchObject({
      model: 'Pair',
      field: 'email',
      message: expect.stringMatching(/@@unique\(\[tenant, email\]\).*@blindIndex/),
    })
  })

  test('an annotation the DMMF attaches to the model', () => {
    expect(build('Documented')).toMatchObject({ model: 'Documented', message: expect.stringMatching(/above the model/) })
  })
})

describe('end to end: `prisma generate` fails and prints the line and the fix', () => {
  test('// @encrypted', () => {
    expect(commentRun.exitCode).not.toBe(0)
    expect(commentRun.output).toMatch(
      /User\.email: schema line \d+ \(\/\/ @encrypted\): a \/\/ comment is dropped by Prisma.*three slashes/,
    )
    expect(commentRun.model).toBeUndefined()
  })

  test('an encrypted foreign key', () => {
    expect(foreignKeyRun.exitCode).not.toBe(0)
    expect(foreignKeyRun.output).toMatch(/Pet\.ownerCode: a relation scalar \(foreign key\) cannot be @encrypted/)
  })
})
