import { DecryptionFailedError, FieldEncryptionError, MalformedCiphertextError, NotEncryptedError } from '../src'
import { ENTITIES, Profile, User } from './support/typeorm-entities'
import { createTypeOrmDatabase, type TypeOrmTestDatabase } from './support/typeorm-data-source'

/** Stored values altered or moved under the adapter's feet are refused with typed errors on read. */
let db: TypeOrmTestDatabase
const users = () => db.dataSource.getRepository(User)

beforeAll(async () => (db = await createTypeOrmDatabase(ENTITIES)))
afterAll(() => db.close())

async function fresh(): Promise<User> {
  return users().save(users().create({ email: `t${Math.random()}@x.io`, phone: '+1 555', profile: { bio: 'bio text' } as Profile }))
}
async function stored(id: number, column: string): Promise<string> {
  const [row] = await db.sql(`SELECT ${column} AS v FROM users WHERE id = $1`, [id])
  return String(row!.v)
}
async function put(id: number, column: string, value: unknown): Promise<void> {
  await db.sql(`UPDATE users SET ${column} = $1 WHERE id = $2`, [value, id])
}

test('a flipped character in the body is an authentication failure', async () => {
  const u = await fresh()
  const value = await stored(u.id, 'email')
  const i = value.length - 5
  await put(u.id, 'email', value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1))
  await expect(users().findOneBy({ id: u.id })).rejects.toBeInstanceOf(DecryptionFailedError)
})

test('a truncated value is malformed or fails authentication', async () => {
  const u = await fresh()
  await put(u.id, 'email', (await stored(u.id, 'email')).slice(0, 60))
  const err = await users()
    .findOneBy({ id: u.id })
    .then(
      () => undefined,
      (e: unknown) => e,
    )
  expect(err instanceof MalformedCiphertextError || err instanceof DecryptionFailedError).toBe(true)
})

test('a value moved from another column of the table is refused (the AAD binds the column)', async () => {
  const u = await fresh()
  await put(u.id, 'email', await stored(u.id, 'phone'))
  const err = await users()
    .findOneBy({ id: u.id })
    .then(
      () => undefined,
      (e: unknown) => e,
    )
  expect(err).toBeInstanceOf(DecryptionFailedError)
  expect((err as FieldEncryptionError).field).toBe('email')
})

test('a value moved from another table is refused (the AAD binds the table)', async () => {
  const u = await fresh()
  const [p] = await db.sql('SELECT biography FROM profiles WHERE user_id = $1', [u.id])
  await put(u.id, 'phone', p!.biography)
  await expect(users().findOneBy({ id: u.id })).rejects.toBeInstanceOf(DecryptionFailedError)
})

test('a plaintext put in an encrypted column is refused, not passed through', async () => {
  const u = await fresh()
  await put(u.id, 'phone', 'written around the adapter')
  await expect(users().findOneBy({ id: u.id })).rejects.toBeInstanceOf(NotEncryptedError)
})

test('the error never carries the plaintext', async () => {
  const u = await users().save(users().create({ email: 'who@x.io', phone: 'very-secret-phone' }))
  await put(u.id, 'email', await stored(u.id, 'phone'))
  const err = (await users()
    .findOneBy({ id: u.id })
    .then(
      () => undefined,
      (e: unknown) => e,
    )) as Error
  expect(err.message + JSON.stringify(err)).not.toMatch(/very-secret-phone|who@x\.io/)
})
