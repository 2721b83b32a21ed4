/**
 * Per-field cost of the envelope format against the least an encrypted-string column must do.
 *
 *   npx tsx bench/field-cipher.bench.ts [--check]
 *   (BENCH_ROUNDS=n: round count; BENCH_ONLY=regex: only matching cases; --check: exit 1 on a miss)
 *
 * Subject: EnvelopeEncryptor with a LocalKeyProvider and a warm data-key cache, one field.
 * Baseline: raw node:crypto AES-256-GCM on the same inputs and the same field binding as AAD:
 * a random 12-byte IV, createCipheriv, base64url(iv | ciphertext | tag); decryption the reverse.
 * Both single calls (`await encryptor.encrypt(v, ctx)`, what an application calls by hand) and
 * batches of 1,000 (`encryptMany`, what the Prisma extension does per query) are measured; all
 * figures are microseconds per value, each side the median of interleaved rounds.
 */
import { randomBytes } from 'node:crypto'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor, type FieldValue } from '../src/engine/envelope-encryptor'
import { LocalKeyProvider } from '../src/keys/local-key-provider'
import { RawAesGcm } from './support/raw-aes-gcm'
import { describeMachine, envInt, exitOnMiss, interleave, microsPerOp, printRatioTable, type RatioRow } from './support/measure'

const TARGET = 1.3
const ROUNDS = envInt('BENCH_ROUNDS', 11)
/** BENCH_ONLY=regex runs only the matching cases (e.g. for profiling one path). */
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined
const BATCH = 1000
const SIZES = [
  { label: '24 B', chars: 24, singleIterations: 20_000, batchRepeats: 20 },
  { label: '1 KB', chars: 1024, singleIterations: 10_000, batchRepeats: 10 },
]

const ctx = fieldContext('User', 'email', 'users', 'email')
const raw = new RawAesGcm(ctx.aadSuffix)
const rawEncrypt = (plaintext: string) => raw.encrypt(plaintext)
const rawDecrypt = (stored: string) => raw.decrypt(stored)

/** A fresh flat copy of an ASCII string, as a driver builds it from the bytes it received. */
function asReadFromDatabase(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1')
}

/** Printable ASCII, so the byte size equals the character count. */
function randomText(chars: number): string {
  const bytes = randomBytes(chars)
  let s = ''
  for (let i = 0; i < chars; i++) s += String.fromCharCode(0x21 + (bytes[i]! % 94))
  return s
}

async function main(): Promise<void> {
  const encryptor = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() }) })
  const rows: RatioRow[] = []

  for (const size of SIZES) {
    const values = Array.from({ length: BATCH }, () => randomText(size.chars))
    const items: FieldValue[] = values.map((value) => ({ value, ctx }))
    // Decryption reads what a database driver hands back: flat strings (encryptMany returns
    // concatenations, which V8 would flatten on first use, inside the timed region).
    const stored = ((await encryptor.encryptMany(items)) as string[]).map(asReadFromDatabase)
    const storedItems: FieldValue[] = stored.map((value) => ({ value, ctx }))
    const rawStored = values.map(rawEncrypt).map(asReadFromDatabase)

    // Both sides must be correct before they are timed.
    const back = await encryptor.decryptMany(storedItems)
    if (back.some((v, i) => v !== values[i]) || rawStored.some((s, i) => rawDecrypt(s) !== values[i])) throw new Error('round trip failed')

    let n = 0
    const next = () => (n = (n + 1) % BATCH)
    const cases: Array<{ name: string; iterations: number; perOp: number; baseline: () => unknown; subject: () => unknown }> = [
      {
        name: `encrypt ${size.label}, single`,
        iterations: size.singleIterations,
        perOp: 1,
        baseline: () => rawEncrypt(values[next()]!),
        subject: () => encryptor.encrypt(values[next()]!, ctx),
      },
      {
        name: `decrypt ${size.label}, single`,
        iterations: size.singleIterations,
        perOp: 1,
        baseline: () => rawDecrypt(rawStored[next()]!),
        subject: () => encryptor.decrypt(stored[next()]!, ctx),
      },
      {
        name: `encrypt ${size.label}, batch of ${BATCH}`,
        iterations: size.batchRepeats,
        perOp: BATCH,
        baseline: () => values.map(rawEncrypt),
        subject: () => encryptor.encryptMany(items),
      },
      {
        name: `decrypt ${size.label}, batch of ${BATCH}`,
        iterations: size.batchRepeats,
        perOp: BATCH,
        baseline: () => rawStored.map(rawDecrypt),
        subject: () => encryptor.decryptMany(storedItems),
      },
    ]
    for (const c of cases) {
      if (ONLY && !ONLY.test(c.name)) continue
      // Warm up both paths (JIT, cache) before the measured rounds.
      await microsPerOp(c.baseline, Math.ceil(c.iterations / 4))
      await microsPerOp(c.subject, Math.ceil(c.iterations / 4))
      const samples = await interleave(
        ROUNDS,
        ['baseline', 'subject'],
        async (side) => (await microsPerOp(c[side], c.iterations)) / c.perOp,
      )
      rows.push({ name: c.name, unit: 'µs/value', ...samples, target: TARGET })
    }
  }

  const stats = encryptor.stats()
  console.log(describeMachine(`${ROUNDS} rounds; data keys generated: ${stats.dataKeysGenerated}, unwrapped: ${stats.dataKeysUnwrapped}`))
  const results = printRatioTable(
    'Field cipher: EnvelopeEncryptor (warm cache) vs raw AES-256-GCM',
    { baseline: 'raw', subject: 'encryptor' },
    rows,
  )
  exitOnMiss(results)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
