/**
 * What the extension costs through Prisma, against the same workload on a plain client.
 *
 *   npx tsx bench/prisma-roundtrip.bench.ts [--check]                 (in-process PGlite)
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test npx tsx bench/prisma-roundtrip.bench.ts
 *   (BENCH_ROUNDS=n: rounds, default 7; BENCH_ONLY=create|findMany: one half; BENCH_FORMAT=v2:
 *    Patient rows in stored format version 2, see SHAPE below; --check: exit 1 on a missed target)
 *
 * Needs `npm run generate` first (the test schema's client and encryption model). One database,
 * one schema, the same plaintexts: `User` rows with two encrypted fields (email, phone) and a
 * plain one (name). Three clients, interleaved round by round:
 *   plain      the Prisma client without the extension, storing the plaintext;
 *   encrypted  the same client with fieldEncryption() (LocalKeyProvider, warm data-key cache);
 *   by hand    the plain client, the application encrypting and decrypting the two fields with
 *              raw node:crypto AES-256-GCM itself (bench/support/raw-aes-gcm.ts): the floor of
 *              any field encryption in this workload, shown for information.
 * When the schema gives email a blind index (User.emailIndex), the encrypted client fills it
 * (HMAC-SHA256); plain writes a unique value of the same size there and by hand the HMAC, so
 * that every client asks the database for the same work (same unique index, same row sizes but
 * for the ciphertexts).
 * For findMany, a fourth reader, the plain client reading the extension's rows undecrypted,
 * shows what the bigger stored values alone cost (row "envelopes undecrypted vs plain").
 * When the native AES-GCM addon is loaded (src/cipher/native-aead.ts), a fourth client, "node:crypto",
 * is the same extension loaded a second time with KFE_NATIVE=0 (support/node-crypto-library.ts):
 * both backends in one run. BENCH_KEYS=kms: data keys from AWS KMS (the in-process KMS test
 * server, real SDK; a longer header, ~390 characters) instead of the LocalKeyProvider; the warm
 * cache makes KMS calls rare either way.
 * Workloads:
 *   create:   1,000 sequential `user.create` returning the row (each encrypts two values; the
 *             row comes back with the plaintexts, which the extension and the by-hand client
 *             both know without decrypting);
 *   findMany: one `user.findMany` of 10,000 rows (20,000 values to decrypt), by an id range so
 *             that each client reads back only rows it wrote, ordered by id.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { CreateKeyCommand } from '@aws-sdk/client-kms'
import { aeadBackend } from '../src/cipher/native-aead'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import type { KeyProvider } from '../src/keys/key-provider'
import { LocalKeyProvider } from '../src/keys/local-key-provider'
import { fieldEncryption } from '../src/prisma/extension'
import { KmsTestServer, kmsClientFor } from '../tests/support/kms-test-server'
import { createTestDatabase } from '../tests/support/test-database'
import { encryptionModel } from '../tests/support/test-encryption-model'
import { fieldEncryptionOnNodeCrypto } from './support/node-crypto-library'
import { clock, describeMachine, envInt, exitOnMiss, interleave, printRatioTable, timeOnce, type RatioRow } from './support/measure'
import { RawAesGcm } from './support/raw-aes-gcm'

const ROUNDS = envInt('BENCH_ROUNDS', 7)
const ONLY = process.env.BENCH_ONLY
const CREATES = 1000
const ROWS = 10_000
const CREATE_TARGET = 1.15
const FIND_MANY_TARGET = 1.5 // on a PostgreSQL server; 1.3 on the embedded PGlite (no network)
const FIND_MANY_TARGET_PGLITE = 1.3

const KEYS = process.env.BENCH_KEYS === 'kms' ? 'kms' : 'local'

/**
 * BENCH_FORMAT=v2: the same workload on `Patient` (name, ssn), whose fields have `@keyHeader`
 * columns: short values (stored format version 2), key headers left out of warm reads. Default
 * v1: `User` (email, phone), the data key's header inside every value.
 */
const FORMAT = process.env.BENCH_FORMAT === 'v2' ? 'v2' : 'v1'
const SHAPE =
  FORMAT === 'v2'
    ? { model: 'Patient', delegate: 'patient', table: 'patients', a: 'name', b: 'ssn', other: 'note', prefix: '$kf2$' }
    : { model: 'User', delegate: 'user', table: 'users', a: 'email', b: 'phone', other: 'name', prefix: '$kfe$' }

type Side = 'plain' | 'encrypted' | 'byHand' | 'nodeCrypto'
const BOTH_BACKENDS = aeadBackend() === 'native'
const SIDES: readonly Side[] = BOTH_BACKENDS ? ['plain', 'encrypted', 'nodeCrypto', 'byHand'] : ['plain', 'encrypted', 'byHand']

/** One row's plaintexts: `a` and `b` go to the two encrypted fields, `other` to a plain one. */
interface UserData {
  a: string
  b: string
  other: string
}
type Row = { id: number } & Record<string, unknown>

/** The part of a Prisma user delegate used here (the plain and the extended client alike). */
interface UserDelegate {
  create(args: { data: Record<string, unknown> }): Promise<Row>
  createMany(args: { data: Array<Record<string, unknown>> }): Promise<{ count: number }>
  findMany(args: { where: { id: { gte: number; lte: number } }; orderBy: { id: 'asc' }; omit?: Record<string, true> }): Promise<Row[]>
  aggregate(args: { _max: { id: true } }): Promise<{ _max: { id: number | null } }>
}

let serial = 0

/** Plaintexts of realistic size: a unique 24-character e-mail address, a 16-character phone number. */
function userData(count: number): UserData[] {
  const run = randomBytes(3).toString('hex') // unique across runs on a shared server schema too
  return Array.from({ length: count }, () => {
    const n = serial++
    return { a: `u${run}.${String(n).padStart(7, '0')}@mail.com`, b: `+44 20 ${String(n).padStart(9, '0')}`, other: 'bench' }
  })
}

/** Blind indexes the schema computes from the model's encrypted fields (filled by the extension). */
const emailIndexes = Object.values(
  (encryptionModel.models[SHAPE.model as 'User'] as { blindIndexes?: Record<string, { name: string; source: string }> }).blindIndexes ?? {},
).filter((b) => b.source === SHAPE.a || b.source === SHAPE.b)

async function main(): Promise<void> {
  if (process.env.DATABASE_URL && clock.name === 'cpu') throw new Error('BENCH_CLOCK=cpu cannot see the work of a PostgreSQL server')
  const db = await createTestDatabase()
  const kms = KEYS === 'kms' ? new KmsTestServer() : undefined
  try {
    let keys: KeyProvider
    if (kms) {
      const client = kmsClientFor((await kms.start()).endpoint)
      const keyId = (await client.send(new CreateKeyCommand({ Description: 'bench' }))).KeyMetadata!.KeyId!
      keys = new AwsKmsKeyProvider({
        keyId,
        client,
        wrappedBlindIndexRootKey: await AwsKmsKeyProvider.generateWrappedRootKey({ keyId, client }),
      })
    } else keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
    const extended = db.prisma.$extends(fieldEncryption({ model: encryptionModel, keys }))
    const delegate = (c: unknown) => (c as Record<string, UserDelegate>)[SHAPE.delegate]!
    const plain = delegate(db.prisma)
    const encrypted = delegate(extended)
    const onNodeCrypto = BOTH_BACKENDS
      ? delegate(db.prisma.$extends(fieldEncryptionOnNodeCrypto()({ model: encryptionModel, keys })))
      : encrypted
    const email = new RawAesGcm(Buffer.from(`${SHAPE.table}\u0000${SHAPE.a}`))
    const phone = new RawAesGcm(Buffer.from(`${SHAPE.table}\u0000${SHAPE.b}`))
    const indexKey = randomBytes(32)

    /**
     * What the plain and by-hand clients write in the blind index columns: a unique value of the
     * extension's size ("v1:" + 43 characters); by hand, the HMAC the extension computes too.
     */
    const indexColumns = (d: UserData, byHand: boolean): Record<string, string> => {
      return Object.fromEntries(
        emailIndexes.map((b) => {
          const source = b.source === SHAPE.a ? d.a : d.b
          const mac = byHand
            ? createHmac('sha256', indexKey).update(source.trim().toLowerCase()).digest('base64url')
            : source.padEnd(43, '=')
          return [b.name, `v1:${mac}`]
        }),
      )
    }
    const fields = (d: UserData) => ({ [SHAPE.a]: d.a, [SHAPE.b]: d.b, [SHAPE.other]: d.other })
    const toWrite: Record<Side, (d: UserData) => Record<string, unknown>> = {
      plain: (d) => ({ ...fields(d), ...indexColumns(d, false) }),
      encrypted: (d) => fields(d),
      nodeCrypto: (d) => fields(d),
      byHand: (d) => ({ [SHAPE.other]: d.other, [SHAPE.a]: email.encrypt(d.a), [SHAPE.b]: phone.encrypt(d.b), ...indexColumns(d, true) }),
    }
    /** Turns a row read back into plaintext (by hand: decrypt the two fields). */
    const readBack: Record<Side, (r: Row) => void> = {
      plain: () => {},
      encrypted: () => {},
      nodeCrypto: () => {},
      byHand: (r) => {
        r[SHAPE.a] = email.decrypt(r[SHAPE.a] as string)
        if (r[SHAPE.b] !== null) r[SHAPE.b] = phone.decrypt(r[SHAPE.b] as string)
      },
    }
    /** Turns the row a create returns into plaintext (by hand: the plaintexts just written). */
    const created: Record<Side, (r: Row, d: UserData) => void> = {
      plain: () => {},
      encrypted: () => {},
      nodeCrypto: () => {},
      byHand: (r, d) => {
        r[SHAPE.a] = d.a
        r[SHAPE.b] = d.b
      },
    }
    const client: Record<Side, UserDelegate> = { plain, encrypted, nodeCrypto: onNodeCrypto, byHand: plain }

    // Sanity: the extension really encrypts, and every side reads back the plaintext.
    for (const side of SIDES) {
      const [probe] = userData(1)
      const row = await client[side].create({ data: toWrite[side](probe!) })
      readBack[side](row)
      const [stored] = await db.sql<{ v: string }>(`SELECT ${SHAPE.a} AS v FROM ${SHAPE.table} WHERE id = $1`, [row.id])
      if (row[SHAPE.a] !== probe!.a || stored!.v.startsWith(SHAPE.prefix) !== (side === 'encrypted' || side === 'nodeCrypto'))
        throw new Error(`${side}: bad round trip`)
    }

    const rows: RatioRow[] = []
    const compare = (what: string, unit: string, samples: Record<Side, number[]>, target: number) => {
      const backend = BOTH_BACKENDS ? ' (native AES-GCM)' : ''
      rows.push({ name: `${what}: encrypted${backend} vs plain`, unit, baseline: samples.plain, subject: samples.encrypted, target })
      if (BOTH_BACKENDS) {
        rows.push({ name: `${what}: encrypted (node:crypto) vs plain`, unit, baseline: samples.plain, subject: samples.nodeCrypto })
        rows.push({ name: `${what}: native vs node:crypto`, unit, baseline: samples.nodeCrypto, subject: samples.encrypted })
      }
      rows.push({ name: `${what}: by hand vs plain (floor)`, unit, baseline: samples.plain, subject: samples.byHand })
      rows.push({ name: `${what}: encrypted vs by hand`, unit, baseline: samples.byHand, subject: samples.encrypted })
    }

    if (ONLY !== 'findMany') {
      const createAll = (side: Side, data: UserData[]) => async () => {
        for (const d of data) created[side](await client[side].create({ data: toWrite[side](d) }), d)
      }
      for (const side of SIDES) await createAll(side, userData(200))() // warm-up
      const samples = await interleave(ROUNDS, SIDES, (side) => timeOnce(createAll(side, userData(CREATES))))
      compare(`${CREATES} sequential create`, 'ms', samples, CREATE_TARGET)
    }

    if (ONLY !== 'create') {
      const ranges = {} as Record<Side, { gte: number; lte: number }>
      const expected = {} as Record<Side, string>
      for (const side of SIDES) {
        const data = userData(ROWS)
        const before = (await plain.aggregate({ _max: { id: true } }))._max.id ?? 0
        await client[side].createMany({ data: data.map(toWrite[side]) })
        ranges[side] = { gte: before + 1, lte: (await plain.aggregate({ _max: { id: true } }))._max.id! }
        expected[side] = data[0]!.a
      }
      // A fourth reader, for the breakdown: the plain client reading the extension's rows as
      // they are stored (envelopes, not decrypted): what the bigger values alone cost.
      type Reader = Side | 'envelopes'
      const readAll = (reader: Reader) => async () => {
        const side: Side = reader === 'envelopes' ? 'encrypted' : reader
        const found = await client[reader === 'envelopes' ? 'plain' : side].findMany({
          where: { id: ranges[side] },
          orderBy: { id: 'asc' },
          // v2: the stored values as a warm read of the extension transfers them, without key headers.
          ...(reader === 'envelopes' && FORMAT === 'v2' ? { omit: { nameKey: true, ssnKey: true, scanKey: true } } : {}),
        })
        if (reader !== 'envelopes') for (const r of found) readBack[side](r)
        const first = found[0]![SHAPE.a] as string
        const ok = reader === 'envelopes' ? first.startsWith(SHAPE.prefix) : first === expected[side]
        if (found.length !== ROWS || !ok) throw new Error(`${reader}: findMany returned wrong rows`)
      }
      const readers: Reader[] = [...SIDES, 'envelopes']
      for (const reader of readers) await readAll(reader)() // warm-up
      const samples = await interleave(ROUNDS, readers, (reader) => timeOnce(readAll(reader)))
      compare(`findMany of ${ROWS} rows`, 'ms', samples, db.kind === 'pglite' ? FIND_MANY_TARGET_PGLITE : FIND_MANY_TARGET)
      rows.push({
        name: `findMany of ${ROWS} rows: envelopes undecrypted vs plain`,
        unit: 'ms',
        baseline: samples.plain,
        subject: samples.envelopes,
      })
    }

    console.log(
      describeMachine(
        `${db.kind}, ${KEYS === 'kms' ? 'AWS KMS (test server)' : 'local'} keys, AES-GCM: ${aeadBackend()}, format ${FORMAT}, ${ROUNDS} rounds, blind indexes: ${emailIndexes.map((b) => b.name).join(', ') || 'none'}`,
      ),
    )
    const results = printRatioTable(
      `Prisma on ${db.kind}: ${SHAPE.model} rows, 2 encrypted fields, format ${FORMAT}`,
      { baseline: 'base', subject: 'subject' },
      rows,
    )
    exitOnMiss(results)
  } finally {
    await db.close()
    await kms?.stop()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
