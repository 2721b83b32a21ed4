/**
 * `readPlaintext` scoped to models and fields: only the named fields return values that are not
 * in our format; every other encrypted field still refuses them (`NotEncryptedError`), so a
 * migration of one column does not switch off integrity for all the others.
 */
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { ConfigurationError, NotEncryptedError } from '../src/errors'
import { encryptedClient } from './support/encrypted-client'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

const keys = testLocalKeys()
const email = fieldContext('User', 'email', 'users', 'email')
const phone = fieldContext('User', 'phone', 'users', 'phone')
const body = fieldContext('Post', 'body', 'posts', 'body')
const bio = fieldContext('Profile', 'bio', 'profiles', 'biography')
const avatar = fieldContext('User', 'avatar', 'users', 'avatar', 'bytes')

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  )

describe('the encryptor', () => {
  it('{ User: true, Post: ["body"] }: plaintext of User and Post.body passes, of Profile.bio is refused', async () => {
    const enc = new EnvelopeEncryptor({ keys, readPlaintext: { User: true, Post: ['body'] } })
    expect(await enc.decrypt('legacy', email)).toBe('legacy')
    expect(await enc.decrypt('legacy', phone)).toBe('legacy')
    expect(Array.from((await enc.decrypt(new Uint8Array([1, 2]), avatar)) as Uint8Array)).toEqual([1, 2])
    expect(await enc.decrypt('legacy', body)).toBe('legacy')
    const err = await refusal(enc.decrypt('legacy', bio))
    expect(err).toBeInstanceOf(NotEncryptedError)
    expect(err).toMatchObject({ code: 'KFE_NOT_ENCRYPTED', model: 'Profile', field: 'bio' })
    // batches decide per value, and encrypted values still decrypt everywhere
    const sealed = await enc.encrypt('sealed', bio)
    expect(
      await enc.decryptMany([
        { value: 'a', ctx: email },
        { value: sealed, ctx: bio },
      ]),
    ).toEqual(['a', 'sealed'])
    await expect(
      enc.decryptMany([
        { value: 'a', ctx: email },
        { value: 'b', ctx: bio },
      ]),
    ).rejects.toBeInstanceOf(NotEncryptedError)
    expect(enc.readsPlaintext(email)).toBe(true)
    expect(enc.readsPlaintext(bio)).toBe(false)
  })

  it('{ User: ["phone"] }: only that field; a name that matches nothing lets nothing through', async () => {
    const enc = new EnvelopeEncryptor({ keys, readPlaintext: { User: ['phone'], Usr: true } })
    expect(await enc.decrypt('+1 555', phone)).toBe('+1 555')
    await expect(enc.decrypt('a@example.com', email)).rejects.toMatchObject({ code: 'KFE_NOT_ENCRYPTED', field: 'email' })
    await expect(enc.decrypt('x', body)).rejects.toBeInstanceOf(NotEncryptedError)
  })

  it('true and false keep their meaning', async () => {
    expect(await new EnvelopeEncryptor({ keys, readPlaintext: true }).decrypt('x', bio)).toBe('x')
    await expect(new EnvelopeEncryptor({ keys, readPlaintext: false }).decrypt('x', bio)).rejects.toBeInstanceOf(NotEncryptedError)
  })

  it.each([['yes'], [['User']], [{ User: 'phone' }], [{ User: [1] }], [{ User: [''] }], [{ User: false }], [null]])(
    'refuses readPlaintext %j at construction',
    (option) => {
      expect(() => new EnvelopeEncryptor({ keys, readPlaintext: option as never })).toThrow(ConfigurationError)
    },
  )
})

describe('through Prisma', () => {
  let db: TestDatabase
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(async () => {
    await db.close()
  })
  beforeEach(async () => {
    await truncateTables(db)
  })

  it('readPlaintext: { User: ["phone"] } reads a legacy phone, and refuses a legacy email of the same row', async () => {
    const { prisma } = encryptedClient(db, { keys, readPlaintext: { User: ['phone'] } })
    const user = await prisma.user.create({ data: { email: 'enc@example.com' } })
    await db.sql(`UPDATE users SET phone = 'legacy phone' WHERE id = $1`, [user.id])
    expect(await prisma.user.findUniqueOrThrow({ where: { id: user.id } })).toMatchObject({
      email: 'enc@example.com',
      phone: 'legacy phone',
    })
    await db.sql(`UPDATE users SET email = 'planted@example.com' WHERE id = $1`, [user.id])
    await expect(prisma.user.findUniqueOrThrow({ where: { id: user.id } })).rejects.toMatchObject({
      code: 'KFE_NOT_ENCRYPTED',
      model: 'User',
      field: 'email',
    })
  })
})
