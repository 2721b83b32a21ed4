import { randomBytes } from 'node:crypto'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import * as mariadb from 'mariadb'
import { applyMigrations } from '../prisma/apply-migrations'
import { encryptionModel } from '../prisma/generated/mysql/encryption'
import { PrismaClient } from '../prisma/generated/mysql/client/client'
import { fieldEncryption, StoredValueMismatchError } from '../src'
import { testLocalKeys } from './support/keys'
import { mysqlConfig } from './support/test-database'
import { testDatabaseKind } from './support/test-database-kind'

/**
 * MySQL outside strict sql_mode truncates a value too long for its column and commits the row
 * (with a warning nobody reads). The extension compares the ciphertext the returned record holds
 * with the one it sent: a truncated value fails the write with StoredValueMismatchError, so the
 * application never gets its input back as if it had been stored. In strict mode (the README's
 * requirement) the database itself refuses the value (P2000) and stores nothing.
 * Runs with DATABASE_URL=mysql://...; a private database, dropped after.
 */
const onMysql = testDatabaseKind() === 'mysql'
const describeMysql = onMysql
  ? describe
  : (name: string, fn: () => void) => describe.skip(`${name} [skipped on ${testDatabaseKind()}: MySQL only]`, fn)

describeMysql('a value the database truncates', () => {
  const database = `kfe_trunc_${randomBytes(6).toString('hex')}`
  let admin: mariadb.Connection
  const clients: PrismaClient[] = []
  const client = (sqlMode: string) => {
    const config = {
      ...mysqlConfig(process.env.DATABASE_URL!),
      database,
      connectionLimit: 2,
      initSql: `SET SESSION sql_mode = '${sqlMode}'`,
    }
    const prisma = new PrismaClient({ adapter: new PrismaMariaDb(config) })
    clients.push(prisma)
    return prisma.$extends(fieldEncryption({ model: encryptionModel, keys: testLocalKeys() }))
  }

  beforeAll(async () => {
    admin = await mariadb.createConnection({ ...mysqlConfig(process.env.DATABASE_URL!), database: undefined, multipleStatements: true })
    await admin.query(`CREATE DATABASE \`${database}\``)
    await admin.query(`USE \`${database}\``)
    await applyMigrations((sql) => admin.query(sql), 'mysql')
    // Columns too narrow for what will be written: the mistake the generator check catches.
    await admin.query('ALTER TABLE users MODIFY phone VARCHAR(300) NULL, MODIFY avatar TINYBLOB NULL')
  })
  afterAll(async () => {
    for (const c of clients) await c.$disconnect()
    await admin?.query(`DROP DATABASE IF EXISTS \`${database}\``)
    await admin?.end()
  })

  test('non-strict: create and update fail with StoredValueMismatchError naming the field, never the value', async () => {
    const prisma = client('')
    const phone = `phone-${'x'.repeat(400)}`
    const error = await prisma.user.create({ data: { email: 'a@example.com', phone } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StoredValueMismatchError)
    expect(error).toMatchObject({ code: 'KFE_STORED_VALUE_MISMATCH', model: 'User', field: 'phone' })
    expect((error as Error).message).toMatch(/stored 300 of the \d+ characters sent for column users\.phone/)
    expect((error as Error).message).not.toContain('xxxx')
    // The row did get committed, truncated: exactly what the error is there to say.
    const [row] = await admin.query<Array<{ n: number }>>('SELECT CHAR_LENGTH(phone) AS n FROM users')
    expect(Number(row!.n)).toBe(300)

    const ok = await prisma.user.create({ data: { email: 'b@example.com', phone: 'short' } })
    await expect(prisma.user.update({ where: { id: ok.id }, data: { phone } })).rejects.toBeInstanceOf(StoredValueMismatchError)
    await expect(prisma.user.update({ where: { id: ok.id }, data: { avatar: randomBytes(200) } })).rejects.toMatchObject({
      code: 'KFE_STORED_VALUE_MISMATCH',
      field: 'avatar',
    })
  })

  test('strict (STRICT_TRANS_TABLES): the database refuses the value and stores nothing', async () => {
    const prisma = client('STRICT_TRANS_TABLES')
    await admin.query('DELETE FROM users')
    await expect(prisma.user.create({ data: { email: 'c@example.com', phone: 'y'.repeat(400) } })).rejects.toMatchObject({ code: 'P2000' })
    expect(await admin.query('SELECT id FROM users')).toHaveLength(0)
  })
})
