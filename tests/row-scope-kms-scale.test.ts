/**
 * Row-scoped keys at scale with AWS KMS: 1,000 tenants × 10 tenant_notes rows written through the
 * Prisma extension, each tenant's rows sealed under its own KMS key (`alias/tenant-<id>`), then all
 * 10,000 read back by another process (new encryptor, scope keys and KMS client: a cold cache).
 * KMS calls are counted where they arrive: the KMS test server's requests per operation.
 */
import { CreateAliasCommand, CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms'
import { DecryptionFailedError, EnvelopeEncryptor, FieldEncryptionError, awsKmsScopeKeys, type EncryptorOptions } from '../src'
import { testLocalKeys } from './support/keys'
import { encryptedClient } from './support/encrypted-client'
import { KmsTestServer, kmsClientFor } from './support/kms-test-server'
import { createTestDatabase, type TestDatabase } from './support/test-database'

const TENANTS = 1000
const ROWS_PER_TENANT = 10
/** Allowance on top of one call per tenant (none is expected; a stray retry or two would not be a per-row cost). */
const SLACK = 5

const server = new KmsTestServer()
let db: TestDatabase
let admin: KMSClient
const clients: KMSClient[] = []
/** The blind-index root key (and unscoped keys); tenants' data keys come from KMS. */
const master = testLocalKeys()

const tenantId = (t: number) => `t${String(t).padStart(4, '0')}`
const bodyOf = (tenant: string, v: number) => `note ${v} of ${tenant}`
const emailOf = (tenant: string, v: number) => `user${v}@${tenant}.example`

/** A client of its own process: a new KMS client, scope keys and encryptor, so nothing is cached. */
function freshClient(cache?: EncryptorOptions['cache']) {
  const kms = kmsClientFor(endpoint)
  clients.push(kms)
  const scopeKeys = awsKmsScopeKeys({ keyIdFor: (scope) => `alias/tenant-${scope}`, client: kms })
  const encryptor = new EnvelopeEncryptor({ keys: master, scopeKeys, ...(cache === undefined ? {} : { cache }) })
  return { prisma: encryptedClient(db, { encryptor }).prisma, encryptor }
}

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )

let endpoint: string

beforeAll(async () => {
  db = await createTestDatabase()
  ;({ endpoint } = await server.start())
  admin = kmsClientFor(endpoint)
  // One KMS key per tenant, named by alias, 50 tenants at a time.
  for (let first = 0; first < TENANTS; first += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, TENANTS - first) }, async (_, i) => {
        const { KeyMetadata } = await admin.send(new CreateKeyCommand({ Description: `tenant ${tenantId(first + i)}` }))
        await admin.send(new CreateAliasCommand({ AliasName: `alias/tenant-${tenantId(first + i)}`, TargetKeyId: KeyMetadata!.KeyId! }))
      }),
    )
  }
}, 120_000)

afterAll(async () => {
  for (const c of clients) c.destroy()
  admin?.destroy()
  await server.stop()
  await db?.close()
})

describe(`${TENANTS} tenants × ${ROWS_PER_TENANT} rows, one KMS key per tenant`, () => {
  it('writes in 10 createMany batches with one GenerateDataKey per tenant, a cold read of all rows with one Decrypt per tenant; every row decrypts', async () => {
    const writer = freshClient()
    server.resetCounts()
    const writeStart = performance.now()
    // Batch v holds row v of every tenant, so each tenant's data key must serve ten createMany calls.
    for (let v = 0; v < ROWS_PER_TENANT; v++) {
      const data = Array.from({ length: TENANTS }, (_, t) => {
        const tenant = tenantId(t)
        return { tenantId: tenant, body: bodyOf(tenant, v), email: emailOf(tenant, v) }
      })
      expect((await writer.prisma.tenantNote.createMany({ data })).count).toBe(TENANTS)
    }
    const writeMs = performance.now() - writeStart
    const written = { ...server.calls }
    expect(written.GenerateDataKey).toBeGreaterThanOrEqual(TENANTS) // each tenant's own key made one
    expect(written.GenerateDataKey).toBeLessThanOrEqual(TENANTS + SLACK)
    expect(written.Decrypt).toBe(0)
    expect(writer.encryptor.stats().valuesEncrypted).toBe(2 * TENANTS * ROWS_PER_TENANT)

    // Nothing readable in the table.
    const raw = await db.sql<{ body: string; email: string }>('SELECT body, email FROM tenant_notes')
    expect(raw).toHaveLength(TENANTS * ROWS_PER_TENANT)
    // (Spaces and '@' are in every plaintext and never in the envelope's base64url; a word like 'note' can turn up by chance.)
    expect(raw.filter((r) => !r.body.startsWith('$kfe$') || r.body.includes(' ') || r.email.includes('@'))).toEqual([])

    // Another process reads every row: one Decrypt per tenant, not per row or value.
    const reader = freshClient()
    server.resetCounts()
    const readStart = performance.now()
    const rows = await reader.prisma.tenantNote.findMany({ orderBy: { id: 'asc' } })
    const readMs = performance.now() - readStart
    const read = { ...server.calls }
    expect(rows).toHaveLength(TENANTS * ROWS_PER_TENANT)
    const wrong = rows.filter((r, i) => {
      const v = Math.floor(i / TENANTS)
      return r.tenantId !== tenantId(i % TENANTS) || r.body !== bodyOf(r.tenantId, v) || r.email !== emailOf(r.tenantId, v)
    })
    expect(wrong).toEqual([])
    expect(read.Decrypt).toBeGreaterThanOrEqual(TENANTS)
    expect(read.Decrypt).toBeLessThanOrEqual(TENANTS + SLACK)
    expect(read.GenerateDataKey).toBe(0)

    // Read again in 10 pages (every page has a row of every tenant): the keys stay cached across queries.
    server.resetCounts()
    for (let page = 0; page < ROWS_PER_TENANT; page++) {
      const rows = await reader.prisma.tenantNote.findMany({ orderBy: { id: 'asc' }, skip: page * TENANTS, take: TENANTS })
      expect(rows.filter((r) => r.body !== bodyOf(r.tenantId, page))).toEqual([])
    }
    expect(server.cryptoCalls).toBe(0)

    // A blind-index lookup in one tenant finds its row, with no further KMS call.
    server.resetCounts()
    const found = await reader.prisma.tenantNote.findMany({
      where: { tenantId: tenantId(417), email: emailOf(tenantId(417), 3).toUpperCase() },
    })
    expect(found.map((r) => r.body)).toEqual([bodyOf(tenantId(417), 3)])
    expect(server.cryptoCalls).toBe(0)

    console.log(
      `row-scope KMS scale (${db.kind}), ${TENANTS} tenants × ${ROWS_PER_TENANT} rows: ` +
        `write ${writeMs.toFixed(0)} ms (${written.GenerateDataKey} GenerateDataKey, ${written.Decrypt} Decrypt), ` +
        `cold read ${readMs.toFixed(0)} ms (${read.Decrypt} Decrypt, ${read.GenerateDataKey} GenerateDataKey)`,
    )
  }, 120_000)

  it('a row’s value copied into another tenant’s row fails with a typed error, never plaintext', async () => {
    const [source] = await db.sql<{ body: string }>('SELECT body FROM tenant_notes WHERE tenant_id = $1 ORDER BY id LIMIT 1', [tenantId(1)])
    const [target] = await db.sql<{ id: number }>('SELECT id FROM tenant_notes WHERE tenant_id = $1 ORDER BY id LIMIT 1', [tenantId(2)])
    await db.sql('UPDATE tenant_notes SET body = $1 WHERE id = $2', [source!.body, target!.id])
    const reader = freshClient()
    const err = await rejection(reader.prisma.tenantNote.findMany({ where: { tenantId: tenantId(2) } }))
    expect(err).toBeInstanceOf(DecryptionFailedError)
    expect(err).toMatchObject({ model: 'TenantNote', field: 'body' })
    expect(String((err as Error).message)).not.toContain(bodyOf(tenantId(1), 0))
    expect(err).toBeInstanceOf(FieldEncryptionError)
    // The source tenant's rows still read.
    expect((await reader.prisma.tenantNote.findMany({ where: { tenantId: tenantId(1) }, orderBy: { id: 'asc' } }))[0]!.body).toBe(
      bodyOf(tenantId(1), 0),
    )
  }, 60_000)

  it('the counts above do see per-value KMS calls: with one value per data key, 10 tenants × 10 rows cost one call per value', async () => {
    const perValue = freshClient({ maxUses: 1 })
    const data = Array.from({ length: 100 }, (_, i) => {
      const tenant = tenantId(i % 10)
      return { tenantId: tenant, body: `control ${i}`, email: `control${i}@x.example` }
    })
    await db.prisma.tenantNote.deleteMany({})
    server.resetCounts()
    await perValue.prisma.tenantNote.createMany({ data })
    const generated = server.calls.GenerateDataKey
    const reader = freshClient()
    server.resetCounts()
    expect((await reader.prisma.tenantNote.findMany({ orderBy: { id: 'asc' } })).map((r) => r.body)).toEqual(data.map((d) => d.body))
    const decrypted = server.calls.Decrypt
    // 100 rows × 2 encrypted fields, each value under a data key of its own.
    expect({ generated, decrypted }).toEqual({ generated: 200, decrypted: 200 })
    console.log(`one value per data key: ${generated} GenerateDataKey, ${decrypted} Decrypt for 10 tenants × 10 rows`)
  }, 60_000)
})
