/**
 * `npm run demo`: the whole story on this machine, no server and no cloud. An in-process
 * PostgreSQL (PGlite), a local master key, the schema's SQL from prisma/migrations, then what the
 * application reads next to what the table really holds.
 */
import { PGlite } from '@electric-sql/pglite'
import { PrismaPGlite } from 'pglite-prisma-adapter'
import { CreateAliasCommand, CreateKeyCommand } from '@aws-sdk/client-kms'
import { AwsKmsKeyProvider, EnvelopeEncryptor, fieldEncryption, LocalKeyProvider } from '../src'
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
  console.log(`   master key: ${fromEnv ? 'KFE_LOCAL_MASTER_KEY' : 'a fresh random key for this run (set KFE_LOCAL_MASTER_KEY to keep one)'}`)

  const encryptor = new EnvelopeEncryptor({ keys })
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) }).$extends(
    fieldEncryption({ model: encryptionModel, encryptor }),
  )

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
    data: Array.from({ length: ROWS - 1 }, (_, i) => ({ email: `user${i}@example.com`, phone: `+1 555 01${String(i).padStart(3, '0')}`, tags: [] })),
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
  console.log(`   prisma.user.findFirst({ where: { email: '  ADA@example.com' } }) → user ${found?.id} (blind index, normalised: trim + lowercase)`)
  try {
    await prisma.user.findMany({ where: { email: { contains: 'ada' } } })
  } catch (err) {
    console.log(`   prisma.user.findMany({ where: { email: { contains: 'ada' } } }) → refused: ${(err as { code: string }).code}`)
  }

  heading('4. What the table really holds (raw SQL, bypassing Prisma): ciphertext')
  const raw = await db.query<{ email: string; email_index: string; phone: string; tags: string[] }>('SELECT email, email_index, phone, tags FROM users ORDER BY id LIMIT 1')
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
  console.log(`   rows written: ${ROWS} users, 1 post, 1 profile; values encrypted: ${stats.valuesEncrypted}, decrypted: ${stats.valuesDecrypted}`)
  console.log(`   data keys generated: ${stats.dataKeysGenerated}, data keys unwrapped: ${stats.dataKeysUnwrapped}`)
  console.log(`   cache: ${JSON.stringify(stats.cache)}`)

  await prisma.$disconnect()
  await kmsStory(db)
  await db.close()
}

/**
 * The same application on AWS KMS: the real @aws-sdk/client-kms talks HTTP to a KMS-compatible
 * server running in this process (tests/support/kms-test-server.ts), 5 ms per call.
 */
async function kmsStory(db: PGlite): Promise<void> {
  heading('7. The same with AWS KMS: envelope keys and the data-key cache')
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
    server.resetCounts()
    const started = performance.now()
    const writer = clientWith(cache)
    const ids: number[] = []
    for (let i = 0; i < N; i++) ids.push((await writer.user.create({ data: { email: `kms${i}@example.com` }, select: { id: true } })).id)
    const reader = clientWith(cache) // another process: a cold cache
    for (const id of ids) await reader.user.findUnique({ where: { id } })
    report(cache === false ? 'cache off' : 'default cache', performance.now() - started)
    await writer.$disconnect()
    await reader.$disconnect()
    await db.exec('DELETE FROM users')
  }
  console.log('   (with the cache: one GenerateDataKey per data key, one Decrypt per data key and per blind-index root key)')
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
