import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { DMMF } from '@prisma/generator-helper'
import { buildEncryptionModel } from '../src/generator/build-encryption-model'
import { parseAnnotations } from '../src/generator/parse-annotations'
import { SchemaAnnotationError } from '../src/errors'

type FieldSpec = Partial<DMMF.Field> & { name: string }

function field(spec: FieldSpec): DMMF.Field {
  return {
    kind: 'scalar',
    type: 'String',
    isList: false,
    isRequired: true,
    isUnique: false,
    isId: false,
    isReadOnly: false,
    hasDefaultValue: false,
    isGenerated: false,
    isUpdatedAt: false,
    dbName: null,
    relationFromFields: [],
    relationToFields: [],
    ...spec,
  } as DMMF.Field
}

function datamodel(fields: FieldSpec[], extra: Partial<DMMF.Model> = {}): DMMF.Datamodel {
  const model = {
    name: 'User',
    dbName: 'users',
    schema: null,
    isGenerated: false,
    primaryKey: null,
    uniqueFields: [],
    uniqueIndexes: [],
    fields: [field({ name: 'id', type: 'Int', isId: true, hasDefaultValue: true }), ...fields.map(field)],
    ...extra,
  } as unknown as DMMF.Model
  return { models: [model], enums: [], types: [], indexes: [] } as unknown as DMMF.Datamodel
}

const email = { name: 'email', documentation: '@encrypted' }
const index = (doc: string, spec: Partial<FieldSpec> = {}): FieldSpec => ({
  name: 'emailIndex',
  isRequired: false,
  isUnique: true,
  dbName: 'email_index',
  documentation: doc,
  ...spec,
})

function problem(dm: DMMF.Datamodel): SchemaAnnotationError {
  try {
    buildEncryptionModel(dm, 'postgresql')
  } catch (err) {
    if (err instanceof SchemaAnnotationError) return err
    throw err
  }
  throw new Error('the schema was accepted')
}

describe('@blindIndex in the generator', () => {
  it('describes the index: column, source, normalisations in order, uniqueness, and links the source to it', () => {
    const model = buildEncryptionModel(
      datamodel([email, index('@blindIndex(email, normalize: [trim, spaces, diacritics, lowercase])')]),
      'postgresql',
    )
    const user = model.models.User!
    expect(user.blindIndexes.emailIndex).toEqual({
      name: 'emailIndex',
      column: 'email_index',
      source: 'email',
      normalize: ['trim', 'spaces', 'diacritics', 'lowercase'],
      isUnique: true,
    })
    expect(user.encryptedFields.email!.blindIndex).toBe('emailIndex')
    expect(user.encryptedFields.emailIndex).toBeUndefined()
  })

  it('accepts String? (recommended) or String for a required source, String? for an optional one; @@unique counts as unique', () => {
    expect(
      buildEncryptionModel(datamodel([email, index('@blindIndex(email)', { isRequired: true })]), 'postgresql').models.User!.blindIndexes
        .emailIndex!.normalize,
    ).toEqual([])
    const optional = buildEncryptionModel(
      datamodel([{ ...email, isRequired: false }, index('@blindIndex(email)', { isUnique: false })], { uniqueFields: [['emailIndex']] }),
      'postgresql',
    )
    expect(optional.models.User!.blindIndexes.emailIndex!.isUnique).toBe(true)
  })

  it.each([
    [
      'an optional source with a required index',
      [{ ...email, isRequired: false }, index('@blindIndex(email)', { isRequired: true })],
      /User\.emailIndex: must be String\? because 'email' is optional/,
    ],
    ['a missing source', [email, index('@blindIndex(mail)')], /User\.emailIndex: @blindIndex source field 'mail' does not exist on User/],
    [
      'a source that is not encrypted',
      [{ name: 'email' }, index('@blindIndex(email)')],
      /User\.emailIndex: @blindIndex source field 'email' is not @encrypted/,
    ],
    [
      'a Bytes source',
      [{ name: 'email', type: 'Bytes', documentation: '@encrypted' }, index('@blindIndex(email)')],
      /must be a String or String\? field/,
    ],
    [
      'a list source',
      [{ name: 'email', isList: true, documentation: '@encrypted' }, index('@blindIndex(email)')],
      /must be a String or String\? field/,
    ],
    [
      'an Int index',
      [email, index('@blindIndex(email)', { type: 'Int' })],
      /User\.emailIndex: a @blindIndex field must be String\? \(or String\), not Int/,
    ],
    ['a String[] index', [email, index('@blindIndex(email)', { isList: true })], /not String\[\]/],
    ['an index with @default', [email, index('@blindIndex(email)', { hasDefaultValue: true })], /cannot have @default/],
    [
      'an unknown normalisation',
      [email, index('@blindIndex(email, normalize: [lowercase, casefold])')],
      /User\.emailIndex: unknown normalization 'casefold'; use lowercase, uppercase, trim, spaces, diacritics/,
    ],
    ['a repeated normalisation', [email, index('@blindIndex(email, normalize: [trim, trim])')], /listed twice/],
    ['lowercase and uppercase', [email, index('@blindIndex(email, normalize: [lowercase, uppercase])')], /cannot both be applied/],
    [
      'a second index of the same source',
      [email, index('@blindIndex(email)'), index('@blindIndex(email)', { name: 'emailIndex2', dbName: null })],
      /User\.emailIndex2: 'email' already has a blind index \(emailIndex\)/,
    ],
    ['an index that is also encrypted', [email, index('@encrypted @blindIndex(email)')], /cannot be both @encrypted and a @blindIndex/],
    ['a malformed annotation', [email, index('@blindIndex(email, lowercase)')], /User\.emailIndex: @blindIndex must read/],
    ['two annotations', [email, index('@blindIndex(email) @blindIndex(email)')], /only one @blindIndex/],
    ['a misspelt annotation', [email, index('@blindindex(email)')], /User\.emailIndex: unknown annotation '@blindindex\(\.\.\.\)'/],
  ] as const)('refuses %s, naming model, field and problem', (_what, fields, message) => {
    const err = problem(datamodel(fields as unknown as FieldSpec[]))
    expect(err.code).toBe('KFE_SCHEMA_ANNOTATION')
    expect(err.message).toMatch(message)
  })

  it('refuses an index that is a foreign key', () => {
    const err = problem(
      datamodel([
        email,
        index('@blindIndex(email)'),
        { name: 'other', kind: 'object', type: 'User', relationFromFields: ['emailIndex'], relationToFields: ['id'] },
      ]),
    )
    expect(err.message).toMatch(/User\.emailIndex: a @blindIndex field cannot be a relation scalar/)
  })

  it('reads annotations exactly, and refuses look-alikes that would silently do nothing', () => {
    expect(parseAnnotations('The address. @blindIndex( email , normalize : [ lowercase ,trim ] )')).toEqual({
      encrypted: false,
      blindIndex: { source: 'email', normalize: ['lowercase', 'trim'] },
    })
    expect(parseAnnotations('@encrypted\nsecond line')).toEqual({ encrypted: true })
    expect(parseAnnotations('@Encrypted').malformed).toMatch(/unknown annotation '@Encrypted'/)
    expect(parseAnnotations('@encrypted(aes)').malformed).toMatch(/unknown annotation/)
    expect(parseAnnotations('@blind_index(email)').malformed).toMatch(/unknown annotation/)
    expect(parseAnnotations('@blindIndexes(email)').malformed).toMatch(/unknown annotation/)
    expect(parseAnnotations('plain documentation, nothing @ here')).toEqual({ encrypted: false })
  })
})

describe('`prisma generate` with the real CLI', () => {
  const root = join(__dirname, '..')
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kfe-generate-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  async function generate(models: string): Promise<{ ok: boolean; output: string }> {
    const schema = join(dir, `schema-${Math.random().toString(36).slice(2)}.prisma`)
    writeFileSync(
      schema,
      `generator encryption {\n  provider = "kms-field-encryption"\n  output = "${join(dir, 'out').replace(/\\/g, '/')}"\n}\ndatasource db {\n  provider = "postgresql"\n}\n${models}`,
    )
    const env = {
      ...process.env,
      PATH: `${join(root, 'bin')}:${process.env.PATH}`,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
    }
    try {
      const { stdout, stderr } = await promisify(execFile)(join(root, 'node_modules/.bin/prisma'), ['generate', '--schema', schema], {
        cwd: dir,
        env,
      })
      return { ok: true, output: stdout + stderr }
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string }
      return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
    }
  }

  it('writes the index into the generated model, and fails with model, field and problem on a bad one', async () => {
    const good = await generate(
      `model Person {\n  id Int @id\n  /// @encrypted\n  email String\n  /// @blindIndex(email, normalize: [lowercase, trim])\n  emailIndex String? @unique @map("email_idx")\n}\n`,
    )
    expect(good.output).toContain('Generated kms-field-encryption model')
    expect(good.ok).toBe(true)
    const written = readFileSync(join(dir, 'out', 'index.ts'), 'utf8')
    expect(written).toMatch(
      /"emailIndex": \{\s*"name": "emailIndex",\s*"column": "email_idx",\s*"source": "email",\s*"normalize": \[\s*"lowercase",\s*"trim"\s*\]/,
    )

    const bad = await generate(
      `model Person {\n  id Int @id\n  /// @encrypted\n  email String?\n  /// @blindIndex(email)\n  emailIndex String @unique\n}\n`,
    )
    expect(bad.ok).toBe(false)
    expect(bad.output).toContain("Person.emailIndex: must be String? because 'email' is optional")
  }, 60_000)
})
