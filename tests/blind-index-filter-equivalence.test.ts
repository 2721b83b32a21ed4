import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { encryptionModel } from './support/test-encryption-model'
import type { Prisma } from '../prisma/generated/client/client'
import { fieldEncryption } from '../src'
import { testLocalKeys } from './support/keys'
import { createCapturingTestDatabase, type CapturingTestDatabase } from './support/sql-capture'

/**
 * Differential test: Contact.nickname (encrypted, exact blind index) and Contact.nicknamePlain
 * (plaintext) hold the same values. Any equality filter, however nested, must select the same
 * rows on both: the rewrite to the index may not change what a filter means, including NULL
 * semantics and, while two index versions are live, rows still on the old one.
 */
const POOL = ['Ann Lee', 'ann lee', 'Bob Ray', ' Bob Ray', 'Zoë Kim', '']
const keys = testLocalKeys()
const oldRoot = randomBytes(32)
const newRoot = randomBytes(32)

let db: CapturingTestDatabase
let v1: ReturnType<typeof clients>['v1']
let both: ReturnType<typeof clients>['both']
const owners = { v1: 0, mixed: 0 }

function clients(db: CapturingTestDatabase) {
  return {
    v1: db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys, blindIndex: { rootKey: oldRoot } })),
    both: db.prisma.$extends(
      fieldEncryption({
        model: encryptionModel,
        keys,
        blindIndex: { version: 2, rootKey: newRoot, previous: { version: 1, rootKey: oldRoot } },
      }),
    ),
  }
}

beforeAll(async () => {
  db = await createCapturingTestDatabase()
  ;({ v1, both } = clients(db))
  const values = [...POOL, ...POOL, null, null]
  owners.v1 = (await v1.user.create({ data: { email: `eq-v1-${randomBytes(4).toString('hex')}@example.org` } })).id
  owners.mixed = (await v1.user.create({ data: { email: `eq-mixed-${randomBytes(4).toString('hex')}@example.org` } })).id
  await v1.contact.createMany({ data: values.map((v, i) => ({ ownerId: owners.v1, seq: i, nickname: v, nicknamePlain: v })) })
  // Half the rows on index version 1, half on version 2.
  await v1.contact.createMany({
    data: values.slice(0, 7).map((v, i) => ({ ownerId: owners.mixed, seq: i, nickname: v, nicknamePlain: v })),
  })
  await both.contact.createMany({
    data: values.slice(7).map((v, i) => ({ ownerId: owners.mixed, seq: 7 + i, nickname: v, nicknamePlain: v })),
  })
  const versions = await db.sql<{ v: string }>(
    'SELECT DISTINCT substr(nickname_index, 1, 3) AS v FROM contacts WHERE owner_id = $1 AND nickname_index IS NOT NULL ORDER BY 1',
    [owners.mixed],
  )
  expect(versions.map((r) => r.v)).toEqual(['v1:', 'v2:'])
})
afterAll(async () => {
  await db?.close()
})

// A filter tree written once, then materialised on either field.
type Tree = { leaf: unknown } | { AND: Tree[] } | { OR: Tree[] } | { NOT: Tree }
const value = fc.constantFrom(...POOL)
const list = fc.array(value, { maxLength: 3 })
// What may stand under `not`: the same operators, nested again (Prisma negates key by key).
const nested: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ n: Record<string, unknown> }>((tie) => ({
  n: fc.oneof(
    { depthSize: 'small' },
    fc.record({ equals: fc.oneof(value, fc.constant(null)) }),
    fc.record({ in: list }),
    fc.record({ notIn: list }),
    fc.record({ not: fc.oneof(value, fc.constant(null)) }),
    fc.record({ equals: value, in: list, notIn: list, not: fc.oneof(value, tie('n')) }, { requiredKeys: [] }),
  ),
})).n
const leaf: fc.Arbitrary<unknown> = fc.oneof(
  value,
  fc.constant(null),
  fc.record({ equals: fc.oneof(value, fc.constant(null)) }),
  fc.record({ in: list }),
  fc.record({ notIn: list }),
  fc.record({ not: fc.oneof(value, fc.constant(null), nested) }),
  fc.record({ equals: value, in: list, notIn: list, not: fc.oneof(value, nested) }, { requiredKeys: [] }),
)
const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf.map((l) => ({ leaf: l })),
    fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((t) => ({ AND: t })),
    fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((t) => ({ OR: t })),
    tie('tree').map((t) => ({ NOT: t })),
  ),
})).tree

function on(field: 'nickname' | 'nicknamePlain', t: Tree): Prisma.ContactWhereInput {
  if ('leaf' in t) return { [field]: t.leaf } as Prisma.ContactWhereInput
  if ('AND' in t) return { AND: t.AND.map((x) => on(field, x)) }
  if ('OR' in t) return { OR: t.OR.map((x) => on(field, x)) }
  return { NOT: on(field, t.NOT) }
}

async function seqs(client: typeof v1, ownerId: number, where: Prisma.ContactWhereInput): Promise<number[]> {
  return (await client.contact.findMany({ where: { AND: [{ ownerId }, where] }, select: { seq: true } }))
    .map((r) => r.seq)
    .sort((a, b) => a - b)
}

async function check(client: typeof v1, ownerId: number, t: Tree): Promise<void> {
  const plain = await seqs(client, ownerId, on('nicknamePlain', t))
  db.capture.clear()
  const indexed = await seqs(client, ownerId, on('nickname', t))
  expect(indexed).toEqual(plain)
  // The encrypted side sent no plaintext of the pool.
  expect(db.capture.leaked(POOL.filter((p) => p.trim() !== ''))).toEqual([])
}

describe('equality filters select the same rows on the index as on the plaintext', () => {
  it('with one index version', async () => {
    await fc.assert(
      fc.asyncProperty(tree, (t) => check(v1, owners.v1, t)),
      { numRuns: 150 },
    )
  })

  it('with two versions live and rows on both', async () => {
    await fc.assert(
      fc.asyncProperty(tree, (t) => check(both, owners.mixed, t)),
      { numRuns: 150 },
    )
  })

  it('on the examples that matter most', async () => {
    for (const t of [
      { leaf: { not: 'Ann Lee' } },
      { leaf: { notIn: ['Ann Lee', 'Bob Ray'] } },
      { leaf: { not: { in: ['Ann Lee'] } } },
      { leaf: { equals: 'Ann Lee', in: ['Bob Ray'] } },
      { NOT: { leaf: null } },
      { leaf: '' },
      { leaf: { not: { equals: 'Ann Lee', in: [] } } },
      { leaf: { not: { not: { notIn: ['Bob Ray'] } } } },
      { NOT: { AND: [{ leaf: { equals: 'Ann Lee', in: ['Bob Ray'] } }, { leaf: { notIn: [] } }] } },
    ] as Tree[]) {
      await check(v1, owners.v1, t)
      await check(both, owners.mixed, t)
    }
  })
})
