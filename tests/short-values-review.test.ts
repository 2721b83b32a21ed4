import { randomUUID } from 'node:crypto'
import type { LocalKeyProvider } from '../src/keys/local-key-provider'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, supportsManyAndReturn, type TestDatabase } from './support/test-database'
import { testWhere } from './support/test-database-kind'
import { truncateTables } from './support/truncate-tables'

/**
 * Review of stored format version 2 through Prisma (short values, key headers): paths where a
 * value could be written without its key header, read under the wrong state, or a read run again
 * where it must not be.
 */
let db: TestDatabase
let keys: LocalKeyProvider
let prisma: EncryptedClient

beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(async () => {
  await db.close()
})
beforeEach(async () => {
  await truncateTables(db)
  keys = testLocalKeys()
  ;({ prisma } = encryptedClient(db, { keys }))
})

/** A client of another process: same keys, an empty data-key cache. */
const coldClient = () => encryptedClient(db, { keys })
/** A client that makes a new data key for every value (so a rewrite changes the key header). */
const keyPerValueClient = () => encryptedClient(db, { keys, cache: { maxUses: 1 } }).prisma

interface PatientRow {
  id: number
  name: string
  name_key: string | null
  ssn: string | null
  ssn_key: string | null
}

const rows = () => db.sql<PatientRow>('SELECT id, name, name_key, ssn, ssn_key FROM patients ORDER BY id')

/** Every short value in the table has a key header beside it, and every row reads on a cold cache. */
async function everyRowReadsCold(): Promise<void> {
  for (const r of await rows()) {
    expect(r.name).toMatch(/^\$kf2\$/)
    expect(r.name_key).toMatch(/^\$kfh\$/)
    if (r.ssn !== null) expect(r.ssn_key).toMatch(/^\$kfh\$/)
    else expect(r.ssn_key).toBeNull()
  }
  const all = await coldClient().prisma.patient.findMany()
  expect(all).toHaveLength((await rows()).length)
}

// Batch transactions ($transaction([...])): Prisma runs the batch as one transaction and commits
// it before any result is handed back; a second query made from a result (a cold read run again
// with its key headers) is a new batch of its own, after the commit: it sees what later
// statements of the batch did, or another client's writes since.
test('a cold read in a batch transaction returns what the transaction read, not the row after a later statement of the batch', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'before' } })
  const { prisma: cold } = coldClient()
  const [read] = await cold.$transaction([
    cold.patient.findUnique({ where: { id } }),
    cold.patient.update({ where: { id }, data: { name: 'after' } }),
  ])
  expect(read).toMatchObject({ id, name: 'before' })
})

test('a cold findMany in a batch transaction before a deleteMany returns the rows the transaction saw', async () => {
  await prisma.patient.createMany({ data: [{ name: 'a' }, { name: 'b' }] })
  const { prisma: cold } = coldClient()
  const [many, deleted] = await cold.$transaction([cold.patient.findMany({ orderBy: { id: 'asc' } }), cold.patient.deleteMany()])
  expect(deleted.count).toBe(2)
  expect(many.map((p) => p.name)).toEqual(['a', 'b'])
})

test('nested connectOrCreate, upsert (create and update) and update write key headers with their values', async () => {
  const { id: doctorId } = await prisma.user.create({ data: { email: `${randomUUID()}@x.io` } })
  const other = keyPerValueClient()
  await other.user.update({
    where: { id: doctorId },
    data: { patients: { connectOrCreate: { where: { id: 1_000_001 }, create: { name: 'coc', ssn: 's-coc' } } } },
  })
  await other.user.update({
    where: { id: doctorId },
    data: { patients: { upsert: { where: { id: 1_000_002 }, create: { name: 'up-c' }, update: { name: 'never' } } } },
  })
  const [first] = await rows()
  await other.user.update({
    where: { id: doctorId },
    data: { patients: { upsert: { where: { id: first!.id }, create: { name: 'never' }, update: { name: { set: 'up-u' } } } } },
  })
  const [second] = await rows()
  await other.user.update({
    where: { id: doctorId },
    data: { patients: { update: { where: { id: second!.id }, data: { ssn: 's-upd' } } } },
  })
  const after = await rows()
  expect(after.find((r) => r.id === first!.id)!.name_key).not.toBe(first!.name_key)
  await everyRowReadsCold()
  const read = await coldClient().prisma.patient.findMany({ orderBy: { id: 'asc' } })
  expect(read.map((p) => [p.name, p.ssn])).toEqual([
    ['up-u', 's-upd'],
    ['up-c', null],
  ])
})

test('a top-level upsert that updates writes the new key header; one that sets null clears it', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n', ssn: 's' } })
  const before = (await rows())[0]!
  await keyPerValueClient().patient.upsert({ where: { id }, create: { name: 'x' }, update: { name: 'n2', ssn: null } })
  const after = (await rows())[0]!
  expect(after.name_key).not.toBe(before.name_key)
  expect([after.ssn, after.ssn_key]).toEqual([null, null])
  await expect(coldClient().prisma.patient.findUnique({ where: { id } })).resolves.toMatchObject({ name: 'n2', ssn: null })
})

testWhere(supportsManyAndReturn(), 'createManyAndReturn/updateManyAndReturn are not offered on MySQL')(
  'createManyAndReturn and updateManyAndReturn write key headers and return plaintext on a cold client, without key headers',
  async () => {
    const { prisma: cold } = coldClient()
    const created = await cold.patient.createManyAndReturn({
      data: [{ name: 'a', ssn: 'sa' }, { name: 'b' }],
      select: { id: true, name: true },
    })
    expect(created.map((p) => p.name).sort()).toEqual(['a', 'b'])
    for (const p of created) expect(Object.keys(p).sort()).toEqual(['id', 'name'])
    const updated = await coldClient().prisma.patient.updateManyAndReturn({ where: {}, data: { name: { set: 'same' } } })
    expect(updated.map((p) => p.name)).toEqual(['same', 'same'])
    for (const p of updated) expect(p).not.toHaveProperty('nameKey')
    await everyRowReadsCold()
  },
)

test("a cold write's result opens related short values (include, Fluent API): a write is never run again", async () => {
  const { id: doctorId } = await prisma.user.create({
    data: { email: `${randomUUID()}@x.io`, patients: { create: [{ name: 'p1' }, { name: 'p2', ssn: 's2' }] } },
  })
  const { prisma: cold, recorder } = coldClient()
  const withPatients = await cold.user.update({ where: { id: doctorId }, data: { name: 'doc' }, include: { patients: true, _count: true } })
  expect(withPatients.patients.map((p) => p.name).sort()).toEqual(['p1', 'p2'])
  for (const p of withPatients.patients) expect(p).not.toHaveProperty('nameKey')
  expect(recorder.queries.filter((q) => q.operation === 'update')).toHaveLength(1)
  const { prisma: cold2 } = coldClient()
  const fluent = await cold2.user.update({ where: { id: doctorId }, data: { name: 'doc2' } }).patients()
  expect(fluent.map((p) => [p.name, p.ssn]).sort()).toEqual([
    ['p1', null],
    ['p2', 's2'],
  ])
})

test('a cold read with include of _count and a relation, and select of a relation true, opens every value', async () => {
  await prisma.user.create({ data: { email: `${randomUUID()}@x.io`, patients: { create: [{ name: 'p1' }, { name: 'p2' }] } } })
  const viaInclude = await coldClient().prisma.user.findFirst({ include: { _count: { select: { patients: true } }, patients: true } })
  expect(viaInclude!._count.patients).toBe(2)
  expect(viaInclude!.patients.map((p) => p.name).sort()).toEqual(['p1', 'p2'])
  const viaSelect = await coldClient().prisma.user.findFirst({ select: { patients: true, _count: true } })
  expect(viaSelect!.patients.map((p) => p.name).sort()).toEqual(['p1', 'p2'])
  for (const p of viaSelect!.patients) expect(p).not.toHaveProperty('nameKey')
})

test('a cold batch transaction of reads with select, include and the Fluent API opens every value and returns no key header', async () => {
  const email = `${randomUUID()}@x.io`
  await prisma.user.create({ data: { email, patients: { create: [{ name: 'p1', ssn: 's1' }, { name: 'p2' }] } } })
  const { prisma: cold, recorder } = coldClient()
  const [selected, included, fluent] = await cold.$transaction([
    cold.patient.findMany({ select: { name: true, ssn: true }, orderBy: { id: 'asc' } }),
    cold.user.findFirst({ include: { patients: { orderBy: { id: 'asc' } } } }),
    cold.user.findFirst({ where: { email } }).patients({ orderBy: { id: 'asc' } }),
  ])
  expect(selected).toEqual([
    { name: 'p1', ssn: 's1' },
    { name: 'p2', ssn: null },
  ])
  expect(included!.patients.map((p) => p.name)).toEqual(['p1', 'p2'])
  expect(fluent!.map((p) => p.name)).toEqual(['p1', 'p2'])
  for (const p of [...included!.patients, ...fluent!]) for (const k of ['nameKey', 'ssnKey', 'scanKey']) expect(p).not.toHaveProperty(k)
  expect(recorder.queries).toHaveLength(3) // none run again
})
