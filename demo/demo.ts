/**
 * `npm run demo`: the whole story on this machine, no server and no cloud. An in-process
 * PostgreSQL (PGlite), a local master key, the schema's SQL from prisma/migrations, then what the
 * application reads next to what the table really holds.
 */
import { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms'
import {
  AwsKmsKeyProvider,
  encryptColumns,
  encryptionStatus,
  EnvelopeEncryptor,
  fieldEncryption,
  LocalKeyProvider,
  pgliteDatabase,
  type EncryptorStats,
} from '../src'
import { renderMigrationSummary, renderStatus, renderTable } from '../src/cli/summary-table'
import { KmsTestServer, kmsClientFor } from '../tests/support/kms-test-server'
import { applyMigrations } from '../prisma/apply-migrations'
import { PrismaClient } from '../prisma/generated/client/client'
import { encryptionModel } from '../prisma/generated/encryption'

const ROWS = 200

function heading(text: string): void {
  console.log(`\n\x1b[1m${text}\x1b[0m`)
}

function shorten(value: unknown, width = 72): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  if (text.length <= width) return text
  const tail = Math.floor(width / 2)
  return `${text.slice(0, width - tail - 1)}…${text.slice(-tail)} (${text.length} chars)`
}

async function main(): Promise<void> {
  heading('1. An embedded PostgreSQL and a local master key')
  const db = new PGlite()
  await applyMigrations((sql) => db.exec(sql))
  const fromEnv = Boolean(process.env.KFE_LOCAL_MASTER_KEY)
  const keys = fromEnv ? LocalKeyProvider.fromEnv() : new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  console.log(`   database: PGlite (in-process), schema from prisma/migrations`)
  console.log(
    `   master key: ${fromEnv ? 'KFE_LOCAL_MASTER_KEY' : 'a fresh random key for this run (set KFE_LOCAL_MASTER_KEY to keep one)'}`,
  )

  const encryptor = new EnvelopeEncryptor({ keys })
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) }).$extends(fieldEncryption({ model: encryptionModel, encryptor }))

  heading('2. The application writes users with nested posts, as it always did')
  const ada = await prisma.user.create({
    data: {
      email: 'ada@example.com',
      phone: '+44 20 7946 0958',
      name: 'Ada',
      tags: ['admin', 'founder'],
      posts: { create: [{ title: 'Notes on the Engine', body: 'The engine weaves algebraic patterns.' }] },
      profile: { create: { bio: 'Mathematician; writes the first program.' } },
    },
  })
  console.log(`   prisma.user.create({ data: { email: 'ada@example.com', posts: { create: [...] }, profile: { create: ... } } })`)
  await prisma.user.createMany({
    data: Array.from({ length: ROWS - 1 }, (_, i) => ({
      email: `user${i}@example.com`,
      phone: `+1 555 01${String(i).padStart(3, '0')}`,
      tags: [],
    })),
  })
  console.log(`   prisma.user.createMany(...) ${ROWS - 1} more users`)

  heading('3. What the application reads: plaintext')
  const read = await prisma.user.findUnique({ where: { id: ada.id }, include: { posts: true, profile: true } })
  console.log(`   email   ${read?.email}`)
  console.log(`   phone   ${read?.phone}`)
  console.log(`   tags    ${JSON.stringify(read?.tags)}`)
  console.log(`   post    ${read?.posts[0]?.body}`)
  console.log(`   profile ${read?.profile?.bio}`)
  const all = await prisma.user.findMany()
  console.log(`   prisma.user.findMany() → ${all.length} users, e.g. ${all[1]?.email}`)
  const found = await prisma.user.findFirst({ where: { email: '  ADA@example.com' } })
  console.log(
    `   prisma.user.findFirst({ where: { email: '  ADA@example.com' } }) → user ${found?.id} (blind index, normalised: trim + lowercase)`,
  )
  try {
    await prisma.user.findMany({ where: { email: { contains: 'ada' } } })
  } catch (err) {
    console.log(`   prisma.user.findMany({ where: { email: { contains: 'ada' } } }) → refused: ${(err as { code: string }).code}`)
  }

  heading('4. What the table really holds (raw SQL, bypassing Prisma): ciphertext')
  const raw = await db.query<{ email: string; email_index: string; phone: string; tags: string[] }>(
    'SELECT email, email_index, phone, tags FROM users ORDER BY id LIMIT 1',
  )
  const post = await db.query<{ body: string }>('SELECT body FROM posts LIMIT 1')
  console.log(`   users.email  ${shorten(raw.rows[0]?.email)}`)
  console.log(`   users.email_index  ${raw.rows[0]?.email_index}  (HMAC-SHA256 blind index)`)
  console.log(`   users.phone  ${shorten(raw.rows[0]?.phone)}`)
  console.log(`   users.tags   [${raw.rows[0]?.tags.map((t) => shorten(t, 30)).join(', ')}]`)
  console.log(`   posts.body   ${shorten(post.rows[0]?.body)}`)
  const leaked = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE email LIKE '%@example.com'`)
  console.log(`   rows whose stored email contains '@example.com': ${leaked.rows[0]?.n}`)

  heading('5. Tampering is detected')
  const victim = ada.id + 1
  await db.query(`UPDATE users SET phone = overlay(phone placing 'A' from 200 for 1) WHERE id = $1`, [victim])
  await db.query(`UPDATE users SET email = phone WHERE id = $1`, [victim + 1])
  const attempts: Array<[string, number]> = [
    ['one character of users.phone changed', victim],
    ['users.phone copied into users.email', victim + 1],
  ]
  for (const [what, id] of attempts) {
    try {
      await prisma.user.findUnique({ where: { id } })
      console.log(`   ${what}: read without error (unexpected)`)
    } catch (err) {
      const e = err as { code?: string; message: string }
      console.log(`   ${what}: ${e.code}\n      ${e.message}`)
    }
  }

  heading('6. Key usage')
  const stats = encryptor.stats()
  console.log(
    `   rows written: ${ROWS} users, 1 post, 1 profile; values encrypted: ${stats.valuesEncrypted}, decrypted: ${stats.valuesDecrypted}`,
  )
  console.log(indent(renderTable(['encryptor.stats()', 'value'], statsRows(stats))))

  await prisma.$disconnect()
  await migrationStory()
  await kmsStory(db)
  await db.close()
}

const STAT_LABELS: Record<string, string> = {
  dataKeysGenerated: 'data keys generated (one KMS/master-key call each)',
  dataKeysUnwrapped: 'data keys unwrapped',
  providerFailures: 'key provider failures',
  valuesEncrypted: 'values encrypted',
  valuesDecrypted: 'values decrypted',
  'cache.encryptionHits': 'cache: writes served by a cached data key',
  'cache.encryptionMisses': 'cache: writes that needed a new data key',
  'cache.decryptionHits': 'cache: reads served by a cached unwrapped key',
  'cache.decryptionMisses': 'cache: reads that needed an unwrap',
  'cache.decryptionKeysHeld': 'cache: unwrapped keys held now',
}

/** `encryptor.stats()` as table rows (nested counters flattened; unknown ones by their name). */
function statsRows(stats: EncryptorStats): Array<[string, number]> {
  const rows: Array<[string, number]> = []
  const walk = (obj: object, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k
      if (typeof v === 'number') rows.push([STAT_LABELS[key] ?? key, v])
      else if (v && typeof v === 'object') walk(v as object, key)
    }
  }
  walk(stats, '')
  return rows
}

function indent(text: string, by = '   '): string {
  return text
    .split('\n')
    .map((l) => (l ? by + l : l))
    .join('\n')
}

/**
 * Existing rows: a table the application filled before it used the library. The extension with
 * `readPlaintext: true` reads them as they are while `encrypt` (here the exported function the
 * CLI runs) moves them, in batches, with compare-and-set writes.
 */
async function migrationStory(): Promise<void> {
  heading('7. Existing rows: plaintext → status → encrypt → status --check')
  const db = new PGlite()
  await applyMigrations((sql) => db.exec(sql))
  await db.exec(
    `INSERT INTO users (email, phone, tags) SELECT 'old' || g || '@example.com', '+1 555 ' || lpad(g::text, 4, '0'), ARRAY['legacy'] FROM generate_series(1, 5000) g`,
  )
  console.log('   5,000 users written before the library: plaintext email, phone and tags, no blind index')
  const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  const app = new PrismaClient({ adapter: new PrismaPGlite(db) }).$extends(
    fieldEncryption({ model: encryptionModel, keys, readPlaintext: true }),
  )
  const first = await app.user.findFirst({ orderBy: { id: 'asc' } })
  console.log(`   the application, deployed with readPlaintext: true, still reads them: ${first?.email}`)

  const database = pgliteDatabase(db, { description: 'the demo PGlite' })
  const only = { model: encryptionModel, keys, database, models: ['User'] }
  console.log('\n   encryptionStatus()  (npx kms-field-encryption status)')
  console.log(indent(renderStatus(await encryptionStatus(only)), '     '))
  console.log('\n   encryptColumns()  (npx kms-field-encryption encrypt)')
  console.log(indent(renderMigrationSummary(await encryptColumns(only), encryptionModel), '     '))
  const after = await encryptionStatus(only)
  console.log(`\n   encryptionStatus() again  (npx kms-field-encryption status --check: exit ${after.complete ? 0 : 1})`)
  console.log(indent(renderStatus(after), '     '))
  const raw = await db.query<{ email: string }>('SELECT email FROM users ORDER BY id LIMIT 1')
  const found = await app.user.findFirst({ where: { email: 'OLD1@example.com' } })
  console.log(`\n   stored now: ${shorten(raw.rows[0]?.email)}; lookup by email: user ${found?.id}; then deploy without readPlaintext`)
  await app.$disconnect()
  await db.close()
}

/**
 * The same application on AWS KMS: the real @aws-sdk/client-kms talks HTTP to a KMS-compatible
 * server running in this process (tests/support/kms-test-server.ts), 5 ms per call.
 */
async function kmsStory(db: PGlite): Promise<void> {
  heading('8. The same with AWS KMS: envelope keys and the data-key cache')
  const server = new KmsTestServer()
  const { endpoint } = await server.start()
  try {
    await kmsWorkload(db, server, endpoint)
  } finally {
    await server.stop()
  }
}

async function kmsWorkload(db: PGlite, server: KmsTestServer, endpoint: string): Promise<void> {
  server.latencyMs = 5
  const client = kmsClientFor(endpoint)
  const keyId = (await client.send(new CreateKeyCommand({ Description: 'demo' }))).KeyMetadata!.KeyId!
  await client.send(new CreateAliasCommand({ AliasName: 'alias/demo-pii', TargetKeyId: keyId }))
  const wrappedBlindIndexRootKey = await AwsKmsKeyProvider.generateWrappedRootKey({ keyId: 'alias/demo-pii', client })
  const kmsKeys = () => new AwsKmsKeyProvider({ keyId: 'alias/demo-pii', client, wrappedBlindIndexRootKey })
  const clientWith = (cache?: false) =>
    new PrismaClient({ adapter: new PrismaPGlite(db) }).$extends(fieldEncryption({ model: encryptionModel, keys: kmsKeys(), cache }))
  console.log(`   KMS key alias/demo-pii at ${endpoint} (the real AWS SDK on the wire), 5 ms per call`)
  await db.exec('DELETE FROM users')

  const N = 1000
  const rows = (): string => `${String(N).padStart(5)} creates + ${String(N).padStart(5)} reads`
  const report = (label: string, ms: number) =>
    console.log(
      `   ${label.padEnd(24)} ${rows()}: GenerateDataKey ${String(server.calls.GenerateDataKey).padStart(5)}, Decrypt ${String(server.calls.Decrypt).padStart(5)}, ${(ms / 1000).toFixed(2)} s`,
    )

  for (const cache of [undefined, false] as const) {
    const label = cache === false ? 'cache off' : 'default cache'
    if (cache === false) console.log(`   ${label}: every create and every read calls KMS (5 ms each, plus HTTP), ~20-30 s…`)
    server.resetCounts()
    const started = performance.now()
    const progress = new DemoProgress(
      label,
      2 * N,
      () => `GenerateDataKey ${server.calls.GenerateDataKey}, Decrypt ${server.calls.Decrypt}`,
    )
    const writer = clientWith(cache)
    const ids: number[] = []
    for (let i = 0; i < N; i++) {
      ids.push((await writer.user.create({ data: { email: `kms${i}@example.com` }, select: { id: true } })).id)
      progress.tick()
    }
    const reader = clientWith(cache) // another process: a cold cache
    for (const id of ids) {
      await reader.user.findUnique({ where: { id } })
      progress.tick()
    }
    progress.done()
    report(label, performance.now() - started)
    await writer.$disconnect()
    await reader.$disconnect()
    await db.exec('DELETE FROM users')
  }
  console.log('   (with the cache: one GenerateDataKey per data key, one Decrypt per data key and per blind-index root key)')
}

/**
 * Progress of a long step: on a terminal one line redrawn in place, otherwise a line every 5 s;
 * so a step that takes half a minute never looks hung.
 */
class DemoProgress {
  private done_ = 0
  private readonly started = performance.now()
  private last = performance.now()
  private printed = false
  private readonly tty = Boolean(process.stdout.isTTY)

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly extra: () => string,
  ) {}

  tick(): void {
    this.done_++
    const now = performance.now()
    if (now - this.last < (this.tty ? 200 : 5000)) return
    this.last = now
    this.printed = true
    const seconds = (now - this.started) / 1000
    const rate = this.done_ / seconds
    const line = `   ${this.label}: ${this.done_}/${this.total} queries, ${Math.round(rate)}/s, ETA ${Math.ceil((this.total - this.done_) / rate)} s, ${this.extra()}`
    if (this.tty) process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns || 80) - 1)}`)
    else console.log(line)
  }

  done(): void {
    if (this.tty && this.printed) process.stdout.write('\r\x1b[2K')
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
