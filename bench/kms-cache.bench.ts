/**
 * What the data-key cache saves against KMS: KMS calls and wall time for N encrypts + N decrypts
 * (single-value calls, one after another) through EnvelopeEncryptor and AwsKmsKeyProvider,
 * against the in-process KMS test server with added latency per call (real SDK on the wire).
 *
 *   npx tsx bench/kms-cache.bench.ts
 *
 * Env: BENCH_N (default 10000), BENCH_N_NO_CACHE (default 1000; 10000 takes ~2.5 min at 5 ms),
 * BENCH_LATENCY_MS (default 5). Cache off runs BENCH_N_NO_CACHE values and is extrapolated
 * linearly to BENCH_N (each value costs the same two KMS round trips). Decryption uses a second
 * encryptor with a cold cache, like another process reading what this one wrote.
 */
import { CreateKeyCommand } from '@aws-sdk/client-kms'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor, type StoredValue } from '../src/engine/envelope-encryptor'
import type { DataKeyCacheOptions } from '../src/keys/data-key-cache'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import { KmsTestServer, kmsClientFor } from '../tests/support/kms-test-server'

const N = intFromEnv('BENCH_N', 10_000)
const N_NO_CACHE = Math.min(N, intFromEnv('BENCH_N_NO_CACHE', 1_000))
const LATENCY_MS = intFromEnv('BENCH_LATENCY_MS', 5)
const ctx = fieldContext('User', 'email', 'users', 'email')

interface Result {
  label: string
  values: number
  generateDataKey: number
  decrypt: number
  encryptMs: number
  decryptMs: number
}

async function main(): Promise<void> {
  const server = new KmsTestServer()
  const { endpoint } = await server.start()
  const client = kmsClientFor(endpoint)
  try {
    const keyId = (await client.send(new CreateKeyCommand({ Description: 'bench' }))).KeyMetadata!.KeyId!
    const provider = new AwsKmsKeyProvider({ keyId, client })
    const run = async (label: string, cache: DataKeyCacheOptions | false, n: number): Promise<Result> => {
      server.resetCounts()
      const writer = new EnvelopeEncryptor({ keys: provider, cache })
      const reader = new EnvelopeEncryptor({ keys: provider, cache })
      const stored: StoredValue[] = new Array(n)
      let t = performance.now()
      for (let i = 0; i < n; i++) stored[i] = await writer.encrypt(`user${i}@example.com`, ctx)
      const encryptMs = performance.now() - t
      t = performance.now()
      for (let i = 0; i < n; i++) {
        if ((await reader.decrypt(stored[i], ctx)) !== `user${i}@example.com`) throw new Error(`value ${i} did not round-trip`)
      }
      const decryptMs = performance.now() - t
      return { label, values: n, generateDataKey: server.calls.GenerateDataKey, decrypt: server.calls.Decrypt, encryptMs, decryptMs }
    }

    // warm up the SDK and the connection (not measured)
    await run('warm-up', false, 20)
    server.latencyMs = LATENCY_MS

    console.log(
      `KMS test server on ${endpoint}, +${LATENCY_MS} ms per KMS call; ${N} encrypts then ${N} decrypts, single-value calls, sequential`,
    )
    const cached = await run('default cache', {}, N)
    process.stdout.write(`cache off: ${N_NO_CACHE} values${N_NO_CACHE < N ? `, extrapolated to ${N}` : ''}...\n`)
    const uncached = await run('cache: false', false, N_NO_CACHE)
    report(cached, uncached)
  } finally {
    client.destroy()
    await server.stop()
  }
}

function report(cached: Result, uncached: Result): void {
  const scale = cached.values / uncached.values
  const rows = [
    row(cached, 1, ''),
    row(uncached, 1, ` (measured, N=${uncached.values})`),
    ...(scale !== 1 ? [row(uncached, scale, ` (extrapolated to N=${cached.values})`)] : []),
  ]
  console.table(rows)
  const calls = (r: Result, k: number): number => (r.generateDataKey + r.decrypt) * k
  const wall = (r: Result, k: number): number => (r.encryptMs + r.decryptMs) * k
  console.log(
    `cache off / default cache at N=${cached.values}: ` +
      `${fmt(calls(uncached, scale) / Math.max(1, calls(cached, 1)))}x KMS calls, ` +
      `${fmt(wall(uncached, scale) / wall(cached, 1))}x wall time` +
      (scale !== 1 ? ' (cache-off side extrapolated)' : ''),
  )
}

function row(r: Result, k: number, note: string): Record<string, string | number> {
  const ops = 2 * r.values
  return {
    run: r.label + note,
    'values (enc+dec)': `${r.values * k}+${r.values * k}`,
    GenerateDataKey: Math.round(r.generateDataKey * k),
    Decrypt: Math.round(r.decrypt * k),
    'encrypt ms': Math.round(r.encryptMs * k),
    'decrypt ms': Math.round(r.decryptMs * k),
    'total s': fmt(((r.encryptMs + r.decryptMs) * k) / 1000),
    'µs / op': fmt(((r.encryptMs + r.decryptMs) * 1000) / ops),
  }
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)
}

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`)
  return n
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
