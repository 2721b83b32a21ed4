import { fieldContext, type FieldContext } from '../cipher/field-context'
import { EnvelopeEncryptor, type EncryptorOptions } from '../engine/envelope-encryptor'
import { BlindIndexRecomputeError, ConfigurationError } from '../errors'
import type { EncryptionModel, ModelDescription } from '../model/encryption-model'
import { blindIndexFieldsOfModel, type BlindIndexField } from './blind-index-field'
import { BlindIndexer, type BlindIndexOptions } from './blind-indexer'
import { sqlDialectFor, type SqlExecutor } from './sql-executor'
import { storedIndexPrefix } from './stored-index-format'

export interface RecomputeBlindIndexesOptions {
  /** Runs SQL on the database (see SqlExecutor for one-line adapters of pg, PGlite and Prisma). */
  db: SqlExecutor
  /** The `encryptionModel` that `prisma generate` wrote. */
  encryptionModel: EncryptionModel | { readonly version: 1; readonly models: object }
  /** The Prisma model whose indexes to recompute (`User`). */
  model: string
  /** Only these index fields of the model (default: all of them). */
  indexes?: readonly string[]
  /** Schema holding the table (default: the connection's search_path). */
  schema?: string
  /** Decrypts the source fields: an encryptor, or the key providers to make one. */
  encryptor?: EnvelopeEncryptor
  keys?: EncryptorOptions['keys']
  /** Pass plaintext sources through (a column that is being encrypted). Only with `keys`. */
  readPlaintext?: boolean
  /** The index configuration the application now runs with (the current version is written). */
  indexer?: BlindIndexer
  blindIndex?: BlindIndexOptions
  /** Rows per batch (default 500). */
  batchSize?: number
  /**
   * Check every row (decrypt and compare), not only the rows whose index is missing or not on the
   * current version. Use it after changing a schema's normalisation without a version bump.
   */
  all?: boolean
  /** Count what would change; write nothing. */
  dryRun?: boolean
  onProgress?: (progress: RecomputeProgress) => void
  /** Stops between batches (the work done so far stays; run again to resume). */
  signal?: AbortSignal
}

export interface RecomputeProgress {
  model: string
  /** Rows read so far. */
  scanned: number
  /** Rows whose index was (or, in a dry run, would be) rewritten. */
  updated: number
  /** Rows read whose index was already right. */
  unchanged: number
  /** Rows changed by someone else between read and write (their writer set the index). */
  skipped: number
}

export type RecomputeResult = RecomputeProgress

/**
 * Recomputes the blind indexes of one model with the current index version: after a change of
 * normalisation or of the root key (a new version, the old one kept in `previous` so filters
 * still find rows meanwhile), or to fill indexes of rows written without the extension.
 *
 * Pages through the table in primary-key order (keyset pagination: every batch costs the same),
 * by default reading only rows whose index is missing or on another version, so an interrupted
 * run resumes where it stopped. Each row is updated by a compare-and-set on its source columns:
 * a row an application changed meanwhile is left alone (its writer already set the index).
 * Knows nothing of Prisma; PostgreSQL only for now.
 */
export async function recomputeBlindIndexes(options: RecomputeBlindIndexesOptions): Promise<RecomputeResult> {
  const model = findModel(options)
  const dialect = sqlDialectFor((options.encryptionModel as EncryptionModel).provider ?? 'postgresql')
  if (!dialect) throw new ConfigurationError(`recomputeBlindIndexes: the ${(options.encryptionModel as EncryptionModel).provider} provider is not supported yet`)
  if (model.primaryKeyColumns.length === 0) throw new ConfigurationError(`${model.name}: the model has no primary key; recompute pages by it`)
  let fields = blindIndexFieldsOfModel(model)
  if (options.indexes?.length) {
    for (const name of options.indexes) {
      if (!fields.some((f) => f.index === name)) throw new ConfigurationError(`${model.name}.${name} is not a blind index (indexes: ${fields.map((f) => f.index).join(', ') || 'none'})`)
    }
    fields = fields.filter((f) => options.indexes!.includes(f.index))
  }
  if (fields.length === 0) throw new ConfigurationError(`${model.name} has no blind index`)
  const batchSize = options.batchSize ?? 500
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigurationError('batchSize must be a positive integer')

  const encryptor = options.encryptor ?? (options.keys ? new EnvelopeEncryptor({ keys: options.keys, readPlaintext: options.readPlaintext }) : undefined)
  if (!encryptor) throw new ConfigurationError('recomputeBlindIndexes needs `encryptor` or `keys` to decrypt the source fields')
  const indexer = options.indexer ?? new BlindIndexer(blindIndexFieldsOfModel(model), { ...options.blindIndex, rootKey: options.blindIndex?.rootKey ?? encryptor.keyRing.primary })
  await indexer.load()

  const q = dialect.quote
  const table = (options.schema ? `${q(options.schema)}.` : '') + q(model.table)
  const pk = model.primaryKeyColumns.map(q)
  const sources = [...new Set(fields.map((f) => f.sourceColumn))]
  const sourceAlias = (column: string) => `s${sources.indexOf(column)}`
  const contexts = new Map<string, FieldContext>(
    fields.map((f) => [f.sourceColumn, fieldContext(model.name, f.source, model.table, f.sourceColumn, 'text')]),
  )
  const select = [
    ...pk.map((c, i) => `${c} AS "k${i}"`),
    ...sources.map((c, i) => `${q(c)} AS "s${i}"`),
    ...fields.map((f, i) => `${q(f.column)} AS "i${i}"`),
  ].join(', ')

  const progress: RecomputeProgress = { model: model.name, scanned: 0, updated: 0, unchanged: 0, skipped: 0 }
  let after: unknown[] | undefined
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('recomputeBlindIndexes was aborted')
    const params: unknown[] = []
    const param = (v: unknown) => (params.push(v), dialect.placeholder(params.length))
    const conditions: string[] = []
    if (after) conditions.push(`(${pk.join(', ')}) > (${after.map(param).join(', ')})`)
    if (!options.all) {
      const prefix = param(`${storedIndexPrefix(indexer.version)}%`)
      conditions.push(
        '(' + fields.map((f) => `((${q(f.sourceColumn)} IS NULL) <> (${q(f.column)} IS NULL) OR ${q(f.column)} NOT LIKE ${prefix})`).join(' OR ') + ')',
      )
    }
    const rows = await options.db.query(
      `SELECT ${select} FROM ${table}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY ${pk.join(', ')} LIMIT ${batchSize}`,
      params,
    )
    if (rows.length === 0) break
    const plaintexts = await decryptSources(encryptor, rows, sources, contexts, model)
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!
      const changes: Array<{ field: BlindIndexField; value: string | null }> = []
      fields.forEach((f, i) => {
        const plain = plaintexts.get(`${r}:${f.sourceColumn}`)
        const want = plain === undefined || plain === null ? null : indexer.compute(f, plain)
        if (row[`i${i}`] !== want) changes.push({ field: f, value: want })
      })
      progress.scanned++
      if (changes.length === 0) {
        progress.unchanged++
        continue
      }
      if (options.dryRun) {
        progress.updated++
        continue
      }
      const up: unknown[] = []
      const p = (v: unknown) => (up.push(v), dialect.placeholder(up.length))
      const set = changes.map((c) => `${q(c.field.column)} = ${p(c.value)}`).join(', ')
      const where = [
        ...pk.map((c, i) => `${c} = ${p(row[`k${i}`])}`),
        ...[...new Set(changes.map((c) => c.field.sourceColumn))].map((c) => `${q(c)} IS NOT DISTINCT FROM ${p(row[sourceAlias(c)])}`),
      ].join(' AND ')
      let done: Array<Record<string, unknown>>
      try {
        done = await options.db.query(`UPDATE ${table} SET ${set} WHERE ${where} RETURNING 1 AS "ok"`, up)
      } catch (cause) {
        throw new BlindIndexRecomputeError({ model: model.name, field: changes[0]!.field.index }, primaryKeyOf(model, row), { cause })
      }
      if (done.length > 0) progress.updated++
      else progress.skipped++
    }
    options.onProgress?.({ ...progress })
    const last = rows[rows.length - 1]!
    after = pk.map((_, i) => last[`k${i}`])
    if (rows.length < batchSize) break
  }
  return progress
}

function findModel(options: RecomputeBlindIndexesOptions): ModelDescription {
  const models = (options.encryptionModel as EncryptionModel).models
  const model = models[options.model] ?? Object.values(models).find((m) => m.name.toLowerCase() === options.model.toLowerCase())
  if (!model) throw new ConfigurationError(`recomputeBlindIndexes: no model '${options.model}' in the encryption model`)
  return model
}

/** Decrypts every source value of a batch; on failure, finds the row that failed and names it. */
async function decryptSources(
  encryptor: EnvelopeEncryptor,
  rows: Array<Record<string, unknown>>,
  sources: string[],
  contexts: Map<string, FieldContext>,
  model: ModelDescription,
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>()
  const items: Array<{ value: unknown; ctx: FieldContext }> = []
  const keys: string[] = []
  rows.forEach((row, r) =>
    sources.forEach((column, s) => {
      const value = row[`s${s}`]
      if (value === null || value === undefined) out.set(`${r}:${column}`, null)
      else {
        items.push({ value, ctx: contexts.get(column)! })
        keys.push(`${r}:${column}`)
      }
    }),
  )
  if (items.length === 0) return out
  let plain: unknown[]
  try {
    plain = await encryptor.decryptMany(items)
  } catch (batchError) {
    for (let i = 0; i < items.length; i++) {
      try {
        await encryptor.decryptMany([items[i]!])
      } catch (cause) {
        const row = rows[Number(keys[i]!.split(':')[0])]!
        throw new BlindIndexRecomputeError({ model: model.name, field: items[i]!.ctx.field }, primaryKeyOf(model, row), { cause })
      }
    }
    throw batchError
  }
  plain.forEach((p, i) => out.set(keys[i]!, p as string))
  return out
}

function primaryKeyOf(model: ModelDescription, row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(model.primaryKey.map((name, i) => [name, row[`k${i}`]]))
}
