import type { ColumnSummary, MigrationSummary } from '../migration/migration-summary'
import type { StatusReport } from '../migration/status-report'
import { formatSeconds } from './progress-lines'

/** A plain text table: a header row, then rows; numbers right-aligned. */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const cells = [header.map(String), ...rows.map((r) => r.map(String))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'))
  return cells
    .map((r) =>
      r
        .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** What the summary reads of the encryption model (the generated `as const` one fits). */
interface ModelIndexes {
  readonly models: {
    readonly [model: string]: { readonly blindIndexes: { readonly [index: string]: { readonly source: string } } } | undefined
  }
}

/**
 * The end-of-run summary of encrypt, rotate or decrypt. With the encryption model, `encrypt`
 * also shows the blind indexes it filled (every row it encrypts gets each index of its column).
 */
export function renderMigrationSummary(s: MigrationSummary, model?: ModelIndexes): string {
  const outcomes = [...new Set(s.columns.flatMap((c) => Object.keys(c.counts)))]
  const indexesOf = (c: ColumnSummary): number =>
    Object.values(model?.models[c.model]?.blindIndexes ?? {}).filter((b) => b.source === c.field).length
  const showIndexes = s.operation === 'encrypt' && s.columns.some((c) => indexesOf(c) > 0)
  const filled = (c: ColumnSummary): number =>
    indexesOf(c) * ((c.counts['encrypted'] ?? 0) + (c.counts['converted from prisma-field-encryption'] ?? 0))
  const header = [
    'column',
    'rows',
    ...outcomes,
    ...(showIndexes ? ['blind indexes filled'] : []),
    'failed',
    'conflicts retried',
    'time',
    'rows/s',
  ]
  const rows = s.columns.map((c) => [
    `${c.model}.${c.field}`,
    c.rows,
    ...outcomes.map((o) => c.counts[o] ?? 0),
    ...(showIndexes ? [filled(c)] : []),
    c.failed,
    c.conflicts,
    formatSeconds(c.durationMs / 1000),
    rate(c.rows, c.durationMs),
  ])
  const title = `${s.operation}${s.dryRun ? ' (dry run: nothing was written; counts say what would be done)' : ''} on ${s.database}${s.shard ? `, shard ${s.shard}` : ''}`
  const lines = [title, '', renderTable(header, rows), '']
  const failures = s.columns.flatMap((c) => c.failures.map((f) => ({ c, f })))
  if (failures.length > 0) {
    lines.push('Rows that could not be processed:')
    for (const { c, f } of failures) {
      const keys = f.sampleKeys.map((k) => k.join('/')).join(', ')
      lines.push(`  ${c.model}.${c.field}  ${f.reason}  ${f.count} row${f.count === 1 ? '' : 's'} (e.g. key ${keys}): ${f.message}`)
    }
    lines.push('')
  }
  const rootKey = s.blindIndexRootKey
  if (rootKey && !rootKey.current && rootKey.rewrapped) {
    lines.push(
      `The blind-index root key was wrapped under an older key of '${rootKey.providerId}'. The same root key, wrapped under the current key:`,
      '',
      `  ${rootKey.rewrapped}`,
      '',
      'Deploy it in place of the old value (AwsKmsKeyProvider wrappedBlindIndexRootKey, or KFE_KMS_WRAPPED_ROOT_KEY) before the old',
      'key is disabled; the blind indexes stay as they are (the root key itself did not change).',
      '',
    )
  }
  if (rootKey?.failure)
    lines.push(`The blind-index root key could not be re-wrapped: ${rootKey.failure.message} [${rootKey.failure.reason}]`, '')
  const read = s.columns.reduce((n, c) => n + c.rows, 0)
  const verdict = s.interrupted
    ? 'Interrupted: run the same command again to finish (rows already done are skipped).'
    : s.failed > 0
      ? `${s.failed} row(s) could not be processed; everything else is done. Fix the causes above and run again.`
      : `Done: ${s.written} row(s) ${s.dryRun ? 'would be written' : 'written'} in ${formatSeconds(s.durationMs / 1000)}` +
        `${totalIndexes(s, showIndexes, filled)} (${read} rows read, ${rate(read, s.durationMs)} rows/s overall).`
  lines.push(verdict)
  return lines.join('\n')
}

function rate(rows: number, ms: number): number {
  return ms > 0 ? Math.round((rows * 1000) / ms) : rows
}

function totalIndexes(s: MigrationSummary, show: boolean, filled: (c: ColumnSummary) => number): string {
  if (!show) return ''
  const n = s.columns.reduce((sum, c) => sum + filled(c), 0)
  return `, ${n} blind index value(s) ${s.dryRun ? 'would be filled' : 'filled'}`
}

/** The `status` report. */
export function renderStatus(r: StatusReport): string {
  const anyShredded = r.columns.some((c) => c.shredded > 0)
  const header = [
    'column',
    'rows',
    'null',
    'plaintext',
    'pfe',
    'current',
    'older',
    'unreadable',
    ...(anyShredded ? ['shredded'] : []),
    'blind indexes',
  ]
  const rows = r.columns.map((c) => [
    `${c.model}.${c.field}`,
    c.rows,
    c.null,
    c.plaintext,
    c.prismaFieldEncryption,
    c.current,
    c.older,
    c.unreadable,
    ...(anyShredded ? [c.shredded] : []),
    c.blindIndexes.map((b) => `${b.name}: ${b.current} current, ${b.stale} stale, ${b.missing} missing`).join('; ') || '-',
  ])
  const lines = [
    `status of ${r.database}${r.scope !== undefined ? `, scope '${r.scope}'` : ''}${r.shard ? `, shard ${r.shard}` : ''}`,
    '',
    renderTable(header, rows),
    '',
  ]
  const reasons = r.columns.flatMap((c) => c.unreadableReasons.map((f) => ({ c, f })))
  if (reasons.length > 0) {
    lines.push('Unreadable values:')
    for (const { c, f } of reasons)
      lines.push(
        `  ${c.model}.${c.field}  ${f.reason}  ${f.count} (e.g. key ${f.sampleKeys.map((k) => k.join('/')).join(', ')}): ${f.message}`,
      )
    lines.push('')
  }
  lines.push(r.complete ? 'Complete: every value is encrypted under the current key and every blind index is current.' : nextSteps(r))
  return lines.join('\n')
}

function nextSteps(r: StatusReport): string {
  const sum = (f: (c: StatusReport['columns'][number]) => number): number => r.columns.reduce((n, c) => n + f(c), 0)
  const steps: string[] = []
  if (sum((c) => c.plaintext) > 0) steps.push('`encrypt` for plaintext values')
  if (sum((c) => c.prismaFieldEncryption) > 0) steps.push('`encrypt --from-pfe-key` for prisma-field-encryption values')
  if (sum((c) => c.older + c.blindIndexes.reduce((n, b) => n + b.stale + b.missing, 0)) > 0)
    steps.push('`rotate` for older values and stale or missing blind indexes')
  if (sum((c) => c.shredded) > 0)
    steps.push("nothing for the shredded values: their scope's key was destroyed (delete the rows, null their blind indexes)")
  if (sum((c) => c.unreadable) > 0) steps.push('a look at the unreadable values (wrong or missing key, or altered data)')
  if (r.blindIndexRootKey?.current === false) steps.push('`rotate` to re-wrap the blind-index root key, wrapped under an older key')
  return `Not complete: ${steps.join('; ')}.`
}
