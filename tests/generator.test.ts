import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { DMMF } from '@prisma/generator-helper'
import { encryptionModel } from '../prisma/generated/encryption'
import { SchemaAnnotationError } from '../src'
import { buildEncryptionModel } from '../src/generator/build-encryption-model'
import { prismaGenerate, type GenerateResult } from './support/prisma-generate'

/**
 * The generator, on the DMMF that the real `prisma generate` builds from temporary schemas: the
 * encryption model (tables after @@map, columns after @map, composite keys, relations, list and
 * bytes fields), and the annotations it refuses, with a message naming model, field and type.
 * `prisma generate` runs three times, concurrently (about two seconds each): the package's
 * generator on valid schemas, a DMMF dump of schemas it must refuse, and the package's generator
 * on one refused schema, end to end.
 */
const RICH_MODELS = `
model Account {
  id       String       @id @default(uuid())
  /// @encrypted
  email    String       @map("email_address")
  /// @encrypted
  nickname String?
  /// @encrypted
  aliases  String[]
  /// @encrypted
  photo    Bytes?       @map("photo_blob")
  /// Plain documentation, about encryption but without an annotation.
  note     String?
  plain    String
  parentId String?      @map("parent_id")
  parent   Account?     @relation("Tree", fields: [parentId], references: [id])
  children Account[]    @relation("Tree")
  members  Membership[]
  labels   Label[]

  @@map("accounts")
}

model Membership {
  accountId String  @map("account_id")
  groupId   Int     @map("group_id")
  /// Free text first, then the annotation: @encrypted
  role      String
  account   Account @relation(fields: [accountId], references: [id])

  @@id([accountId, groupId])
  @@map("memberships")
}

model Label {
  id       Int       @id
  name     String
  accounts Account[]
}
`

/** The project's own test schema, without its generator and datasource blocks. */
const PROJECT_MODELS = readFileSync(join(__dirname, '../prisma/schema.prisma'), 'utf8').replace(
  /^(generator|datasource)\s+\w+\s*\{[^}]*\}/gm,
  '',
)

/** One model per refused annotation: [model, declaration of the annotated field, expected message]. */
const REFUSED: Array<[string, string, RegExp]> = [
  ['EncInt', 'count Int', /^EncInt\.count: .*not Int$/],
  ['EncDateTime', 'seenAt DateTime', /^EncDateTime\.seenAt: .*not DateTime$/],
  ['EncJson', 'data Json?', /^EncJson\.data: .*not Json$/],
  ['EncBoolean', 'flag Boolean', /^EncBoolean\.flag: .*not Boolean$/],
  ['EncIntList', 'counts Int[]', /^EncIntList\.counts: .*not Int\[\]$/],
  ['EncBytesList', 'blobs Bytes[]', /^EncBytesList\.blobs: .*Bytes\[\]/],
  ['EncUnique', 'code String @unique', /^EncUnique\.code: .*cannot be @unique/],
  ['EncDefault', 'label String @default("x")', /^EncDefault\.label: .*cannot have @default/],
  ['EncMisspelt', 'label String', /^EncMisspelt\.label: .*unknown annotation/],
]
const REFUSED_MODELS = [
  ...REFUSED.map(
    ([model, declaration]) =>
      `model ${model} {\n  id Int @id\n  /// ${model === 'EncMisspelt' ? '@encryptd' : '@encrypted'}\n  ${declaration}\n}`,
  ),
  `model EncRelation {
  id      Int      @id
  /// @encrypted
  target  EncOther @relation(fields: [otherId], references: [id])
  otherId Int
}`,
  `model EncOther {
  id   Int           @id
  from EncRelation[]
}`,
  `model EncPrimaryKey {
  /// @encrypted
  code String
  seq  Int
  @@id([code, seq])
}`,
  `model EncId {
  /// @encrypted
  id String @id
}`,
].join('\n\n')

let valid: GenerateResult
let refused: GenerateResult
let endToEndRefusal: GenerateResult

beforeAll(async () => {
  ;[valid, refused, endToEndRefusal] = await Promise.all([
    prismaGenerate(RICH_MODELS + PROJECT_MODELS, { dmmf: true }),
    prismaGenerate(REFUSED_MODELS, { encryption: false, dmmf: true }),
    prismaGenerate(`model Thing {\n  id Int @id\n  /// @encrypted\n  when DateTime\n}`),
  ])
}, 120_000)

describe('the model written for a schema', () => {
  let model: GenerateResult['model']
  beforeAll(() => {
    expect(valid.output).toContain('kms-field-encryption')
    expect(valid.exitCode).toBe(0)
    model = valid.model
  })

  test('is what buildEncryptionModel makes of the DMMF', () => {
    expect(model).toEqual({
      ...buildEncryptionModel(valid.datamodel!, valid.provider!),
      schemaHash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    })
    expect(model).toMatchObject({ version: 1, provider: 'postgresql' })
    expect(Object.keys(model!.models)).toEqual(expect.arrayContaining(['Account', 'Label', 'Membership', 'User', 'Comment', 'AuditLog']))
  })

  test('tables after @@map, columns after @map, every encrypted field with its type and shape', () => {
    const account = model!.models.Account!
    expect(account).toMatchObject({ name: 'Account', table: 'accounts', primaryKey: ['id'], primaryKeyColumns: ['id'] })
    expect(Object.keys(account.encryptedFields).sort()).toEqual(['aliases', 'email', 'nickname', 'photo'])
    expect(account.encryptedFields.email).toMatchObject({
      name: 'email',
      column: 'email_address',
      type: 'String',
      isList: false,
      isRequired: true,
    })
    expect(account.encryptedFields.nickname).toMatchObject({ column: 'nickname', type: 'String', isList: false, isRequired: false })
    expect(account.encryptedFields.aliases).toMatchObject({ column: 'aliases', type: 'String', isList: true })
    expect(account.encryptedFields.photo).toMatchObject({ column: 'photo_blob', type: 'Bytes', isList: false, isRequired: false })
    expect(model!.models.Label).toMatchObject({ table: 'Label', encryptedFields: {} })
  })

  test('composite primary keys, by field and by column', () => {
    const membership = model!.models.Membership!
    expect(membership).toMatchObject({
      table: 'memberships',
      primaryKey: ['accountId', 'groupId'],
      primaryKeyColumns: ['account_id', 'group_id'],
    })
    expect(membership.encryptedFields.role).toMatchObject({ column: 'role', type: 'String', isRequired: true })
  })

  test('relations: to-one, to-many, self relation and implicit many-to-many', () => {
    expect(model!.models.Account!.relations).toEqual({
      parent: { name: 'parent', target: 'Account', isList: false },
      children: { name: 'children', target: 'Account', isList: true },
      members: { name: 'members', target: 'Membership', isList: true },
      labels: { name: 'labels', target: 'Label', isList: true },
    })
    expect(model!.models.Membership!.relations).toEqual({ account: { name: 'account', target: 'Account', isList: false } })
    expect(model!.models.Label!.relations).toEqual({ accounts: { name: 'accounts', target: 'Account', isList: true } })
  })

  test('the model generated for prisma/schema.prisma is up to date and maps the test schema', () => {
    const m = model!.models
    const projectModels = Object.fromEntries(Object.entries(m).filter(([name]) => !['Account', 'Membership', 'Label'].includes(name)))
    expect(JSON.parse(JSON.stringify(encryptionModel)).models).toEqual(projectModels)
    expect(m.User).toMatchObject({ table: 'users' })
    expect(m.Profile!.encryptedFields.bio).toMatchObject({ column: 'biography' })
    expect(m.Category).toMatchObject({ table: 'Category' })
    expect(m.Category!.encryptedFields.secretNote).toMatchObject({ column: 'secret_note' })
    expect(m.Comment).toMatchObject({ table: 'comments', primaryKey: ['postId', 'seq'], primaryKeyColumns: ['post_id', 'seq'] })
    expect(m.User!.relations).toMatchObject({ manager: { target: 'User', isList: false }, reports: { target: 'User', isList: true } })
    expect(m.AuditLog).toMatchObject({ table: 'audit_log', encryptedFields: {} })
  })
})

describe('annotations the generator refuses', () => {
  /** buildEncryptionModel on the real DMMF of one model of the refused schema. */
  function build(model: string, provider = 'postgresql'): unknown {
    expect(refused.exitCode).toBe(0)
    const datamodel: DMMF.Datamodel = { ...refused.datamodel!, models: refused.datamodel!.models.filter((m) => m.name === model) }
    expect(datamodel.models).toHaveLength(1)
    try {
      buildEncryptionModel(datamodel, provider)
    } catch (e) {
      return e
    }
    return undefined
  }

  test.each(REFUSED)('%s: %s', (model, declaration, message) => {
    const error = build(model)
    expect(error).toBeInstanceOf(SchemaAnnotationError)
    expect(error).toMatchObject({ code: 'KFE_SCHEMA_ANNOTATION', model, field: declaration.split(' ')[0] })
    expect((error as Error).message).toMatch(message)
  })

  test('on a relation field, naming the relation', () => {
    expect(build('EncRelation')).toMatchObject({
      model: 'EncRelation',
      field: 'target',
      message: expect.stringMatching(/relation to EncOther/),
    })
  })

  test('on a primary key field, single or composite', () => {
    expect(build('EncPrimaryKey')).toMatchObject({ model: 'EncPrimaryKey', field: 'code', message: expect.stringMatching(/primary key/) })
    expect(build('EncId')).toMatchObject({ model: 'EncId', field: 'id', message: expect.stringMatching(/@id/) })
  })

  test('an encrypted String[] on a database without scalar lists', () => {
    const datamodel = { ...valid.datamodel!, models: valid.datamodel!.models.filter((m) => m.name === 'Account') }
    expect(() => buildEncryptionModel(datamodel, 'mysql')).toThrow(/^Account\.aliases: .*scalar lists/)
  })

  test('end to end: `prisma generate` fails and shows the message', () => {
    expect(endToEndRefusal.exitCode).not.toBe(0)
    expect(endToEndRefusal.output).toMatch(
      /Thing\.when: @encrypted is only supported on String, String\?, String\[\] and Bytes fields, not DateTime/,
    )
    expect(endToEndRefusal.model).toBeUndefined()
  })
})
