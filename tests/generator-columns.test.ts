import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { fieldContext } from '../src/cipher/field-context'
import { AWS_KMS_SIZING, largestTextPlaintext, storedBytesLength, storedTextLength } from '../src/generator/column-size-check'
import { prismaGenerate } from './support/prisma-generate'
import { testLocalKeys } from './support/keys'

/**
 * The per-database column checks of `prisma generate`: on MySQL an encrypted String must be a
 * text type or a VARCHAR big enough, Bytes a BLOB, and a blind index at least VARCHAR(48); the
 * size formula is the one the README gives, checked against real encrypted values.
 */
const user = (email: string, extra = '') => `
model User {
  id    Int    @id @default(autoincrement())
  /// @encrypted
  email ${email}
${extra}
}`

describe('the size formula matches what the encryptor writes (local key)', () => {
  test.each([0, 1, 2, 3, 24, 100, 1000])('%i plaintext bytes', async (n) => {
    const encryptor = new EnvelopeEncryptor({ keys: testLocalKeys() })
    const text = await encryptor.encrypt('x'.repeat(n), fieldContext('User', 'email', 'users', 'email'))
    expect((text as string).length).toBe(storedTextLength(n))
    expect((text as string).length).toBe(153 + Math.ceil((4 * (28 + n)) / 3))
    const bytes = await encryptor.encrypt(new Uint8Array(n), fieldContext('User', 'avatar', 'users', 'avatar', 'bytes'))
    expect((bytes as Uint8Array).length).toBe(storedBytesLength(n))
    expect(largestTextPlaintext(storedTextLength(n))).toBe(n)
  })

  test('multi-byte characters count as their UTF-8 bytes', async () => {
    const encryptor = new EnvelopeEncryptor({ keys: testLocalKeys() })
    const value = 'é😀中' // 2 + 4 + 3 bytes
    expect(((await encryptor.encrypt(value, fieldContext('U', 'f', 't', 'c'))) as string).length).toBe(storedTextLength(9))
  })

  test('AWS KMS is sized for wrapped keys up to 256 bytes', () => {
    expect(storedTextLength(0, AWS_KMS_SIZING)).toBe(409 + Math.ceil((4 * 28) / 3))
    expect(storedBytesLength(0, AWS_KMS_SIZING)).toBe(335 + 0)
  })
})

describe('prisma generate on MySQL', () => {
  const generate = (models: string) => prismaGenerate(models, { provider: 'mysql' })

  test('refuses an encrypted String left as the default VARCHAR(191), naming the field and the fix', async () => {
    const result = await generate(user('String'))
    expect(result.exitCode).not.toBe(0)
    expect(result.output).toContain('User.email: an encrypted String on MySQL needs a longer column than the default VARCHAR(191)')
    expect(result.output).toContain('153 + ceil(4·(28+n)/3)')
    expect(result.output).toContain('use @db.Text')
  })

  test('refuses a VARCHAR too short for a value under AWS KMS, saying what it would hold', async () => {
    const result = await generate(user('String @db.VarChar(255)'))
    expect(result.exitCode).not.toBe(0)
    expect(result.output).toContain(
      'User.email: @db.VarChar(255) holds plaintexts of at most 48 bytes under the local key and none under AWS KMS',
    )
    expect(result.output).toContain('@db.VarChar(N) with N ≥ 448')
  })

  test('refuses @db.TinyText and a Bytes field in @db.TinyBlob', async () => {
    expect((await generate(user('String @db.TinyText'))).output).toContain('User.email: @db.TinyText holds 255 bytes')
    const bytes = await generate(user('String @db.Text', '  /// @encrypted\n  avatar Bytes? @db.TinyBlob'))
    expect(bytes.exitCode).not.toBe(0)
    expect(bytes.output).toContain('User.avatar: @db.TinyBlob holds 255 bytes, too few for an encrypted value')
  })

  test('refuses a blind-index column too short for a stored index', async () => {
    const result = await generate(user('String @db.Text', '  /// @blindIndex(email)\n  emailIndex String? @unique @db.VarChar(32)'))
    expect(result.exitCode).not.toBe(0)
    expect(result.output).toContain('User.emailIndex: @db.VarChar(32) is too short for a stored blind index')
    expect(result.output).toContain('utf8mb4_bin')
  })

  test('accepts text types, a big enough VARCHAR, BLOBs and a VARCHAR(64) index', async () => {
    const ok = await generate(`
model User {
  id     Int     @id @default(autoincrement())
  /// @encrypted
  email  String  @db.Text
  /// @blindIndex(email)
  emailIndex String? @unique @db.VarChar(64)
  /// @encrypted
  phone  String? @db.VarChar(448)
  /// @encrypted
  bio    String? @db.LongText
  /// @encrypted
  avatar Bytes?
  /// @encrypted
  photo  Bytes?  @db.Blob
}`)
    expect(ok.output).not.toMatch(/User\.\w+:/)
    expect(ok.exitCode).toBe(0)
    expect(Object.keys(ok.model!.models.User!.encryptedFields).sort()).toEqual(['avatar', 'bio', 'email', 'phone', 'photo'])
  })
})

describe('prisma generate on PostgreSQL and SQLite', () => {
  test('PostgreSQL: TEXT is fine, a short VARCHAR is refused', async () => {
    expect((await prismaGenerate(user('String'))).exitCode).toBe(0)
    const short = await prismaGenerate(user('String @db.VarChar(100)'))
    expect(short.exitCode).not.toBe(0)
    expect(short.output).toContain('User.email: @db.VarChar(100) holds no encrypted value')
  })

  test('SQLite: TEXT and BLOB have no length, nothing to check', async () => {
    expect((await prismaGenerate(user('String', '  /// @encrypted\n  avatar Bytes?'), { provider: 'sqlite' })).exitCode).toBe(0)
  })
})
