/** What one progress line shows. */
export interface ProgressState {
  label: string
  done: number
  total: number
  /** Rows per second of this run. */
  rate: number
  /** Seconds left; undefined when unknown (no rate yet). */
  etaSeconds: number | undefined
  failed: number
}

const MIN_BAR = 6
const MAX_BAR = 40

/**
 * One progress line that fits in `width` columns: the numbers first (rows, percentage, rate,
 * ETA, failures), then a bar that takes the room left (and disappears below a few cells). At 80
 * columns the label, rows, rate and ETA all show; on narrower terminals the label is shortened,
 * then the least useful numbers go.
 */
export function formatProgressLine(s: ProgressState, width: number): string {
  const pct = s.total > 0 ? Math.min(100, Math.floor((100 * s.done) / s.total)) : 100
  const numbers = [
    `${s.done}/${s.total} rows`,
    `${String(pct).padStart(3)}%`,
    `${compact(s.rate)} rows/s`,
    `ETA ${s.etaSeconds === undefined ? '--' : clock(s.etaSeconds)}`,
    ...(s.failed > 0 ? [`${s.failed} failed`] : []),
  ]
  // Shorten the label first (down to 12 characters), then drop the percentage, the rate, the ETA
  // (rows and failures always stay).
  const room = (parts: readonly string[]): number => width - 1 - parts.join('  ').length - 2 // one spare column, two before the numbers
  const want = Math.min(s.label.length, 12)
  let shown = numbers
  for (const drop of ['%', ' rows/s', 'ETA ']) {
    if (room(shown) >= want) break
    shown = shown.filter((n) => !(drop === 'ETA ' ? n.startsWith(drop) : n.endsWith(drop)))
  }
  const text = shown.join('  ')
  const shownLabel = fitLabel(s.label, room(shown))
  const line = shownLabel ? `${shownLabel}  ${text}` : text
  const barRoom = width - 1 - line.length - 3 // ' |' + '|'
  if (barRoom < MIN_BAR) return line.slice(0, Math.max(0, width - 1))
  const cells = Math.min(MAX_BAR, barRoom)
  const filled = s.total > 0 ? Math.min(cells, Math.round((cells * s.done) / s.total)) : cells
  return `${line} |${'█'.repeat(filled)}${'░'.repeat(cells - filled)}|`
}

function fitLabel(label: string, room: number): string {
  if (label.length <= room) return label
  if (room < 4) return ''
  return `${label.slice(0, room - 1)}…`
}

/** 950, 12.3k, 4.5M: rates stay short. */
export function compact(n: number): string {
  const r = Math.round(n)
  if (r < 10_000) return String(r)
  if (r < 1_000_000) return `${(r / 1000).toFixed(r < 100_000 ? 1 : 0)}k`
  return `${(r / 1_000_000).toFixed(1)}M`
}

/** 42s, 3m05s, 2h10m. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
}
