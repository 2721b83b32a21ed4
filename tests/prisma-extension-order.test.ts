import { Prisma } from '@prisma/client/extension'
import { encryptionModel } from './support/test-encryption-model'
import { ConfigurationError, fieldEncryption } from '../src'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

/**
 * Prisma runs the query extension added last closest to the database: one added after
 * fieldEncryption changes queries after they were encrypted and checked (data it adds would be
 * stored in clear). The client fieldEncryption returns refuses such an extension at `$extends`,
 * in every form Prisma accepts, unless it is named as an allowed observer; extensions without
 * query hooks, and query extensions added before fieldEncryption (whose changes are encrypted),
 * work.
 */
let db: TestDatabase
const keys = testLocalKeys()
const encrypted = () => db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys }))

/** A query extension that adds a value for an encrypted field to every create. */
const addsPhone = {
  name: 'adds-phone',
  query: {
    user: {
      create({ args, query }: { args: { data: Record<string, unknown> }; query: (a: unknown) => Promise<unknown> }) {
        return query({ ...args, data: { ...args.data, phone: 'added-by-extension' } })
      },
    },
  },
}

beforeAll(async () => {
  db = await createTestDatabase()
  await truncateTables(db)
})
afterAll(async () => {
  await db.close()
})

function refusal(run: () => unknown): ConfigurationError {
  let error: unknown
  try {
    run()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(ConfigurationError)
  expect((error as Error).message).toMatch(/added after fieldEncryption .*add it before fieldEncryption/)
  return error as ConfigurationError
}

describe('a query extension added after fieldEncryption is refused', () => {
  test('as an object', () => {
    expect(refusal(() => encrypted().$extends(addsPhone as never)).message).toMatch(/'adds-phone'/)
  })
  test('through Prisma.defineExtension (object or function)', () => {
    refusal(() => encrypted().$extends(Prisma.defineExtension(addsPhone as never)))
    refusal(() => encrypted().$extends(Prisma.defineExtension((client) => client.$extends(addsPhone as never))))
  })
  test('after other, allowed extensions in between', () => {
    const withModelMethod = encrypted().$extends({ model: { user: { hello: () => 'hi' } } })
    expect(withModelMethod.user.hello()).toBe('hi')
    const withResult = withModelMethod.$extends({ result: { user: { tag: { needs: { id: true }, compute: (u) => `u${u.id}` } } } })
    refusal(() => withResult.$extends(addsPhone as never))
  })
  test('nothing reached the database: no row holds the added value', async () => {
    const rows = await db.sql<{ n: string | number }>('SELECT count(*) AS n FROM users')
    expect(Number(rows[0]!.n)).toBe(0)
  })
})

describe('what the order rule allows', () => {
  test('a query extension added before fieldEncryption: what it adds is encrypted', async () => {
    const prisma = db.prisma.$extends(addsPhone as never).$extends(fieldEncryption({ model: encryptionModel, keys }))
    const user = await prisma.user.create({ data: { email: 'order@x' } })
    expect(user).toMatchObject({ phone: 'added-by-extension' })
    const [row] = await db.sql<{ phone: string }>('SELECT phone FROM users WHERE id = $1', [user.id])
    expect(row!.phone).toMatch(/^\$kfe\$/)
    expect(row!.phone).not.toContain('added-by-extension')
  })

  test('an observer named in allowQueryExtensionsAfter', async () => {
    const seen: string[] = []
    const observer = Prisma.defineExtension({
      name: 'observer',
      query: { $allModels: { $allOperations: ({ operation, args, query }) => (seen.push(operation), query(args)) } },
    })
    const prisma = db.prisma
      .$extends(fieldEncryption({ model: encryptionModel, keys, allowQueryExtensionsAfter: ['observer'] }))
      .$extends(observer)
    await expect(prisma.user.count()).resolves.toBeGreaterThan(0)
    expect(seen).toEqual(['count'])
    // Still guarded after it.
    refusal(() => prisma.$extends(addsPhone as never))
  })

  test('the guarded client keeps working: transactions, model methods', async () => {
    const prisma = encrypted()
    const n = await prisma.$transaction(async (tx) => {
      await tx.user.create({ data: { email: 'tx@x' } })
      return tx.user.count()
    })
    expect(n).toBeGreaterThan(1)
    await expect(prisma.$transaction([prisma.user.count(), prisma.user.findFirst({ where: { email: 'tx@x' } })])).resolves.toEqual([
      n,
      expect.objectContaining({ email: 'tx@x' }),
    ])
  })
})
