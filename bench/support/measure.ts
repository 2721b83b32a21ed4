import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'

/**
 * Timing and reporting for the benchmarks. Machines are noisy (CI boxes have 2 cores), so every
 * figure is a ratio against a baseline measured in the same process, interleaved round by round
 * (baseline first in even rounds, subject first in odd ones, so drift hits both alike), and
 * each side is the median of its rounds.
 */

export type Work = () => unknown

/**
 * The clock, in milliseconds. BENCH_CLOCK=cpu uses this process's CPU time (user + system, all
 * threads) instead of wall time: steadier when other jobs share the machine, but blind to work
 * done in another process (a PostgreSQL server), so use it only for in-process work.
 */
export const clock: { name: 'wall' | 'cpu'; now: () => number } =
  process.env.BENCH_CLOCK === 'cpu'
    ? {
        name: 'cpu',
        now: () => {
          const u = process.cpuUsage()
          return (u.user + u.system) / 1000
        },
      }
    : { name: 'wall', now: () => performance.now() }

/** The middle value (mean of the two middle values for an even count). */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new RangeError('no samples')
  const s = [...samples].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Milliseconds one call of `work` takes (awaited if it returns a promise). */
export async function timeOnce(work: Work): Promise<number> {
  const started = clock.now()
  await work()
  return clock.now() - started
}

/**
 * Microseconds per operation: `work` runs `iterations` times in a row (each call awaited when it
 * returns a promise, as an application would). One sample.
 */
export async function microsPerOp(work: Work, iterations: number): Promise<number> {
  const started = clock.now()
  for (let i = 0; i < iterations; i++) {
    const r = work()
    if (r instanceof Promise) await r
  }
  return ((clock.now() - started) * 1000) / iterations
}

/**
 * Runs `sample(side)` for every side in `rounds` rounds and returns every sample by side. The
 * order rotates each round (and reverses every other round), so no side always runs first or
 * right after the same other side. `sample` returns one measurement (any unit, lower is better).
 */
export async function interleave<S extends string>(
  rounds: number,
  sides: readonly S[],
  sample: (side: S) => Promise<number>,
): Promise<Record<S, number[]>> {
  const out = Object.fromEntries(sides.map((s) => [s, [] as number[]])) as Record<S, number[]>
  for (let r = 0; r < rounds; r++) {
    const shift = r % sides.length
    const order = [...sides.slice(shift), ...sides.slice(0, shift)]
    if (r % 2 === 1) order.reverse()
    for (const side of order) out[side].push(await sample(side))
  }
  return out
}

export interface RatioRow {
  name: string
  /** What the numbers are, e.g. "µs/op" or "ms". */
  unit: string
  baseline: readonly number[]
  subject: readonly number[]
  /** Highest acceptable subject/baseline ratio of the medians; none for an informative row. */
  target?: number
}

export interface RatioResult {
  name: string
  baseline: number
  subject: number
  ratio: number
  target: number | undefined
  met: boolean
}

export function ratioOf(row: RatioRow): RatioResult {
  const baseline = median(row.baseline)
  const subject = median(row.subject)
  const ratio = subject / baseline
  return { name: row.name, baseline, subject, ratio, target: row.target, met: row.target === undefined || ratio <= row.target }
}

/** Prints the medians, their ratio and the target as a table; returns the results. */
export function printRatioTable(title: string, labels: { baseline: string; subject: string }, rows: readonly RatioRow[]): RatioResult[] {
  const results = rows.map(ratioOf)
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2))
  const spread = (xs: readonly number[]) => `${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))}`
  const table = [
    [
      'case',
      'unit',
      `${labels.baseline} (median)`,
      `${labels.subject} (median)`,
      'ratio',
      'target',
      '',
      `${labels.baseline} range`,
      `${labels.subject} range`,
    ],
    ...rows.map((row, i) => {
      const r = results[i]!
      const target = r.target === undefined ? '' : `≤ ${r.target}×`
      const status = r.target === undefined ? 'info' : r.met ? 'ok' : 'MISSED'
      return [
        r.name,
        row.unit,
        fmt(r.baseline),
        fmt(r.subject),
        `${r.ratio.toFixed(2)}×`,
        target,
        status,
        spread(row.baseline),
        spread(row.subject),
      ]
    }),
  ]
  const widths = table[0]!.map((_, c) => Math.max(...table.map((line) => line[c]!.length)))
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')
  console.log(`\n${title}`)
  console.log(line(table[0]!))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const row of table.slice(1)) console.log(line(row))
  return results
}

/** One line on where the numbers come from. */
export function describeMachine(extra = ''): string {
  const cpu = cpus()
  return `node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? 'unknown cpu'}, ${clock.name} clock${extra ? `, ${extra}` : ''}`
}

/** With `--check` on the command line, a missed target makes the process exit with status 1. */
export function exitOnMiss(results: readonly RatioResult[]): void {
  if (process.argv.includes('--check') && results.some((r) => !r.met)) process.exitCode = 1
}

/** A positive integer from the environment, or the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive integer`)
  return n
}
