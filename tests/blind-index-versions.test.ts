import { randomBytes } from 'node:crypto'
import { encryptionModel } from './support/test-encryption-model'
import type { Prisma } from '../prisma/generated/client/client'
import {
  BlindIndexer,
  BlindIndexRecomputeError,
  ConfigurationError,
  DecryptionFailedError,
  LocalKeyProvider,
  fieldEncryption,
  recomputeBlindIndexes,
  storedIndexVersion,
  type BlindIndexOptions,
  type RecomputeProgress,
  type SqlExecutor,
} from '../src'
import { blindIndexFieldsOf } from '../src/blind-index/blind-index-field'
import { testLocalKeys } from './support/keys'
import { createCapturingTestDatabase, type CapturingTestDatabase } from './support/sql-capture'
import { testDatabaseKind } from './support/test-database-kind'

const supportsRecomputeSql = () => ['pglite', 'postgres'].includes(testDatabaseKind())

/**
 * Index versions: a new root key (or normalisation) is version 2; while `previous` names
 * version 1, filters match rows on either and writes store version 2; recomputeBlindIndexes
 * moves the rows over, after which `previous` can go.
 */
const keys = testLocalKeys()
const rootV1 = randomBytes(32)
const rootV2 = randomBytes(32)
const V1: BlindIndexOptions = { rootKey: rootV1 }
const SWITCHING: BlindIndexOptions = { version: 2, rootKey: rootV2, previous: { version: 1, rootKey: rootV1 } }
const V2: BlindIndexOptions = { version: 2, rootKey: rootV2 }
const emailField = blindIndexFieldsOf(encryptionModel).find((f) => f.index === 'emailIndex')!

let db: CapturingTestDatabase
let v1: ReturnType<typeof client>
let switching: ReturnType<typeof client>
let v2: ReturnType<typeof client>
const secrets = new Set<string>()
const client = (blindIndex: BlindIndexOptions) => db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys, blindIndex }))
const secret = (label: string) => {
  const v = `${label}.${randomBytes(5).toString('hex')}@Example.org`
  secrets.add(v)
  return v
}
const byEmail = (email: string) => ({ email }) as unknown as Prisma.UserWhereUniqueInput

/** Raw SQL for recompute, recording each statement. */
function executor(): SqlExecutor & { log: Array<{ sql: string; params: readonly unknown[] }> } {
  const log: Array<{ sql: string; params: readonly unknown[] }> = []
  return {
    log,
    async query(sql, params) {
      log.push({ sql, params })
      return db.sql(sql, [...params])
    },
  }
}

async function indexOf(id: number): Promise<string | null> {
  return (await db.sql<{ email_index: string | null }>('SELECT email_index FROM users WHERE id = $1', [id]))[0]!.email_index
}
async function versionsOfUsers(): Promise<Record<string, number>> {
  // The version is what precedes the first ':', counted here (split_part is PostgreSQL-only).
  const counts: Record<string, number> = {}
  for (const { email_index: index } of await db.sql<{ email_index: string | null }>('SELECT email_index FROM users')) {
    const v = index === null ? 'null' : index.split(':')[0]!
    counts[v] = (counts[v] ?? 0) + 1
  }
  return counts
}

beforeAll(async () => {
  db = await createCapturingTestDatabase()
  v1 = client(V1)
  switching = client(SWITCHING)
  v2 = client(V2)
})
afterAll(async () => {
  await db?.close()
})
afterEach(() => {
  expect(db.capture.leaked(secrets)).toEqual([])
})

describe('while two versions are live', () => {
  let a: { id: number; email: string }, b: typeof a, c: typeof a
  beforeAll(async () => {
    a = await v1.user.create({ data: { email: secret('a') } })
    b = await v1.user.create({ data: { email: secret('b') } })
    c = await v1.user.create({ data: { email: secret('c') } })
  })

  it('filters match either version; writes store the new one', async () => {
    db.capture.clear()
    expect((await switching.user.findFirst({ where: { email: a.email.toUpperCase() } }))?.id).toBe(a.id)
    const select = db.capture.matching(/^SELECT/)[0]!
    expect(select.sql).toMatch(/"email_index" IN \(\$1,\$2\)/)
    expect(select.args.slice(0, 2).map(storedIndexVersion)).toEqual([2, 1])
    expect(
      (
        await switching.user.findMany({ where: { id: { in: [a.id, b.id, c.id] }, email: { notIn: [a.email] } }, orderBy: { id: 'asc' } })
      ).map((u) => u.id),
    ).toEqual([b.id, c.id])
    expect(
      (await switching.user.findMany({ where: { id: { in: [a.id, b.id, c.id] }, email: { not: b.email } }, orderBy: { id: 'asc' } })).map(
        (u) => u.id,
      ),
    ).toEqual([a.id, c.id])

    const d = await switching.user.create({ data: { email: secret('d') } })
    expect(storedIndexVersion(await indexOf(d.id))).toBe(2)
    await switching.user.update({ where: { id: a.id }, data: { name: 'renamed' } })
    expect(storedIndexVersion(await indexOf(a.id))).toBe(1) // the email was not written
    // Without `previous`, rows still on version 1 are not found: that is why it exists.
    expect(await v2.user.findFirst({ where: { email: a.email } })).toBeNull()
    expect((await v2.user.findFirst({ where: { email: d.email } }))?.id).toBe(d.id)
  })

  it('unique lookups use the version the row has (one extra indexed read), never creating a duplicate', async () => {
    const onNew = await switching.user.create({ data: { email: secret('new') } })
    db.capture.clear()
    expect((await switching.user.findUnique({ where: byEmail(b.email) }))?.id).toBe(b.id)
    const [lookup, query] = db.capture.matching(/^SELECT/)
    expect(lookup!.sql).toMatch(/"email_index" IN/)
    expect(query!.sql).toMatch(/"email_index" = \$1/)
    expect(storedIndexVersion(query!.args[0])).toBe(1)
    expect((await switching.user.findUniqueOrThrow({ where: byEmail(onNew.email) })).id).toBe(onNew.id)

    const users = await db.sql<{ n: string }>('SELECT count(*) AS n FROM users')
    const upserted = await switching.user.upsert({ where: byEmail(c.email), create: { email: c.email }, update: { name: 'upserted' } })
    expect(upserted).toMatchObject({ id: c.id, name: 'upserted' })
    const coc = await switching.post.create({
      data: { title: 'p', author: { connectOrCreate: { where: byEmail(b.email), create: { email: b.email } } } },
    })
    expect(coc.authorId).toBe(b.id)
    const connected = await switching.post.create({ data: { title: 'q', author: { connect: byEmail(c.email) } } })
    expect(connected.authorId).toBe(c.id)
    expect(await db.sql<{ n: string }>('SELECT count(*) AS n FROM users')).toEqual(users)
    const page = await switching.user.findMany({
      cursor: byEmail(b.email),
      where: { id: { in: [a.id, b.id, c.id] } },
      orderBy: { id: 'asc' },
    })
    expect(page.map((u) => u.id)).toEqual([b.id, c.id])
    const created = await switching.user.upsert({ where: byEmail(secret('absent')), create: { email: secret('absent2') }, update: {} })
    expect(storedIndexVersion(await indexOf(created.id))).toBe(2)
  })

  it('inside an interactive transaction, the lookup runs in the transaction', async () => {
    const fresh = secret('in-tx')
    const started = Date.now()
    const found = await switching.$transaction(
      async (tx) => {
        await tx.user.update({ where: { id: a.id }, data: { name: 'locked by the transaction' } })
        const old = await tx.user.findUnique({ where: byEmail(a.email) })
        const created = await tx.user.create({ data: { email: fresh } })
        const seen = await tx.user.findUnique({ where: byEmail(fresh) })
        const up = await tx.user.upsert({ where: byEmail(a.email), create: { email: a.email }, update: { name: 'upserted in tx' } })
        return { old: old?.id, created: created.id, seen: seen?.id, up: up.id }
      },
      { timeout: 5_000 },
    )
    expect(Date.now() - started).toBeLessThan(4_000)
    expect(found).toEqual({ old: a.id, created: found.created, seen: found.created, up: a.id })
  })

  it('in a batch transaction too', async () => {
    const [first, second] = await switching.$transaction([
      switching.user.findUnique({ where: byEmail(a.email) }),
      switching.user.update({ where: byEmail(b.email), data: { name: 'batched' } }),
    ])
    expect([first?.id, second.id, second.name]).toEqual([a.id, b.id, 'batched'])
  })
})

// recomputeBlindIndexes writes PostgreSQL SQL (its SqlExecutor reads pg_attribute and binds $1...).
const describeRecompute = supportsRecomputeSql()
  ? describe
  : (name: string, fn: () => void) =>
      describe.skip(
        `${name} [skipped on ${testDatabaseKind()}: the SqlExecutor form of recomputeBlindIndexes speaks PostgreSQL; its database form runs everywhere (tests/migration-databases)]`,
        fn,
      )

describeRecompute('recomputeBlindIndexes', () => {
  it('moves every row to the current version in keyset batches, and resumes with nothing left to do', async () => {
    for (let i = 0; i < 7; i++) await v1.user.create({ data: { email: secret(`batch${i}`) } })
    await v1.user.create({ data: { email: secret('x') } })
    const before = await versionsOfUsers()
    expect(before.v1).toBeGreaterThanOrEqual(8)
    const exec = executor()
    const progress: RecomputeProgress[] = []
    const result = await recomputeBlindIndexes({
      db: exec,
      model: encryptionModel,
      modelName: 'User',
      keys,
      blindIndex: SWITCHING,
      batchSize: 3,
      onProgress: (p) => progress.push(p),
    })
    expect(result).toMatchObject({ model: 'User', updated: before.v1, skipped: 0 })
    expect(await versionsOfUsers()).toEqual({ v2: (before.v1 ?? 0) + (before.v2 ?? 0) })
    // Keyset pagination: the first page has no lower bound, every later one starts after the last id.
    const selects = exec.log.filter((s) => s.sql.startsWith('SELECT') && s.sql.includes(' ORDER BY '))
    expect(selects[0]!.sql).not.toMatch(/\("id"\) > \(/)
    expect(
      selects.slice(1).every((s) => /\("id"\) > \(\$1(::\w+)?\)/.test(s.sql) && / LIMIT \$\d+$/.test(s.sql) && s.params.at(-1) === 3),
    ).toBe(true)
    expect(selects.length).toBe(Math.ceil(before.v1! / 3) + (before.v1! % 3 === 0 ? 1 : 0))
    expect(progress.map((p) => p.scanned)).toEqual([...progress.map((p) => p.scanned)].sort((x, y) => x - y))
    // No plaintext in the statements recompute sent either.
    const sent = exec.log
      .map((s) => s.sql + JSON.stringify(s.params))
      .join('\n')
      .toLowerCase()
    expect([...secrets].filter((p) => sent.includes(p.toLowerCase()))).toEqual([])

    const again = await recomputeBlindIndexes({ db: executor(), model: encryptionModel, modelName: 'User', keys, blindIndex: SWITCHING })
    expect(again).toMatchObject({ scanned: 0, updated: 0 })
    // Every row is now found without `previous`.
    const all = await db.sql<{ id: number }>('SELECT id FROM users')
    for (const email of [...secrets].slice(0, 5)) expect(await v2.user.findFirst({ where: { email } })).not.toBeNull()
    const checked = await recomputeBlindIndexes({
      db: executor(),
      model: encryptionModel,
      modelName: 'user',
      keys,
      blindIndex: V2,
      all: true,
      dryRun: true,
    })
    expect(checked).toMatchObject({ scanned: all.length, updated: 0, unchanged: all.length })
  })

  it('handles composite keys, null sources, stray indexes, and runs on Prisma raw queries', async () => {
    const owner = await v1.user.create({ data: { email: secret('owner') } })
    const nick = [secret('n1'), secret('n2'), secret('n3')]
    await v1.contact.createMany({
      data: [
        { ownerId: owner.id, seq: 1, nickname: nick[0] },
        { ownerId: owner.id, seq: 2, nickname: null },
        { ownerId: owner.id, seq: 3, nickname: nick[1] },
        { ownerId: owner.id, seq: 4, nickname: nick[2] },
        { ownerId: owner.id, seq: 5, nickname: null },
      ],
    })
    // A row written around the extension: an index without a source.
    await db.sql('UPDATE contacts SET nickname_index = $1 WHERE owner_id = $2 AND seq = 5', ['v1:' + 'A'.repeat(43), owner.id])
    const prismaRaw: SqlExecutor = { query: (sql, params) => db.prisma.$queryRawUnsafe(sql, ...params) }
    const result = await recomputeBlindIndexes({
      db: prismaRaw,
      schema: db.schema,
      model: encryptionModel,
      modelName: 'Contact',
      keys,
      blindIndex: SWITCHING,
      batchSize: 2,
    })
    expect(result.updated).toBeGreaterThanOrEqual(4)
    const rows = await db.sql<{ seq: number; nickname_index: string | null }>(
      'SELECT seq, nickname_index FROM contacts WHERE owner_id = $1 ORDER BY seq',
      [owner.id],
    )
    expect(rows.map((r) => (r.nickname_index === null ? null : storedIndexVersion(r.nickname_index)))).toEqual([2, null, 2, 2, null])
    expect((await v2.contact.findFirst({ where: { nickname: nick[1] } }))?.seq).toBe(3)
  })

  it('leaves a row the application changed meanwhile to the application (compare-and-set)', async () => {
    const target = await v1.user.create({ data: { email: secret('racing') } })
    const moved = secret('moved')
    const exec = executor()
    let raced = false
    const racing: SqlExecutor = {
      async query(sql, params) {
        if (!raced && sql.startsWith('UPDATE') && params.flat().map(String).includes(String(target.id))) {
          raced = true
          await switching.user.update({ where: { id: target.id }, data: { email: moved } })
        }
        return exec.query(sql, params)
      },
    }
    const result = await recomputeBlindIndexes({ db: racing, model: encryptionModel, modelName: 'User', keys, blindIndex: SWITCHING })
    expect(raced).toBe(true)
    expect(result.skipped).toBe(1)
    const expected = new BlindIndexer([emailField], SWITCHING as BlindIndexOptions & { rootKey: Buffer })
    await expected.load()
    expect(await indexOf(target.id)).toBe(expected.compute(emailField, moved))
  })

  it('stops between batches when aborted; the next run finishes the rest', async () => {
    const created: number[] = []
    for (let i = 0; i < 6; i++) created.push((await v1.user.create({ data: { email: secret(`abort${i}`) } })).id)
    const controller = new AbortController()
    const first = recomputeBlindIndexes({
      db: executor(),
      model: encryptionModel,
      modelName: 'User',
      keys,
      blindIndex: SWITCHING,
      batchSize: 2,
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('operator stopped it')),
    })
    await expect(first).rejects.toThrow('operator stopped it')
    expect((await versionsOfUsers()).v1).toBe(4)
    const rest = await recomputeBlindIndexes({
      db: executor(),
      model: encryptionModel,
      modelName: 'User',
      keys,
      blindIndex: SWITCHING,
      batchSize: 2,
    })
    expect(rest.updated).toBe(4)
    expect((await versionsOfUsers()).v1).toBeUndefined()
  })

  it('a change of normalisation: the old version is matched with its own normalisation until recompute', async () => {
    // Version 1 of this index only trimmed (no lowercase); the schema now says [lowercase, trim].
    const old = new BlindIndexer([{ ...emailField, normalize: ['trim'] }], { rootKey: rootV2 })
    await old.load()
    const mixed = secret('MixedCase')
    const u = await v2.user.create({ data: { email: mixed } })
    await db.sql('UPDATE users SET email_index = $1 WHERE id = $2', [old.compute({ ...emailField, normalize: ['trim'] }, mixed), u.id])
    const renormalising: BlindIndexOptions = {
      version: 3,
      rootKey: rootV2,
      previous: [{ version: 2 }, { version: 1, normalize: { 'User.emailIndex': ['trim'] } }],
    }
    const during = client(renormalising)
    expect((await during.user.findFirst({ where: { email: ` ${mixed}` } }))?.id).toBe(u.id)
    expect(await during.user.findFirst({ where: { email: mixed.toLowerCase() } })).toBeNull() // old semantics for an old row
    await recomputeBlindIndexes({ db: executor(), model: encryptionModel, modelName: 'User', keys, blindIndex: renormalising })
    expect((await client({ version: 3, rootKey: rootV2 }).user.findFirst({ where: { email: mixed.toLowerCase() } }))?.id).toBe(u.id)
  })

  it('names the row it cannot recompute: an undecryptable source, or a unique clash between versions', async () => {
    const donor = await v2.user.create({ data: { email: secret('donor'), phone: secret('phone') } })
    // A ciphertext moved from another column fails authentication.
    await db.sql('UPDATE users SET email = phone, email_index = NULL WHERE id = $1', [donor.id])
    const err = await recomputeBlindIndexes({ db: executor(), model: encryptionModel, modelName: 'User', keys, blindIndex: V2 }).catch(
      (e) => e,
    )
    expect(err).toBeInstanceOf(BlindIndexRecomputeError)
    expect(err).toMatchObject({ code: 'KFE_BLIND_INDEX_RECOMPUTE', model: 'User', primaryKey: { id: donor.id } })
    expect(err.cause).toBeInstanceOf(DecryptionFailedError)
    await db.sql('DELETE FROM users WHERE id = $1', [donor.id])

    // During a switch, the database's uniqueness holds per version only: the same address on v1 and
    // on v2 (the switching client refuses such a create, so a client on v2 alone makes it).
    const dup = secret('dup')
    const oldRow = await v1.user.create({ data: { email: dup } })
    await expect(switching.user.create({ data: { email: dup.toUpperCase() } })).rejects.toMatchObject({ code: 'P2002' })
    const newRow = await v2.user.create({ data: { email: dup.toUpperCase() } })
    expect(newRow.id).not.toBe(oldRow.id)
    const clash = await recomputeBlindIndexes({
      db: executor(),
      model: encryptionModel,
      modelName: 'User',
      keys,
      blindIndex: SWITCHING,
    }).catch((e) => e)
    expect(clash).toBeInstanceOf(BlindIndexRecomputeError)
    expect(clash).toMatchObject({ field: 'emailIndex', primaryKey: { id: oldRow.id } })
    expect(String(clash.cause?.message ?? clash.cause)).toMatch(/duplicate key|unique/i)
    expect(clash.message).not.toContain(dup)
    await db.sql('DELETE FROM users WHERE id = $1', [oldRow.id])
  })

  it('rotating the local master key rotates the derived root key: bump the version, keep the old key as previous', async () => {
    const oldMaster = LocalKeyProvider.generateMasterKey()
    const newMaster = LocalKeyProvider.generateMasterKey()
    const before = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys: new LocalKeyProvider({ masterKey: oldMaster }) }))
    const email = secret('rotated')
    const u = await before.user.create({ data: { email } })
    const rotatedKeys = new LocalKeyProvider({ masterKey: newMaster, previousKeys: [oldMaster] })
    // The same version number under the new master key is another key: the row is not found.
    const careless = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys: rotatedKeys }))
    expect(await careless.user.findFirst({ where: { email } })).toBeNull()
    const switchingLocal: BlindIndexOptions = {
      version: 2,
      previous: { version: 1, rootKey: new LocalKeyProvider({ masterKey: oldMaster }) },
    }
    const during = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys: rotatedKeys, blindIndex: switchingLocal }))
    expect((await during.user.findFirst({ where: { email } }))?.id).toBe(u.id)
    // (Only this row is under these keys: the others of this file go, so recompute reads just it.)
    await db.sql('DELETE FROM users WHERE id <> $1', [u.id])
    const moved = await recomputeBlindIndexes({
      db: executor(),
      model: encryptionModel,
      modelName: 'User',
      keys: rotatedKeys,
      blindIndex: switchingLocal,
      indexes: ['emailIndex'],
    })
    expect(moved).toMatchObject({ scanned: 1, updated: 1 })
    const after = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys: rotatedKeys, blindIndex: { version: 2 } }))
    expect((await after.user.findFirst({ where: { email } }))?.id).toBe(u.id)
  })

  it('refuses what it cannot do', async () => {
    const base = { db: executor(), model: encryptionModel, keys, blindIndex: V2 }
    await expect(recomputeBlindIndexes({ ...base, modelName: 'Nope' })).rejects.toThrow(ConfigurationError)
    await expect(recomputeBlindIndexes({ ...base, modelName: 'Post' })).rejects.toThrow(/Post has no blind index/)
    await expect(recomputeBlindIndexes({ ...base, modelName: 'User', indexes: ['email'] })).rejects.toThrow(
      /User\.email is not a blind index/,
    )
    await expect(
      recomputeBlindIndexes({ ...base, modelName: 'User', model: { ...encryptionModel, provider: 'mysql' } as never }),
    ).rejects.toThrow(/`db` speaks PostgreSQL/)
    await expect(recomputeBlindIndexes({ ...base, modelName: 'User', keys: undefined } as never)).rejects.toThrow(
      /needs `encryptor` or `keys`/,
    )
    await expect(recomputeBlindIndexes({ ...base, modelName: 'User', batchSize: 0 })).rejects.toThrow(/batchSize/)
  })
})
