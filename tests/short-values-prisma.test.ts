import { randomUUID } from 'node:crypto'
import { DecryptionFailedError, KeyHeaderMissingError, KeyHeaderWriteError } from '../src'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import type { LocalKeyProvider } from '../src/keys/local-key-provider'
import { encryptedClient, type EncryptedClient } from './support/encrypted-client'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, type TestDatabase } from './support/test-database'
import { truncateTables } from './support/truncate-tables'

/**
 * Stored format version 2 through Prisma: Patient's name, ssn and scan have `@keyHeader` columns.
 * Values are short (`$kf2$`), each row carries its key headers (the encrypted data key), a warm
 * read leaves the key headers out of the query, a cold one (a new process: an empty cache) reads
 * them in a second query, and the caller never sees a key header unless it selects one.
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

/** A client of another process: same keys, an empty data-key cache; `recorder` sees each query it sends. */
function coldClient() {
  return encryptedClient(db, { keys })
}

const secret = (label: string) => `${label}-${randomUUID()}`

interface PatientRow {
  id: number
  name: string
  name_key: string | null
  ssn: string | null
  ssn_key: string | null
  ssn_index: string | null
  scan: Uint8Array | null
  scan_key: string | null
}

async function stored(id: number): Promise<PatientRow> {
  const [row] = await db.sql<PatientRow>(`SELECT id, name, name_key, ssn, ssn_key, ssn_index, scan, scan_key FROM patients WHERE id = $1`, [
    id,
  ])
  if (!row) throw new Error(`no patients row ${id}`)
  return row
}

test('create stores short values with their key headers; the result has no key header', async () => {
  const name = secret('name')
  const ssn = secret('ssn')
  const scan = new Uint8Array([1, 2, 3, 250])
  const created = await prisma.patient.create({ data: { name, ssn, scan } })
  expect(created).toEqual({ id: created.id, name, ssn, ssnIndex: expect.any(String), scan, note: null, doctorId: null })
  expect(Object.keys(created)).not.toEqual(expect.arrayContaining(['nameKey']))
  const row = await stored(created.id)
  expect(row.name).toMatch(/^\$kf2\$[A-Za-z0-9_-]{12}[A-Za-z0-9_-]+$/)
  expect(row.name).not.toContain(name)
  expect(row.name.length).toBeLessThan(120)
  expect(row.name_key).toMatch(/^\$kfh\$[A-Za-z0-9_-]+$/)
  expect(row.ssn_key).toBe(row.name_key) // one data key for the batch
  expect(row.ssn).toMatch(/^\$kf2\$/)
  expect(Buffer.from(row.scan!).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x4b, 0x46, 0x32]))
  expect(row.scan_key).toBe(row.name_key)
  expect(row.ssn_index).toEqual(expect.any(String))
})

test('a warm read does not read the key headers; the values come back', async () => {
  const name = secret('name')
  const { id } = await prisma.patient.create({ data: { name, ssn: 'x' } })
  const { prisma: reader, recorder } = encryptedClient(db, { keys })
  // Warm the reader's cache once (cold read), then look at what a warm read sends.
  expect((await reader.patient.findMany())[0]).toMatchObject({ id, name, ssn: 'x' })
  recorder.clear()
  const rows = await reader.patient.findMany()
  expect(rows).toEqual([{ id, name, ssn: 'x', ssnIndex: expect.any(String), scan: null, note: null, doctorId: null }])
  expect(recorder.queries).toHaveLength(1)
  expect(JSON.parse(recorder.queries[0]!.args)).toMatchObject({ omit: { nameKey: true, ssnKey: true, scanKey: true } })
})

test('a cold read (a new process) reads the key headers in a second query, then reads warm', async () => {
  const name = secret('name')
  const { id } = await prisma.patient.create({ data: { name, ssn: 'x' } })
  const { prisma: cold, recorder } = coldClient()
  const first = await cold.patient.findUnique({ where: { id } })
  expect(first).toEqual({ id, name, ssn: 'x', ssnIndex: expect.any(String), scan: null, note: null, doctorId: null })
  expect(recorder.queries.map((q) => q.operation)).toEqual(['findUnique', 'findUnique'])
  // The second run reads the key headers (omit false: even where a client-wide omit leaves them out).
  expect(JSON.parse(recorder.queries[1]!.args).omit).toEqual({ nameKey: false, ssnKey: false, scanKey: false })
  recorder.clear()
  await expect(cold.patient.findFirst({ where: { id } })).resolves.toMatchObject({ name })
  expect(recorder.queries).toHaveLength(1)
})

test('select: only what is selected comes back; a key header comes back only when selected by name', async () => {
  const name = secret('name')
  const { id } = await prisma.patient.create({ data: { name, ssn: 'x' } })
  const { prisma: cold } = coldClient()
  await expect(cold.patient.findUnique({ where: { id }, select: { name: true } })).resolves.toEqual({ name })
  const { prisma: cold2 } = coldClient()
  const withHeader = await cold2.patient.findUnique({ where: { id }, select: { name: true, nameKey: true } })
  expect(withHeader).toEqual({ name, nameKey: expect.stringMatching(/^\$kfh\$/) })
  await expect(prisma.patient.findUnique({ where: { id }, omit: { ssn: true } })).resolves.toEqual({
    id,
    name,
    ssnIndex: expect.any(String),
    scan: null,
    note: null,
    doctorId: null,
  })
})

test('nested reads through relations, cold and warm: include, select, and true', async () => {
  const email = `${randomUUID()}@example.com`
  const name = secret('name')
  await prisma.user.create({ data: { email, patients: { create: [{ name, ssn: 's1' }, { name: 'b' }] } } })
  for (const client of [coldClient().prisma, prisma]) {
    const viaInclude = await client.user.findMany({ include: { patients: { orderBy: { id: 'asc' } } } })
    expect(viaInclude[0]!.email).toBe(email)
    expect(viaInclude[0]!.patients.map((p) => [p.name, p.ssn])).toEqual([
      [name, 's1'],
      ['b', null],
    ])
    expect(viaInclude[0]!.patients[0]).not.toHaveProperty('nameKey')
    const viaTrue = await client.user.findFirst({ include: { patients: true } })
    expect(viaTrue!.patients).toHaveLength(2)
    for (const p of viaTrue!.patients) expect(p).not.toHaveProperty('ssnKey')
    const viaSelect = await client.user.findFirst({ select: { email: true, patients: { select: { name: true } } } })
    expect(viaSelect).toEqual({ email, patients: expect.arrayContaining([{ name }, { name: 'b' }]) })
  }
  const { prisma: cold } = coldClient()
  const fluent = await cold.user.findFirst({ where: { email: { not: '' } } }).patients()
  expect(fluent!.map((p) => p.name).sort()).toEqual(['b', name].sort())
  for (const p of fluent!) expect(p).not.toHaveProperty('nameKey')
})

test('update of one field writes its key header with it; the other fields keep theirs and stay readable cold', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n', ssn: 's' } })
  const before = await stored(id)
  const other = encryptedClient(db, { keys, cache: { maxUses: 1 } }).prisma // a new data key for every value
  const updated = await other.patient.update({ where: { id }, data: { ssn: { set: 's2' } } })
  expect(updated).toMatchObject({ name: 'n', ssn: 's2' })
  expect(updated).not.toHaveProperty('ssnKey')
  const after = await stored(id)
  expect(after.name).toBe(before.name)
  expect(after.name_key).toBe(before.name_key)
  expect(after.ssn_key).not.toBe(before.ssn_key)
  await expect(coldClient().prisma.patient.findUnique({ where: { id } })).resolves.toMatchObject({ name: 'n', ssn: 's2' })
  // Setting null clears the key header too.
  await prisma.patient.update({ where: { id }, data: { ssn: null } })
  const cleared = await stored(id)
  expect([cleared.ssn, cleared.ssn_key, cleared.ssn_index]).toEqual([null, null, null])
})

test('createMany, updateMany, upsert and nested writes write key headers; every row reads cold', async () => {
  await prisma.patient.createMany({ data: [{ name: 'a' }, { name: 'b', ssn: 'sb' }] })
  await prisma.patient.updateMany({ where: { note: null }, data: { scan: new Uint8Array([7]) } })
  const up = await prisma.patient.upsert({ where: { id: 999_999 }, create: { name: 'u' }, update: { name: 'v' } })
  const { id: doctorId } = await prisma.user.create({ data: { email: `${randomUUID()}@x.io`, patients: { create: { name: 'nested' } } } })
  await prisma.user.update({ where: { id: doctorId }, data: { patients: { updateMany: { where: {}, data: { ssn: 'ns' } } } } })
  const rows = await db.sql<PatientRow>('SELECT * FROM patients ORDER BY id')
  for (const r of rows) {
    expect(r.name_key).toMatch(/^\$kfh\$/)
    if (r.ssn !== null) expect(r.ssn_key).toMatch(/^\$kfh\$/)
    if (r.scan !== null) expect(r.scan_key).toMatch(/^\$kfh\$/)
  }
  const read = await coldClient().prisma.patient.findMany({ orderBy: { id: 'asc' } })
  expect(read.map((p) => [p.name, p.ssn, p.scan && [...p.scan]])).toEqual([
    ['a', null, [7]],
    ['b', 'sb', [7]],
    ['u', null, null],
    ['nested', 'ns', null],
  ])
  expect(up.name).toBe('u')
})

test('a write of a key header by hand is refused, and nothing is written', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n' } })
  const before = await stored(id)
  await expect(prisma.patient.update({ where: { id }, data: { nameKey: 'x' } })).rejects.toThrow(KeyHeaderWriteError)
  await expect(prisma.patient.create({ data: { name: 'm', ssnKey: null } })).rejects.toThrow(KeyHeaderWriteError)
  expect(await stored(id)).toEqual(before)
  expect(await db.sql('SELECT id FROM patients')).toHaveLength(1)
})

test('a row whose key header was removed: a cold read fails typed, never returns ciphertext or plaintext guesses', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n' } })
  await db.sql('UPDATE patients SET name_key = NULL WHERE id = $1', [id])
  await expect(coldClient().prisma.patient.findUnique({ where: { id } })).rejects.toThrow(KeyHeaderMissingError)
  // Still readable where the data key is cached (this process wrote it).
  await expect(prisma.patient.findUnique({ where: { id } })).resolves.toMatchObject({ name: 'n' })
})

test("a value moved to another row with that row's key header does not open (key id pairing)", async () => {
  const a = await prisma.patient.create({ data: { name: 'a' } })
  const other = encryptedClient(db, { keys, cache: { maxUses: 1 } }).prisma
  const b = await other.patient.create({ data: { name: 'b' } })
  const rowA = await stored(a.id)
  await db.sql('UPDATE patients SET name = $1 WHERE id = $2', [rowA.name, b.id])
  await expect(coldClient().prisma.patient.findUnique({ where: { id: b.id } })).rejects.toThrow(DecryptionFailedError)
})

test('version 1 values in a short-form column stay readable', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n' } })
  const v1 = await prisma.user.create({ data: { email: 'v1@example.com' } })
  const [u] = await db.sql<{ email: string }>('SELECT email FROM users WHERE id = $1', [v1.id])
  expect(u!.email).toMatch(/^\$kfe\$/)
  // A v1 value of patients.name (as written before the column had a key header), by the core encryptor.
  const v1Name = (await new EnvelopeEncryptor({ keys }).encrypt('old', fieldContext('Patient', 'name', 'patients', 'name'))) as string
  expect(v1Name).toMatch(/^\$kfe\$/)
  await db.sql('UPDATE patients SET name = $1, name_key = NULL WHERE id = $2', [v1Name, id])
  await expect(coldClient().prisma.patient.findUnique({ where: { id } })).resolves.toMatchObject({ name: 'old' })
})

test('a cold read runs again inside an interactive transaction, and reads its key headers at once in a batch transaction', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n' } })
  const { prisma: cold } = coldClient()
  const inTx = await cold.$transaction(async (tx) => {
    await tx.patient.update({ where: { id }, data: { note: 'in tx' } })
    return tx.patient.findUnique({ where: { id } })
  })
  expect(inTx).toMatchObject({ name: 'n', note: 'in tx' })
  const { prisma: cold2 } = coldClient()
  const [one, many] = await cold2.$transaction([cold2.patient.findUnique({ where: { id } }), cold2.patient.findMany()])
  expect(one).toMatchObject({ name: 'n' })
  expect(many).toHaveLength(1)
})

test('a warm read (values opened in the walk) still refuses a tampered value or one moved to another column', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n', ssn: 's' } })
  await expect(prisma.patient.findUnique({ where: { id } })).resolves.toMatchObject({ name: 'n' }) // warm
  const row = await stored(id)
  const flipped = row.name.slice(0, -2) + (row.name.at(-2) === 'A' ? 'B' : 'A') + row.name.at(-1)
  await db.sql('UPDATE patients SET name = $1 WHERE id = $2', [flipped, id])
  await expect(prisma.patient.findMany()).rejects.toThrow(DecryptionFailedError)
  await db.sql('UPDATE patients SET name = $1 WHERE id = $2', [row.ssn, id]) // ssn's value in the name column
  await expect(prisma.patient.findMany()).rejects.toThrow(DecryptionFailedError)
  await db.sql('UPDATE patients SET name = $1 WHERE id = $2', [row.name, id])
  await expect(prisma.patient.findMany()).resolves.toMatchObject([{ name: 'n', ssn: 's' }])
})

test('omit: { nameKey: false } asks for the key header by name, cold and warm; a write returns it only when asked', async () => {
  const { id } = await prisma.patient.create({ data: { name: 'n' } })
  for (const client of [coldClient().prisma, prisma]) {
    const row = await client.patient.findUnique({ where: { id }, omit: { nameKey: false } })
    expect(row).toMatchObject({ name: 'n', nameKey: expect.stringMatching(/^\$kfh\$/) })
    expect(row).not.toHaveProperty('ssnKey')
  }
  const updated = await coldClient().prisma.patient.update({ where: { id }, data: { note: 'x' }, omit: { nameKey: false } })
  expect(updated).toMatchObject({ name: 'n', nameKey: expect.stringMatching(/^\$kfh\$/) })
  const plain = await coldClient().prisma.patient.update({ where: { id }, data: { note: 'y' } })
  expect(plain).toMatchObject({ name: 'n', note: 'y' })
  expect(plain).not.toHaveProperty('nameKey')
})
