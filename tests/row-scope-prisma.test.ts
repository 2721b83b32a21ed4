/** Row-scoped keys through Prisma: tenant_notes rows sealed under their tenantId (`/// @encryptionScope(tenantId)`). */
import {
  DecryptionFailedError,
  EnvelopeEncryptor,
  ScopeChangeError,
  ScopeKeyShreddedError,
  ScopeRequiredError,
  localScopeKeys,
  prismaScopeKeyStore,
  type LocalScopeKeys,
} from '../src'
import { testLocalKeys } from './support/keys'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import type { QueryRecorder } from './support/query-recorder'
import { scopeKeyDialectOf } from './support/test-database-kind'

let db: TestDatabase
let prisma: EncryptedClient
let recorder: QueryRecorder
let scopeKeys: LocalScopeKeys
const master = testLocalKeys()

beforeAll(async () => {
  db = await createTestDatabase()
  const dialect = scopeKeyDialectOf(db.kind)
  scopeKeys = localScopeKeys({
    master,
    store: prismaScopeKeyStore(db.prisma, { dialect, schema: db.kind === 'postgres' ? db.schema : undefined }),
  })
  ;({ prisma, recorder } = encryptedClient(db, { encryptor: new EnvelopeEncryptor({ keys: master, scopeKeys }) }))
})
afterAll(async () => db.close())

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )

describe('two tenants on tenant_notes', () => {
  let author: number
  it('writes and reads back each tenant’s rows; select without tenantId returns plaintext and no tenantId', async () => {
    author = (await prisma.user.create({ data: { email: 'owner@x.io' } })).id
    await prisma.tenantNote.createMany({
      data: [
        { tenantId: 'a', body: 'A secret', email: 'same@x.io', authorId: author },
        { tenantId: 'b', body: 'B secret', email: 'same@x.io', authorId: author },
      ],
    })
    const rows = await db.sql<{ tenant_id: string; email_index: string; body: string }>(
      'SELECT tenant_id, email_index, body FROM tenant_notes ORDER BY tenant_id',
    )
    expect(rows[0]!.email_index).not.toBe(rows[1]!.email_index)
    expect(rows.every((r) => !r.body.includes('secret'))).toBe(true)
    const selected = await prisma.tenantNote.findMany({ select: { body: true }, orderBy: { id: 'asc' } })
    expect(selected).toEqual([{ body: 'A secret' }, { body: 'B secret' }])
    const nested = await prisma.user.findUnique({
      where: { id: author },
      include: { tenantNotes: { select: { email: true }, orderBy: { id: 'asc' } } },
    })
    expect(nested!.tenantNotes).toEqual([{ email: 'same@x.io' }, { email: 'same@x.io' }])
  })

  it('filters by email need tenantId in the same where, and find only that tenant’s row', async () => {
    expect((await prisma.tenantNote.findMany({ where: { tenantId: 'a', email: 'SAME@x.io' } })).map((n) => n.body)).toEqual(['A secret'])
    recorder.clear()
    expect(await rejection(prisma.tenantNote.findMany({ where: { email: 'same@x.io' } }))).toBeInstanceOf(ScopeRequiredError)
    expect(recorder.queries).toHaveLength(0)
  })

  it('a create without tenantId, an update without it in where, and a scope change are refused, nothing written', async () => {
    expect(await rejection(prisma.tenantNote.create({ data: { body: 'x', author: { connect: { id: author } } } as never }))).toBeInstanceOf(
      ScopeRequiredError,
    )
    const a = (await prisma.tenantNote.findFirst({ where: { tenantId: 'a' } }))!
    expect(await rejection(prisma.tenantNote.update({ where: { id: a.id }, data: { body: 'new' } }))).toBeInstanceOf(ScopeRequiredError)
    expect(await rejection(prisma.tenantNote.update({ where: { id: a.id, tenantId: 'a' }, data: { tenantId: 'b' } }))).toBeInstanceOf(
      ScopeChangeError,
    )
    await prisma.tenantNote.update({ where: { id: a.id, tenantId: 'a' }, data: { body: 'A updated', tenantId: 'a' } })
    expect((await prisma.tenantNote.findUnique({ where: { id: a.id } }))!.body).toBe('A updated')
  })

  it('A’s ciphertext copied into B’s row fails to decrypt', async () => {
    const [ra] = await db.sql<{ body: string }>("SELECT body FROM tenant_notes WHERE tenant_id = 'a'")
    await db.sql("UPDATE tenant_notes SET body = $1 WHERE tenant_id = 'b'", [ra!.body])
    expect(await rejection(prisma.tenantNote.findMany({ where: { tenantId: 'b' } }))).toBeInstanceOf(DecryptionFailedError)
    await prisma.tenantNote.updateMany({ where: { tenantId: 'b' }, data: { body: 'B secret' } })
  })

  it('shredding tenant a: its rows throw ScopeKeyShreddedError, b stays readable, a mixed findMany fails closed', async () => {
    await scopeKeys.shred('a')
    // Another process (fresh encryptor and key cache, same key table).
    const dialect = scopeKeyDialectOf(db.kind)
    const fresh = localScopeKeys({
      master,
      store: prismaScopeKeyStore(db.prisma, { dialect, schema: db.kind === 'postgres' ? db.schema : undefined }),
    })
    const prisma = encryptedClient(db, { encryptor: new EnvelopeEncryptor({ keys: master, scopeKeys: fresh }) }).prisma
    expect(await rejection(prisma.tenantNote.findMany({ where: { tenantId: 'a' } }))).toBeInstanceOf(ScopeKeyShreddedError)
    expect(await rejection(prisma.tenantNote.findMany())).toBeInstanceOf(ScopeKeyShreddedError)
    expect((await prisma.tenantNote.findMany({ where: { tenantId: 'b' } })).map((n) => n.body)).toEqual(['B secret'])
  })
})
