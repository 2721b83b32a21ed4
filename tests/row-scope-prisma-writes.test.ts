/**
 * Writes of the row-scoped TenantNote (`/// @encryptionScope(tenantId)`) through Prisma: refusals
 * write nothing (the tables' raw rows are byte-identical and no INSERT/UPDATE/DELETE is sent),
 * updateMany re-seals under the pinned tenant, nested writes through User.tenantNotes seal under
 * each note's tenant, and a raw dump restored after shredding stays unreadable.
 */
import { randomBytes } from 'node:crypto'
import {
  DecryptionFailedError,
  EnvelopeEncryptor,
  FieldEncryptionError,
  ScopeChangeError,
  ScopeKeyShreddedError,
  ScopeRequiredError,
  localScopeKeys,
  prismaScopeKeyStore,
  type LocalScopeKeys,
} from '../src'
import { testLocalKeys } from './support/keys'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import { createCapturingTestDatabase, type CapturingTestDatabase } from './support/sql-capture'
import { scopeKeyDialectOf } from './support/test-database-kind'

let db: CapturingTestDatabase
let prisma: EncryptedClient
let scopeKeys: LocalScopeKeys
let encryptor: EnvelopeEncryptor
const master = testLocalKeys()

const storeOf = (d: CapturingTestDatabase) =>
  prismaScopeKeyStore(d.prisma, {
    dialect: scopeKeyDialectOf(d.kind),
    schema: d.kind === 'postgres' ? d.schema : undefined,
  })

/** A client as another process would have it: its own encryptor and key cache, the same key table. */
const freshClient = () =>
  encryptedClient(db, { encryptor: new EnvelopeEncryptor({ keys: master, scopeKeys: localScopeKeys({ master, store: storeOf(db) }) }) })
    .prisma

beforeAll(async () => {
  db = await createCapturingTestDatabase()
  scopeKeys = localScopeKeys({ master, store: storeOf(db) })
  encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys })
  ;({ prisma } = encryptedClient(db, { encryptor }))
})
afterAll(async () => db.close())

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )

/** Every plaintext this file writes, to look for in the raw tables and in what was sent. */
const plaintexts: string[] = []
const secret = (label: string) => {
  const p = `${label}-${randomBytes(4).toString('hex')}`
  plaintexts.push(p)
  return p
}

interface RawNote {
  id: number
  tenant_id: string
  body: string | null
  email: string | null
  email_index: string | null
  author_id: number | null
}
const rawNotes = () =>
  db
    .sql<RawNote>('SELECT id, tenant_id, body, email, email_index, author_id FROM tenant_notes ORDER BY id')
    .then((rows) => rows.map((r) => ({ ...r, id: Number(r.id), author_id: r.author_id === null ? null : Number(r.author_id) })))
const rawNote = async (id: number) => (await rawNotes()).find((r) => r.id === id)!

/** The raw content of tenant_notes and users, as one string (to compare byte for byte). */
async function snapshot(): Promise<string> {
  const users = await db.sql('SELECT * FROM users ORDER BY id')
  const bytes = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v instanceof Date ? v.toISOString() : v)
  return JSON.stringify({ notes: await db.sql('SELECT * FROM tenant_notes ORDER BY id'), users }, (_, v: unknown) => bytes(v))
}

const WRITES = /^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE)\b/i

/** `p` is refused with `type` (naming TenantNote), and nothing was sent nor changed in the tables. */
async function refusedUnchanged(p: () => Promise<unknown>, type: new (...a: never[]) => FieldEncryptionError, field?: string) {
  const before = await snapshot()
  db.capture.clear()
  const err = await rejection(p())
  expect(err).toBeInstanceOf(type)
  expect((err as FieldEncryptionError).model).toBe('TenantNote')
  if (field) expect((err as FieldEncryptionError).field).toBe(field)
  expect(db.capture.matching(WRITES)).toEqual([])
  expect(await snapshot()).toBe(before)
  return err
}

/** Neither the tables nor any statement sent holds a plaintext of this file. */
async function noPlaintextStored() {
  const raw = await snapshot()
  expect(plaintexts.filter((p) => raw.includes(p) || raw.toLowerCase().includes(p.toLowerCase()))).toEqual([])
  expect(db.capture.leaked(plaintexts)).toEqual([])
}

/** One probe row per tenant: a raw body copied into it reads as what the probe's tenant's key opens. */
const probes: Record<string, number> = {}
async function bodyReadIn(tenant: string, rawBody: string): Promise<unknown> {
  const id = probes[tenant]!
  const original = (await rawNote(id)).body
  await db.sql('UPDATE tenant_notes SET body = $1 WHERE id = $2', [rawBody, id])
  try {
    return (await prisma.tenantNote.findUniqueOrThrow({ where: { id } })).body
  } catch (e) {
    return e
  } finally {
    await db.sql('UPDATE tenant_notes SET body = $1 WHERE id = $2', [original, id])
  }
}
/** The raw body of row `id` is `plain` sealed under `tenant`'s key: it opens in that tenant's probe row, not in the other's. */
async function expectSealedUnder(id: number, tenant: 'a' | 'b', plain: string) {
  const raw = (await rawNote(id)).body!
  expect(raw).not.toContain(plain)
  expect(await bodyReadIn(tenant, raw)).toBe(plain)
  const other = await bodyReadIn(tenant === 'a' ? 'b' : 'a', raw)
  expect(other).toBeInstanceOf(DecryptionFailedError)
  expect(other).toMatchObject({ model: 'TenantNote', field: 'body' })
}

let author: number
let other: number
beforeAll(async () => {
  author = (await prisma.user.create({ data: { email: secret('author@x.io') } })).id
  other = (await prisma.user.create({ data: { email: secret('other@x.io') } })).id
  for (const t of ['a', 'b']) probes[t] = (await prisma.tenantNote.create({ data: { tenantId: t, body: secret(`probe-${t}`) } })).id
})

describe('refusals write nothing', () => {
  const E = 'shared@x.io'
  let a1: number
  let b1: number
  beforeAll(async () => {
    a1 = (await prisma.tenantNote.create({ data: { tenantId: 'a', body: secret('A1'), email: E, authorId: author } })).id
    b1 = (await prisma.tenantNote.create({ data: { tenantId: 'b', body: secret('B1'), email: E, authorId: author } })).id
    plaintexts.push(E)
  })

  it('a create without tenantId (or with an invalid one), alone or in a createMany with a valid row', async () => {
    await refusedUnchanged(
      () => prisma.tenantNote.create({ data: { body: secret('no-tenant'), author: { connect: { id: author } } } as never }),
      ScopeRequiredError,
      'tenantId',
    )
    await refusedUnchanged(
      () => prisma.tenantNote.createMany({ data: [{ tenantId: 'a', body: secret('first-ok') }, { body: secret('second') } as never] }),
      ScopeRequiredError,
      'tenantId',
    )
    await refusedUnchanged(() => prisma.tenantNote.create({ data: { tenantId: '', email: secret('empty@x.io') } }), ScopeRequiredError)
    await refusedUnchanged(() => prisma.tenantNote.create({ data: { tenantId: 'a ', body: secret('pad') } }), ScopeRequiredError)
    // Without an encrypted value too: a row 'a ' matches tenantId = 'a' under MySQL/MariaDB's PAD
    // SPACE collations, so a later updateMany of tenant a would seal a's values into it.
    await refusedUnchanged(() => prisma.tenantNote.create({ data: { tenantId: 'a ' } }), ScopeRequiredError, 'tenantId')
    await refusedUnchanged(
      () => prisma.tenantNote.createMany({ data: [{ tenantId: 'a' }, { tenantId: 'b ' }] }),
      ScopeRequiredError,
      'tenantId',
    )
    await refusedUnchanged(
      () => prisma.tenantNote.update({ where: { id: a1, tenantId: 'a ' }, data: { tenantId: 'a ' } }),
      ScopeRequiredError,
      'tenantId',
    )
  })

  it('an update, updateMany or upsert changing tenantId: ScopeChangeError', async () => {
    await refusedUnchanged(
      () => prisma.tenantNote.update({ where: { id: a1, tenantId: 'a' }, data: { tenantId: 'b' } }),
      ScopeChangeError,
      'tenantId',
    )
    await refusedUnchanged(
      () => prisma.tenantNote.update({ where: { id: a1, tenantId: 'a' }, data: { body: secret('moved'), tenantId: { set: 'b' } } }),
      ScopeChangeError,
    )
    await refusedUnchanged(() => prisma.tenantNote.updateMany({ where: { tenantId: 'a' }, data: { tenantId: 'b' } }), ScopeChangeError)
    await refusedUnchanged(
      () =>
        prisma.tenantNote.upsert({
          where: { id: a1, tenantId: 'a' },
          create: { tenantId: 'a', body: secret('upsert-create') },
          update: { tenantId: 'b' },
        }),
      ScopeChangeError,
    )
  })

  it('an update whose where does not pin tenantId, setting an encrypted field (or tenantId)', async () => {
    await refusedUnchanged(
      () => prisma.tenantNote.update({ where: { id: a1 }, data: { body: secret('unpinned') } }),
      ScopeRequiredError,
      'tenantId',
    )
    await refusedUnchanged(
      () => prisma.tenantNote.update({ where: { id: a1, OR: [{ tenantId: 'a' }] }, data: { email: secret('or@x.io') } }),
      ScopeRequiredError,
    )
    await refusedUnchanged(
      () => prisma.tenantNote.updateMany({ where: { tenantId: { not: 'b' } }, data: { body: secret('not-b') } }),
      ScopeRequiredError,
    )
    await refusedUnchanged(
      () => prisma.tenantNote.updateMany({ where: { authorId: author }, data: { email: secret('by-author@x.io') } }),
      ScopeRequiredError,
    )
    await refusedUnchanged(
      () =>
        prisma.tenantNote.upsert({
          where: { id: a1 },
          create: { tenantId: 'a', body: secret('upsert-create-2') },
          update: { body: secret('upsert-update') },
        }),
      ScopeRequiredError,
    )
    await refusedUnchanged(() => prisma.tenantNote.update({ where: { id: a1 }, data: { tenantId: 'a' } }), ScopeRequiredError)
  })

  it('a blind-index filter without tenantId, in the where of updates, deletes and relation filters', async () => {
    await refusedUnchanged(() => prisma.tenantNote.deleteMany({ where: { email: E } }), ScopeRequiredError, 'email')
    await refusedUnchanged(
      () => prisma.tenantNote.updateMany({ where: { email: E }, data: { authorId: other } }),
      ScopeRequiredError,
      'email',
    )
    await refusedUnchanged(() => prisma.tenantNote.delete({ where: { id: b1, email: E } }), ScopeRequiredError, 'email')
    await refusedUnchanged(() => prisma.user.deleteMany({ where: { tenantNotes: { some: { email: E } } } }), ScopeRequiredError, 'email')
    // The same filters with tenantId do match (so the refusals above refused real writes).
    expect((await prisma.tenantNote.findMany({ where: { tenantId: 'b', email: E } })).map((n) => n.id)).toEqual([b1])
  })

  it('tenantId: { in: [...] } pins no scope, even with one element', async () => {
    await refusedUnchanged(
      () => prisma.tenantNote.deleteMany({ where: { tenantId: { in: ['a', 'b'] }, email: E } }),
      ScopeRequiredError,
      'email',
    )
    await refusedUnchanged(
      () => prisma.tenantNote.updateMany({ where: { tenantId: { in: ['a'] } }, data: { body: secret('in-a') } }),
      ScopeRequiredError,
      'tenantId',
    )
    await refusedUnchanged(
      () => prisma.tenantNote.update({ where: { id: a1, tenantId: { in: ['a'] } }, data: { body: secret('in-a-2') } }),
      ScopeRequiredError,
    )
  })

  it('the rows refused above still read as written, and nothing stored or sent holds a plaintext', async () => {
    expect(await prisma.tenantNote.findMany({ where: { id: { in: [a1, b1] } }, orderBy: { id: 'asc' } })).toMatchObject([
      { tenantId: 'a', email: E },
      { tenantId: 'b', email: E },
    ])
    await noPlaintextStored()
  })
})

describe('updateMany with where { tenantId: a, ... } re-seals every matching row under a', () => {
  const rows: number[] = []
  let untouched: number
  let bRow: number
  it('re-seals body and email of the matching rows only', async () => {
    for (let i = 0; i < 3; i++) {
      rows.push(
        (
          await prisma.tenantNote.create({
            data: { tenantId: 'a', body: secret(`um-a${i}`), email: secret(`um${i}@x.io`), authorId: other },
          })
        ).id,
      )
    }
    untouched = (await prisma.tenantNote.create({ data: { tenantId: 'a', body: secret('um-a-author'), authorId: author } })).id
    bRow = (await prisma.tenantNote.create({ data: { tenantId: 'b', body: secret('um-b'), authorId: other } })).id
    const before = await rawNotes()
    const body = secret('A re-sealed')
    const email = secret('Resealed@X.io')
    db.capture.clear()
    const { count } = await prisma.tenantNote.updateMany({ where: { tenantId: 'a', authorId: other }, data: { body, email } })
    expect(count).toBe(3)
    const after = await rawNotes()
    const was = (id: number) => before.find((r) => r.id === id)!
    const now = (id: number) => after.find((r) => r.id === id)!
    for (const id of rows) {
      expect(now(id).body).not.toBe(was(id).body)
      expect(now(id).body).not.toContain(body)
      expect(now(id).email).not.toContain(email)
      await expectSealedUnder(id, 'a', body)
    }
    // One statement writes one ciphertext for all matching rows; each is a's.
    expect(now(untouched)).toEqual(was(untouched))
    expect(now(bRow)).toEqual(was(bRow))
    const read = await prisma.tenantNote.findMany({ where: { id: { in: rows } }, orderBy: { id: 'asc' } })
    expect(read.map((n) => [n.tenantId, n.body, n.email])).toEqual(rows.map(() => ['a', body, email]))
    // The email index is a's: found under a (normalized), not under b.
    expect((await prisma.tenantNote.findMany({ where: { tenantId: 'a', email: email.toLowerCase() } })).map((n) => n.id).sort()).toEqual(
      [...rows].sort(),
    )
    expect(await prisma.tenantNote.findMany({ where: { tenantId: 'b', email } })).toEqual([])
    await noPlaintextStored()
  })

  it('a re-sealed raw value copied into a tenant b row fails to decrypt with DecryptionFailedError', async () => {
    const raw = (await rawNote(rows[0]!)).body!
    const original = (await rawNote(bRow)).body
    await db.sql('UPDATE tenant_notes SET body = $1 WHERE id = $2', [raw, bRow])
    const err = await rejection(prisma.tenantNote.findMany({ where: { tenantId: 'b' } }))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect(err).toMatchObject({ code: 'KFE_DECRYPTION_FAILED', model: 'TenantNote', field: 'body' })
    await db.sql('UPDATE tenant_notes SET body = $1 WHERE id = $2', [original, bRow])
  })
})

describe('nested writes through User.tenantNotes', () => {
  let owner: number
  let na: number
  let nb: number
  const P: Record<string, string> = {}

  it('user.create with tenantNotes.create [...]: each note sealed under its own tenant', async () => {
    P.a = secret('nested-create-a')
    P.b = secret('nested-create-b')
    P.ea = secret('Nested-A@x.io')
    P.eb = secret('nested-b@x.io')
    db.capture.clear()
    const user = await prisma.user.create({
      data: {
        email: secret('nested-owner@x.io'),
        tenantNotes: {
          create: [
            { tenantId: 'a', body: P.a, email: P.ea },
            { tenantId: 'b', body: P.b, email: P.eb },
          ],
        },
      },
      include: { tenantNotes: { orderBy: { id: 'asc' } } },
    })
    owner = user.id
    expect(user.tenantNotes.map((n) => [n.tenantId, n.body, n.email])).toEqual([
      ['a', P.a, P.ea],
      ['b', P.b, P.eb],
    ])
    ;[na, nb] = user.tenantNotes.map((n) => n.id) as [number, number]
    await noPlaintextStored()
    await expectSealedUnder(na, 'a', P.a)
    await expectSealedUnder(nb, 'b', P.b)
    expect((await prisma.tenantNote.findMany({ where: { tenantId: 'a', email: P.ea.toLowerCase() } })).map((n) => n.id)).toEqual([na])
    expect(await prisma.tenantNote.findMany({ where: { tenantId: 'b', email: P.ea } })).toEqual([])
  })

  it('user.update with tenantNotes create, update { where, data } and upsert (update and create branches)', async () => {
    P.c = secret('nested-sibling-b')
    P.u = secret('nested-update-a')
    P.up = secret('nested-upsert-update-b')
    P.uc = secret('nested-upsert-create-a')
    db.capture.clear()
    const user = await prisma.user.update({
      where: { id: owner },
      data: {
        tenantNotes: {
          create: { tenantId: 'b', body: P.c },
          update: { where: { id: na, tenantId: 'a' }, data: { body: P.u } },
          upsert: [
            { where: { id: nb, tenantId: 'b' }, create: { tenantId: 'b', body: secret('unused-1') }, update: { body: P.up } },
            { where: { id: 2_000_000_000, tenantId: 'a' }, create: { tenantId: 'a', body: P.uc }, update: { body: secret('unused-2') } },
          ],
        },
      },
      include: { tenantNotes: { orderBy: { id: 'asc' } } },
    })
    const byBody = new Map(user.tenantNotes.map((n) => [n.body, n]))
    expect(byBody.get(P.u)).toMatchObject({ id: na, tenantId: 'a' })
    expect(byBody.get(P.up)).toMatchObject({ id: nb, tenantId: 'b' })
    expect(byBody.get(P.c)).toMatchObject({ tenantId: 'b' })
    expect(byBody.get(P.uc)).toMatchObject({ tenantId: 'a' })
    expect(user.tenantNotes).toHaveLength(4)
    await noPlaintextStored()
    await expectSealedUnder(na, 'a', P.u)
    await expectSealedUnder(nb, 'b', P.up)
    await expectSealedUnder(byBody.get(P.c)!.id, 'b', P.c)
    await expectSealedUnder(byBody.get(P.uc)!.id, 'a', P.uc)
  })

  it('user.update with tenantNotes createMany, connectOrCreate and updateMany { where: { tenantId } }', async () => {
    P.cm = secret('nested-createMany-a')
    P.coc = secret('nested-connectOrCreate-b')
    P.um = secret('Nested-UpdateMany@x.io')
    db.capture.clear()
    await prisma.user.update({
      where: { id: owner },
      data: {
        tenantNotes: {
          createMany: { data: [{ tenantId: 'a', body: P.cm }] },
          connectOrCreate: { where: { id: 2_000_000_001 }, create: { tenantId: 'b', body: P.coc } },
          updateMany: { where: { tenantId: 'a' }, data: { email: P.um } },
        },
      },
    })
    const notes = await prisma.tenantNote.findMany({ where: { authorId: owner }, orderBy: { id: 'asc' } })
    const cm = notes.find((n) => n.body === P.cm)!
    const coc = notes.find((n) => n.body === P.coc)!
    expect(cm.tenantId).toBe('a')
    expect(coc.tenantId).toBe('b')
    // updateMany ran after the nested createMany in the same write: every a note of owner has the new email.
    expect(notes.filter((n) => n.tenantId === 'a').every((n) => n.email === P.um)).toBe(true)
    expect(notes.filter((n) => n.tenantId === 'b').some((n) => n.email === P.um)).toBe(false)
    await noPlaintextStored()
    await expectSealedUnder(cm.id, 'a', P.cm)
    await expectSealedUnder(coc.id, 'b', P.coc)
    const aIds = notes.filter((n) => n.tenantId === 'a').map((n) => n.id)
    expect((await prisma.tenantNote.findMany({ where: { tenantId: 'a', email: P.um } })).map((n) => n.id).sort()).toEqual(aIds.sort())
  })

  it('nested writes without the scope are refused with a typed error, siblings in the same write included, nothing written', async () => {
    const sibling = { create: { tenantId: 'a', body: secret('refused-sibling') } }
    await refusedUnchanged(
      () =>
        prisma.user.update({
          where: { id: owner },
          data: { name: 'renamed', tenantNotes: { ...sibling, update: { where: { id: na }, data: { body: secret('n-unpinned') } } } },
        }),
      ScopeRequiredError,
      'tenantId',
    )
    await refusedUnchanged(
      () =>
        prisma.user.update({
          where: { id: owner },
          data: {
            tenantNotes: {
              ...sibling,
              upsert: { where: { id: na }, create: { tenantId: 'a', body: secret('n-uc') }, update: { body: secret('n-uu') } },
            },
          },
        }),
      ScopeRequiredError,
    )
    await refusedUnchanged(
      () =>
        prisma.user.update({
          where: { id: owner },
          data: { tenantNotes: { ...sibling, updateMany: { where: { authorId: owner }, data: { body: secret('n-um') } } } },
        }),
      ScopeRequiredError,
    )
    await refusedUnchanged(
      () =>
        prisma.user.update({
          where: { id: owner },
          data: { tenantNotes: { ...sibling, update: { where: { id: na, tenantId: 'a' }, data: { tenantId: 'b' } } } },
        }),
      ScopeChangeError,
    )
    await refusedUnchanged(
      () => prisma.user.update({ where: { id: owner }, data: { tenantNotes: { ...sibling, deleteMany: { email: P.um } } } }),
      ScopeRequiredError,
      'email',
    )
    await refusedUnchanged(
      () =>
        prisma.user.create({
          data: {
            email: secret('refused-owner@x.io'),
            tenantNotes: { create: [{ tenantId: 'a', body: secret('n-ok') }, { body: secret('n-no-tenant') } as never] },
          },
        }),
      ScopeRequiredError,
      'tenantId',
    )
    await refusedUnchanged(
      () =>
        prisma.user.create({
          data: {
            email: secret('refused-owner-2@x.io'),
            tenantNotes: { createMany: { data: [{ tenantId: 'b', body: secret('n-cm-ok') }, { body: secret('n-cm-no') } as never] } },
          },
        }),
      ScopeRequiredError,
    )
    await noPlaintextStored()
  })
})

describe('shredding a tenant', () => {
  const S1 = 'shred-1'
  const S2 = 'shred-2'
  let dump: RawNote[]
  let s2Body: string
  it('a raw dump taken before the shred, restored after it, stays unreadable; the other tenant reads fine', async () => {
    for (let i = 0; i < 2; i++) {
      await prisma.tenantNote.create({ data: { tenantId: S1, body: secret(`s1-${i}`), email: secret(`s1-${i}@x.io`) } })
    }
    s2Body = secret('s2-body')
    await prisma.tenantNote.create({ data: { tenantId: S2, body: s2Body, email: secret('s2@x.io') } })
    dump = (await rawNotes()).filter((r) => r.tenant_id === S1)
    expect(dump).toHaveLength(2)

    await scopeKeys.shred(S1)
    // As the README says: shred, then forget the scope's cached data keys in the encryptor.
    encryptor.forgetScope(S1)
    // What an erasure might do besides the shred: overwrite the rows. Then a backup is restored.
    await db.sql('UPDATE tenant_notes SET body = NULL, email = NULL, email_index = NULL WHERE tenant_id = $1', [S1])
    for (const r of dump) {
      await db.sql('UPDATE tenant_notes SET body = $1, email = $2, email_index = $3 WHERE id = $4', [r.body, r.email, r.email_index, r.id])
    }
    expect((await rawNotes()).filter((r) => r.tenant_id === S1)).toEqual(dump)

    for (const client of [prisma, freshClient()]) {
      for (const read of [
        () => client.tenantNote.findMany({ where: { tenantId: S1 } }),
        () => client.tenantNote.findUnique({ where: { id: dump[0]!.id } }),
        () => client.tenantNote.findMany({ where: { tenantId: S1 }, select: { email: true } }),
      ]) {
        const err = await rejection(read())
        expect(err).toBeInstanceOf(ScopeKeyShreddedError)
        expect(err).toMatchObject({ code: 'KFE_SCOPE_KEY_SHREDDED', scope: S1, model: 'TenantNote' })
        expect(['body', 'email']).toContain((err as ScopeKeyShreddedError).field)
      }
      expect((await client.tenantNote.findMany({ where: { tenantId: S2 } })).map((n) => n.body)).toEqual([s2Body])
    }
    // Selecting only unencrypted fields needs no key: the shredded rows' ids and tenant are still listed.
    expect(
      await freshClient().tenantNote.findMany({ where: { tenantId: S1 }, select: { id: true, tenantId: true }, orderBy: { id: 'asc' } }),
    ).toEqual(dump.map((r) => ({ id: r.id, tenantId: S1 })))
  })

  it('findMany over both tenants fails closed: ScopeKeyShreddedError, no partial result', async () => {
    for (const client of [prisma, freshClient()]) {
      const err = await rejection(client.tenantNote.findMany({ where: { tenantId: { in: [S1, S2] } }, orderBy: { id: 'asc' } }))
      expect(err).toBeInstanceOf(ScopeKeyShreddedError)
      expect(err).toMatchObject({ code: 'KFE_SCOPE_KEY_SHREDDED', scope: S1, model: 'TenantNote' })
    }
  })

  it('writes for the shredded tenant are refused, nothing written; its blind indexes still match (they are not shredded)', async () => {
    for (const client of [prisma, freshClient()]) {
      const before = await snapshot()
      db.capture.clear()
      for (const write of [
        () => client.tenantNote.create({ data: { tenantId: S1, body: secret('after-shred') } }),
        () =>
          client.tenantNote.createMany({
            data: [
              { tenantId: S2, body: secret('s2-ok') },
              { tenantId: S1, email: secret('s1@x.io') },
            ],
          }),
        () => client.tenantNote.updateMany({ where: { tenantId: S1 }, data: { body: secret('after-shred-2') } }),
        () => client.tenantNote.update({ where: { id: dump[0]!.id, tenantId: S1 }, data: { email: secret('after-shred@x.io') } }),
      ]) {
        const err = await rejection(write())
        expect(err).toBeInstanceOf(ScopeKeyShreddedError)
        expect(err).toMatchObject({ code: 'KFE_SCOPE_KEY_SHREDDED', scope: S1, model: 'TenantNote' })
      }
      expect(db.capture.matching(WRITES)).toEqual([])
      expect(await snapshot()).toBe(before)
      // README: blind indexes use the deployment's root key and are not shredded; a filter still matches.
      const email = plaintexts.find((p) => p.startsWith('s1-0@x.io'))!
      expect(await client.tenantNote.findMany({ where: { tenantId: S1, email }, select: { id: true } })).toEqual([{ id: dump[0]!.id }])
    }
    await noPlaintextStored()
  })
})
