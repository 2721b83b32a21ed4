import { encryptionModel } from './support/test-encryption-model'
import { ConfigurationError, DecryptionFailedError, fieldEncryption, LocalKeyProvider, UnknownKeyProviderError } from '../src'
import { looksLikePfeValue, PfeKeychain, pfeKeyFingerprint } from '../src/migration/pfe-keychain'
import { encryptColumns, encryptionStatus } from '../src/migration/run-migration'
import { createMigrationDatabase, emptyTables, type MigrationTestDatabase } from './support/migration-database'
import { pfeEncrypt, pfeKey } from './support/migration-pfe-values'

const at = { model: 'User', field: 'email' }

describe("prisma-field-encryption's format", () => {
  // Published test vectors of @47ng/cloak (src/key.test.ts and src/index.test.ts upstream):
  // public example keys, not secrets of this project.
  test("reads @47ng/cloak's own known-answer vectors", () => {
    expect(pfeKeyFingerprint('k1.aesgcm256.Q46Y_L1Vx3KBVQ1POmtuGo2IdWalnbWQzxigxC-vEqo=')).toBe('1fb314a0')
    const chain = new PfeKeychain([
      'k1.aesgcm256.2itF7YmMYIP4b9NNtKMhIx2axGi6aI50RcwGBiFq-VA=',
      'k1.aesgcm256.CO6hoJ8l1nAmXpuCcuNg-l5g3Nn63X36lBwhsNepUEY=',
    ])
    expect(chain.decrypt('v1.aesgcm256.710bb0e2.F5wkSytfdVv4xvtN.8uNajc7ufhVmMFpDdzWgKMKhOY4ZR2OSv1DFjvnm', at)).toBe('Hello, World !')
    expect(chain.decrypt('v1.aesgcm256.4eb11c57.UAuPXcQZV_e40NP6.OvVOoWCXhMB_G-giNtAbDYZI0sfJomHUAW0vpxKV', at)).toBe('Hello, World !') // made by WebCrypto
  })

  test('reads values made with node:crypto from the spec: empty, long and non-ASCII text, padded or not', () => {
    const key = pfeKey()
    const chain = new PfeKeychain([key])
    for (const text of ['', 'a', 'ünïcødé ✓ 𝄞', 'x'.repeat(10_000)]) {
      const value = pfeEncrypt(text, key)
      expect(looksLikePfeValue(value)).toBe(true)
      expect(chain.decrypt(value, at)).toBe(text)
      expect(chain.decrypt(value.replace(/=+$/, ''), at)).toBe(text)
    }
  })

  test('a value of an unknown key, an altered value and a bad key are refused with typed errors that never show the value', () => {
    const key = pfeKey()
    const value = pfeEncrypt('secret text', key)
    expect(() => new PfeKeychain([pfeKey()]).decrypt(value, at)).toThrow(UnknownKeyProviderError)
    const parts = value.split('.')
    const body = Buffer.from(parts[4]!, 'base64')
    body[0]! ^= 1
    parts[4] = body.toString('base64url')
    let error: unknown
    try {
      new PfeKeychain([key]).decrypt(parts.join('.'), at)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(DecryptionFailedError)
    expect(String((error as Error).message)).not.toContain('secret')
    expect(() => new PfeKeychain(['k1.aesgcm256.AQIDBAUGBwg='])).toThrow(ConfigurationError) // 8 bytes
    expect(() => new PfeKeychain(['not a key'])).toThrow(ConfigurationError)
    expect(looksLikePfeValue('v1.aesgcm256.nothex00.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA')).toBe(false)
    expect(looksLikePfeValue('plain text')).toBe(false)
  })
})

describe('encrypt --from-pfe-key', () => {
  let db: MigrationTestDatabase
  const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  const oldKey = pfeKey()
  const olderKey = pfeKey()
  const run = (pfeKeys?: string[]) =>
    encryptColumns({ model: encryptionModel, keys, database: db.database, fields: ['User.email', 'User.phone'], pfeKeys })

  beforeAll(async () => {
    db = await createMigrationDatabase()
  })
  afterAll(async () => {
    await db.close()
  })
  beforeEach(async () => {
    await emptyTables(db)
    // Rows 1-10: prisma-field-encryption values (two keys, as after a rotation there); 11-20: still plaintext.
    for (let i = 1; i <= 20; i++) {
      const email = ` Person${i}@Example.com`
      const phone = `+1 555 ${i}`
      const stored = i <= 10 ? [pfeEncrypt(email, i % 2 ? oldKey : olderKey), pfeEncrypt(phone, oldKey)] : [email, phone]
      await db.sql('INSERT INTO users (id, email, phone, tags) VALUES ($1, $2, $3, ARRAY[]::text[])', [i, ...stored])
    }
  })

  test('status tells them apart; encrypt converts them with their keys and fills blind indexes from their plaintext', async () => {
    const before = await encryptionStatus({ model: encryptionModel, keys, database: db.database, fields: ['User.email'] })
    expect(before.columns[0]).toMatchObject({ prismaFieldEncryption: 10, plaintext: 10 })

    const summary = await run([oldKey, olderKey])
    expect(summary.ok).toBe(true)
    expect(summary.columns.map((c) => c.counts)).toEqual([
      { 'converted from prisma-field-encryption': 10, encrypted: 10 },
      { 'converted from prisma-field-encryption': 10, encrypted: 10 },
    ])
    const prisma = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys }))
    const users = await prisma.user.findMany({ orderBy: { id: 'asc' }, select: { id: true, email: true, phone: true } })
    expect(users.map((u) => [u.email, u.phone])).toEqual(users.map((u) => [` Person${u.id}@Example.com`, `+1 555 ${u.id}`]))
    expect((await prisma.user.findFirst({ where: { email: 'person3@example.com' } }))?.id).toBe(3)
    expect(
      (await encryptionStatus({ model: encryptionModel, keys, database: db.database, fields: ['User.email', 'User.phone'] })).complete,
    ).toBe(true)
  })

  test('without its key a prisma-field-encryption value is never taken for plaintext: the row fails and stays as it was', async () => {
    const stored = await db.sql<{ email: string }>('SELECT email FROM users WHERE id <= 10 ORDER BY id')
    const summary = await run()
    expect(summary.ok).toBe(false)
    expect(summary.columns[0]!.counts).toEqual({ encrypted: 10 })
    expect(summary.columns[0]!.failures).toEqual([expect.objectContaining({ reason: 'KFE_PFE_KEY_REQUIRED', count: 10 })])
    expect(await db.sql('SELECT email FROM users WHERE id <= 10 ORDER BY id')).toEqual(stored)

    // With only one of the two keys, the other key's rows fail by name.
    const partial = await run([oldKey])
    expect(partial.columns[0]!.counts).toEqual({ 'converted from prisma-field-encryption': 5 })
    expect(partial.columns[0]!.failures).toEqual([expect.objectContaining({ reason: 'KFE_UNKNOWN_KEY_PROVIDER', count: 5 })])
  })
})
