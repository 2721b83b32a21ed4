import fc from 'fast-check'
import { And, Equal, In, Not, Or, type FindOperator } from 'typeorm'
import { ENTITIES, User } from './support/typeorm-entities'
import { createTypeOrmDatabase, type TypeOrmTestDatabase } from './support/typeorm-data-source'

/**
 * Differential test: User.email (encrypted, blind index normalised lowercase + trim) and
 * User.emailTwin (plaintext, holding the normalised email) describe the same rows. Any filter
 * tree on email (values, Equal, In, Not, And, Or, arrays as OR) must select exactly the rows the
 * same tree selects on the twin with normalised values: the rewrite may not change a filter's meaning.
 */
const POOL = ['Ann@Example.com', 'ann@example.com ', 'BOB@example.com', ' bob@example.com', 'zoë@example.com', 'nobody@example.com']
const normal = (s: string) => s.trim().toLowerCase()

let db: TypeOrmTestDatabase
beforeAll(async () => {
  db = await createTypeOrmDatabase(ENTITIES)
  const repo = db.dataSource.getRepository(User)
  // The index is unique: one row per normalised value; the pool queries them in other spellings.
  for (const email of ['Ann@Example.com', ' BOB@example.com', 'zoë@example.com', 'carl@example.com'])
    await repo.save(repo.create({ email, emailTwin: normal(email) }))
})
afterAll(() => db.close())

type Tree = { k: 'value' | 'equal'; v: string } | { k: 'in'; v: string[] } | { k: 'not'; c: Tree } | { k: 'and' | 'or'; c: [Tree, Tree] }

const leaf = fc.oneof(
  fc.record({ k: fc.constantFrom('value' as const, 'equal' as const), v: fc.constantFrom(...POOL) }),
  fc.record({ k: fc.constant('in' as const), v: fc.array(fc.constantFrom(...POOL), { minLength: 1, maxLength: 3 }) }),
)
const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.record({ k: fc.constant('not' as const), c: leaf }),
    fc.record({ k: fc.constantFrom('and' as const, 'or' as const), c: fc.tuple(tie('tree'), tie('tree')) }),
  ),
}))

/** The tree as a TypeORM condition; `map` normalises values for the twin, or leaves them for the encrypted field. */
function condition(t: Tree, map: (s: string) => string, top = true): unknown {
  switch (t.k) {
    case 'value':
      return top ? map(t.v) : Equal(map(t.v))
    case 'equal':
      return Equal(map(t.v))
    case 'in':
      return In(t.v.map(map))
    case 'not':
      return Not(condition(t.c, map, false) as FindOperator<unknown>)
    case 'and':
      return And(...(t.c.map((c) => condition(c, map, false)) as FindOperator<unknown>[]))
    case 'or':
      return Or(...(t.c.map((c) => condition(c, map, false)) as FindOperator<unknown>[]))
  }
}

test('every filter tree on the encrypted field selects what it selects on the plaintext twin', async () => {
  const repo = db.dataSource.getRepository(User)
  await fc.assert(
    fc.asyncProperty(fc.array(tree, { minLength: 1, maxLength: 2 }), async (trees) => {
      const encrypted = trees.map((t) => ({ email: condition(t, (s) => s) }))
      const twin = trees.map((t) => ({ emailTwin: condition(t, normal) }))
      const ids = async (where: unknown) => (await repo.find({ where: where as never, select: { id: true } })).map((u) => u.id).sort()
      expect(await ids(encrypted)).toEqual(await ids(twin))
    }),
    { numRuns: 60 },
  )
})
