import { encryptionModel } from './support/test-encryption-model'
import { BlindIndexer, EnvelopeEncryptor, InvalidFieldValueError, LocalKeyProvider } from '../src'
import { blindIndexFieldsOf } from '../src/blind-index/blind-index-field'
import { fieldContext } from '../src/cipher/field-context'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import type { QueryRecorder } from './support/query-recorder'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'
import { supportsScalarLists } from './support/test-database-kind'

/**
 * UTF-8 cannot hold a lone UTF-16 surrogate: `Buffer.from("a\ud800b")` stores "a\ufffdb", so a
 * create would return one string while the database holds another. Such strings are refused
 * where text becomes bytes (the core encryptor and the blind index), with a typed error naming
 * model and field and never the value; nothing reaches the database.
 */
const LONE = ['a\ud800b', 'end\udbff', '\udc00start', 'x\udc00\ud800y']
let db: TestDatabase
let prisma: EncryptedClient
let recorder: QueryRecorder

beforeAll(async () => {
  db = await createTestDatabase()
  ;({ prisma, recorder } = encryptedClient(db))
  await truncateTables(db)
})
afterAll(async () => {
  await db.close()
})
beforeEach(() => recorder.clear())

async function expectInvalid(run: () => PromiseLike<unknown>, model: string, field: string): Promise<void> {
  let error: unknown
  try {
    await run()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(InvalidFieldValueError)
  expect(error).toMatchObject({ code: 'KFE_INVALID_FIELD_VALUE', model, field })
  const message = (error as Error).message
  expect(message).toMatch(/lone UTF-16 surrogate/)
  for (const s of LONE) expect(message).not.toContain(s)
  expect(recorder.queries).toEqual([])
}

describe('lone surrogates are refused, never stored as U+FFFD', () => {
  test.each(LONE.map((s) => [JSON.stringify(s), s]))('create with %s in an encrypted field without index', async (_n, value) => {
    await expectInvalid(() => prisma.user.create({ data: { email: 'ok@example.com', phone: value } }), 'User', 'phone')
    if (supportsScalarLists())
      await expectInvalid(() => prisma.user.create({ data: { email: 'ok@example.com', tags: ['fine', value] } }), 'User', 'tags')
  })

  test('create with a lone surrogate in a blind-indexed field', async () => {
    await expectInvalid(() => prisma.user.create({ data: { email: 'a\ud800b' } }), 'User', 'email')
  })

  test('a filter by a blind-indexed field with a lone surrogate (it would match "a\\ufffdb")', async () => {
    await prisma.user.create({ data: { email: 'a\ufffdb' } })
    recorder.clear()
    await expectInvalid(() => prisma.user.findFirst({ where: { email: 'a\ud800b' } }), 'User', 'email')
    await expect(prisma.user.findFirst({ where: { email: 'a\ufffdb' } })).resolves.toMatchObject({ email: 'a\ufffdb' })
  })

  test('well-formed text, surrogate pairs included, round-trips', async () => {
    const email = 'emoji 😀 𝄞 ok'
    const created = await prisma.user.create({ data: { email, phone: '☎ 😀' } })
    expect(created).toMatchObject({ email, phone: '☎ 😀' })
    await expect(prisma.user.findUnique({ where: { id: created.id } })).resolves.toMatchObject({ email, phone: '☎ 😀' })
  })
})

describe('the core refuses them for every adapter', () => {
  const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  test('EnvelopeEncryptor.encryptMany encrypts nothing when one value has a lone surrogate', async () => {
    const encryptor = new EnvelopeEncryptor({ keys })
    const ctx = fieldContext('User', 'email', 'users', 'email')
    await expect(
      encryptor.encryptMany([
        { value: 'fine', ctx },
        { value: 'a\ud800b', ctx },
      ]),
    ).rejects.toMatchObject({ code: 'KFE_INVALID_FIELD_VALUE', model: 'User', field: 'email' })
    expect(encryptor.stats().valuesEncrypted).toBe(0)
  })

  test('BlindIndexer refuses to hash one', async () => {
    const indexer = BlindIndexer.forModel(encryptionModel, { rootKey: keys })
    await indexer.load()
    const field = blindIndexFieldsOf(encryptionModel)[0]!
    expect(() => indexer.compute(field, 'a\ud800b')).toThrow(InvalidFieldValueError)
    expect(() => indexer.candidates(field, 'a\ud800b')).toThrow(/lone UTF-16 surrogate/)
    expect(indexer.compute(field, 'a\ufffdb')).toMatch(/^v1:/)
  })
})
