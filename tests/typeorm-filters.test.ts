import { And, ArrayContains, Between, Equal, ILike, In, IsNull, LessThan, Like, MoreThan, Not, Or, Raw } from 'typeorm'
import { ConfigurationError, InvalidFieldValueError, UnsupportedEncryptedFieldQueryError } from '../src'
import { blindIndexValues } from '../src/typeorm'
import { ENTITIES, Post, User } from './support/typeorm-entities'
import { createTypeOrmDatabase, type TypeOrmTestDatabase } from './support/typeorm-data-source'

let db: TypeOrmTestDatabase
const users = () => db.dataSource.getRepository(User)
let ann: User
let bob: User

beforeAll(async () => {
  db = await createTypeOrmDatabase(ENTITIES)
  ann = await users().save(
    users().create({ email: 'Ann@Example.com', phone: '111', name: 'ann', posts: [{ title: 't1', body: 'first' } as Post] }),
  )
  bob = await users().save(users().create({ email: 'bob@example.com', phone: null, name: 'bob' }))
  await users().save(users().create({ email: 'cy@example.com', phone: '333', name: 'cy' }))
})
afterAll(() => db.close())

const names = (rows: User[]) => rows.map((r) => r.name).sort()

test.each([
  ['a plain value (normalised as the index)', { email: '  ANN@example.com ' }, ['ann']],
  ['Equal', { email: Equal('bob@example.com') }, ['bob']],
  ['In', { email: In(['ann@example.com', 'cy@example.com', 'nobody@x']) }, ['ann', 'cy']],
  ['Not', { email: Not('ann@example.com') }, ['bob', 'cy']],
  ['Not(In)', { email: Not(In(['ann@example.com', 'bob@example.com'])) }, ['cy']],
  ['Or', { email: Or(Equal('ann@example.com'), Equal('cy@example.com')) }, ['ann', 'cy']],
  ['And', { email: And(Not('ann@example.com'), Not('cy@example.com')) }, ['bob']],
  ['IsNull on the encrypted column', { phone: IsNull() }, ['bob']],
  ['Not(IsNull)', { phone: Not(IsNull()) }, ['ann', 'cy']],
  ['equality beside a plain column', { email: 'ann@example.com', name: 'ann' }, ['ann']],
])('find where %s is rewritten to the blind index', async (_label, where, expected) => {
  expect(names(await users().findBy(where as never))).toEqual(expected)
})

test('arrays mean OR; nested relation conditions are rewritten too', async () => {
  expect(names(await users().find({ where: [{ email: 'ann@example.com' }, { email: 'bob@example.com' }] }))).toEqual(['ann', 'bob'])
  const posts = await db.dataSource.getRepository(Post).find({ where: { author: { email: 'ANN@example.com' } } })
  expect(posts.map((p) => p.body)).toEqual(['first'])
  expect((await users().findOneBy({ email: 'bob@example.com' }))?.id).toBe(bob.id)
  expect(await users().countBy({ email: In(['ann@example.com', 'bob@example.com']) })).toBe(2)
  expect(await users().existsBy({ email: 'cy@example.com' })).toBe(true)
})

test.each([
  ['Like', () => users().findBy({ email: Like('%ann%') })],
  ['ILike', () => users().findBy({ email: ILike('%ann%') })],
  ['Between', () => users().findBy({ email: Between('a', 'b') })],
  ['MoreThan', () => users().findBy({ email: MoreThan('a') })],
  ['LessThan', () => users().findBy({ email: LessThan('a') })],
  ['Raw', () => users().findBy({ email: Raw((a) => `${a} = 'x'`) })],
  ['ArrayContains on an encrypted list', () => users().findBy({ tags: ArrayContains(['a']) })],
  ['Not(Like)', () => users().findBy({ email: Not(Like('%x%')) })],
  ['an operator inside In', () => users().findBy({ email: In([Like('%x%')] as never) })],
  ['Or mixing IsNull and equality', () => users().findBy({ phone: Or(IsNull(), Equal('1')) })],
  ['order', () => users().find({ order: { email: 'ASC' } })],
  ['order on a relation', () => db.dataSource.getRepository(Post).find({ order: { author: { email: 'DESC' } } })],
  ['equality without a blind index', () => users().findBy({ phone: '111' })],
  ['sum of an encrypted column', () => users().sum('email' as never, {})],
  ['maximum of an encrypted column', () => users().maximum('phone' as never)],
  ['increment of an encrypted column', () => users().increment({ id: ann.id }, 'phone', 1)],
  ['QueryBuilder orderBy', () => users().createQueryBuilder('u').orderBy('u.email').getMany()],
  ['QueryBuilder object where without an index', () => users().createQueryBuilder('u').where({ phone: '111' }).getMany()],
  ['update criteria with Like', () => users().update({ email: Like('%a%') }, { name: 'x' })],
  ['delete criteria without an index', () => users().delete({ phone: '111' })],
])('%s on an encrypted field is refused before any SQL is sent', async (_label, run) => {
  db.capture.clear()
  // Query builder methods refuse as they are called (synchronously); the others reject.
  const err = await (async () => run())().then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(UnsupportedEncryptedFieldQueryError)
  // Refused by the adapter while the query is built, not only by the driver guard behind it.
  expect((err as UnsupportedEncryptedFieldQueryError).operator).not.toBe('unencrypted value')
  expect(db.capture.statements.filter((s) => !/^(BEGIN|START TRANSACTION|ROLLBACK|COMMIT)/i.test(s.query))).toEqual([])
})

test('a wrong type compared with an encrypted field is a typed error', async () => {
  await expect(users().findBy({ email: 42 as never })).rejects.toBeInstanceOf(InvalidFieldValueError)
})

test('QueryBuilder string conditions: blindIndexValues gives the values to bind', async () => {
  const found = await users()
    .createQueryBuilder('u')
    .where('u.emailIndex IN (:...email)', { email: blindIndexValues(db.dataSource, User, 'email', ' Bob@Example.com') })
    .getMany()
  expect(found.map((u) => u.email)).toEqual(['bob@example.com'])
  expect(() => blindIndexValues(db.dataSource, User, 'phone', 'x')).toThrow(ConfigurationError)
})
