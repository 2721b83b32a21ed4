/**
 * prisma-field-encryption values at run time. Under `readPlaintext: true` (the documented
 * migration step) a `v1.aesgcm256.…` value used to be returned as if it were plaintext, and an
 * application saving the row back encrypted the PFE ciphertext. Now the encryptor (so every
 * adapter) reads such values with the PFE keys given as `pfeKeys` (`pfeKeysFromEnv()` reads PFE's
 * own environment, only when called), and without them refuses them (`KFE_PFE_KEY_REQUIRED`).
 */
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import {
  ConfigurationError,
  DecryptionFailedError,
  NotEncryptedError,
  PfeKeyRequiredError,
  UnknownKeyProviderError,
  pfeKeysFromEnv,
} from '../src'
import { encryptedClient } from './support/encrypted-client'
import { testLocalKeys } from './support/keys'
import { pfeEncrypt, pfeKey } from './support/migration-pfe-values'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

const keys = testLocalKeys()
const email = fieldContext('User', 'email', 'users', 'email')
const avatar = fieldContext('User', 'avatar', 'users', 'avatar', 'bytes')
const key = pfeKey()
const olderKey = pfeKey()
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error,
  )

describe('the encryptor', () => {
  it.each([[true], [false], [{ User: ['email'] }]])(
    'readPlaintext %j without pfeKeys: a PFE value is refused, not returned',
    async (readPlaintext) => {
      const value = pfeEncrypt('ada@example.com', key)
      const enc = new EnvelopeEncryptor({ keys, readPlaintext })
      for (const attempt of [enc.decrypt(value, email), enc.decryptMany([{ value, ctx: email }])]) {
        const err = await refusal(attempt)
        expect(err).toBeInstanceOf(PfeKeyRequiredError)
        expect(err).toMatchObject({ code: 'KFE_PFE_KEY_REQUIRED', model: 'User', field: 'email' })
        expect(err!.message).not.toContain(value.slice(13))
      }
      const [settled] = await enc.decryptManySettled([{ value, ctx: email }])
      expect(settled).toMatchObject({ ok: false, error: { code: 'KFE_PFE_KEY_REQUIRED' } })
    },
  )

  it('with pfeKeys: PFE values (any of its keys) read as their plaintext, beside our values and plaintext', async () => {
    const enc = new EnvelopeEncryptor({ keys, readPlaintext: true, pfeKeys: [key, olderKey] })
    const ours = await enc.encrypt('ours@example.com', email)
    const values = [pfeEncrypt('ada@example.com', key), ours, 'legacy@example.com', pfeEncrypt('ünï ✓', olderKey), pfeEncrypt('', key)]
    expect(await enc.decryptMany(values.map((value) => ({ value, ctx: email })))).toEqual([
      'ada@example.com',
      'ours@example.com',
      'legacy@example.com',
      'ünï ✓',
      '',
    ])
    expect(await enc.decrypt(values[0], email)).toBe('ada@example.com')
    // without readPlaintext, PFE values still read (they are authenticated), plaintext does not
    const strict = new EnvelopeEncryptor({ keys, pfeKeys: [key] })
    expect(await strict.decrypt(values[0], email)).toBe('ada@example.com')
    await expect(strict.decrypt('legacy', email)).rejects.toBeInstanceOf(NotEncryptedError)
    // a Bytes field is never read as a PFE value
    await expect(strict.decrypt(new TextEncoder().encode(values[0] as string), avatar)).rejects.toBeInstanceOf(NotEncryptedError)
  })

  it('a PFE value of another key, or altered, is refused with a typed error', async () => {
    const enc = new EnvelopeEncryptor({ keys, readPlaintext: true, pfeKeys: [key] })
    await expect(enc.decrypt(pfeEncrypt('x', pfeKey()), email)).rejects.toBeInstanceOf(UnknownKeyProviderError)
    const parts = pfeEncrypt('secret', key).split('.')
    const body = Buffer.from(parts[4]!, 'base64')
    body[0]! ^= 1
    parts[4] = body.toString('base64url')
    await expect(enc.decrypt(parts.join('.'), email)).rejects.toBeInstanceOf(DecryptionFailedError)
  })

  it('pfeKeys are checked at construction', () => {
    expect(() => new EnvelopeEncryptor({ keys, pfeKeys: ['not a key'] })).toThrow(ConfigurationError)
    expect(() => new EnvelopeEncryptor({ keys, pfeKeys: key as never })).toThrow(ConfigurationError)
  })

  it("pfeKeysFromEnv reads PFE's own variables only when called, and refuses an environment without them", () => {
    expect(pfeKeysFromEnv({ PRISMA_FIELD_ENCRYPTION_KEY: key, PRISMA_FIELD_DECRYPTION_KEYS: `${olderKey}, ${key}` })).toEqual([
      key,
      olderKey,
    ])
    expect(pfeKeysFromEnv({ PRISMA_FIELD_DECRYPTION_KEYS: olderKey })).toEqual([olderKey])
    expect(() => pfeKeysFromEnv({})).toThrow(ConfigurationError)
  })
})

describe('through Prisma, the documented migration step', () => {
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

  it('readPlaintext: true refuses a PFE row; with pfeKeys it reads, and saving it back stores our format of the plaintext', async () => {
    const { prisma: seed } = encryptedClient(db, { keys })
    const user = await seed.user.create({ data: { email: 'placeholder@example.com' } })
    await db.sql('UPDATE users SET email = $1, phone = $2 WHERE id = $3', [pfeEncrypt('ada@example.com', key), 'legacy phone', user.id])

    const { prisma: migrating } = encryptedClient(db, { keys, readPlaintext: true })
    await expect(migrating.user.findUniqueOrThrow({ where: { id: user.id } })).rejects.toMatchObject({
      code: 'KFE_PFE_KEY_REQUIRED',
      field: 'email',
    })

    const { prisma: app } = encryptedClient(db, {
      keys,
      readPlaintext: true,
      pfeKeys: pfeKeysFromEnv({ PRISMA_FIELD_ENCRYPTION_KEY: key }),
    })
    const read = await app.user.findUniqueOrThrow({ where: { id: user.id } })
    expect(read).toMatchObject({ email: 'ada@example.com', phone: 'legacy phone' })
    await app.user.update({ where: { id: user.id }, data: { email: read.email } })
    const [row] = await db.sql<{ email: string }>('SELECT email FROM users WHERE id = $1', [user.id])
    expect(row!.email.startsWith('$kfe$')).toBe(true)
    const { prisma: strict } = encryptedClient(db, { keys })
    expect((await strict.user.findUniqueOrThrow({ where: { id: user.id }, select: { email: true } })).email).toBe('ada@example.com')
  })
})
