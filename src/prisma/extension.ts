import { Prisma } from '@prisma/client/extension'
import { BlindIndexBatch } from '../blind-index/blind-index-batch'
import { blindIndexFieldsOf } from '../blind-index/blind-index-field'
import { BlindIndexer, type BlindIndexOptions } from '../blind-index/blind-indexer'
import { EnvelopeEncryptor, type EncryptorOptions } from '../engine/envelope-encryptor'
import { ValueBatch } from '../engine/value-batch'
import { ConfigurationError } from '../errors'
import type { EncryptionModel } from '../model/encryption-model'
import { ModelRegistry, type ModelView } from '../model/model-registry'
import type { BlindIndexQueryContext } from './blind-index-filter'
import { QueryArgsRewriter } from './query-args-rewriter'
import { ResultDecryptor } from './result-decryptor'
import { checkStoredAsSent } from './stored-value-check'
import { UniqueIndexLookups, type IndexValueFinder } from './unique-index-lookup'
import { WriteArgsEncryptor } from './write-args-encryptor'
import { WrittenValues } from './written-values'

export interface FieldEncryptionOptions extends EncryptorOptions {
  /** The `encryptionModel` that `prisma generate` wrote. */
  model: EncryptionModel | { readonly version: 1; readonly models: object }
  /** Use an encryptor you already have (to share its cache or read its stats); `keys` is then ignored. */
  encryptor?: EnvelopeEncryptor
  /**
   * Blind indexes (`@blindIndex` fields): the index version written, its root key (default: the
   * primary key provider's `blindIndexRootKey()`), and previous versions still matched by filters
   * while `recomputeBlindIndexes` runs.
   */
  blindIndex?: BlindIndexOptions
  /** Use a blind indexer you already have (e.g. one you `load()`ed at start-up); `blindIndex` is then ignored. */
  blindIndexer?: BlindIndexer
}

/** The blind indexer the options describe, or undefined when the schema has no blind index. */
function blindIndexerFor(options: FieldEncryptionOptions, encryptor: EnvelopeEncryptor): BlindIndexer | undefined {
  if (options.blindIndexer) return options.blindIndexer
  const fields = blindIndexFieldsOf(options.model)
  if (fields.length === 0) return undefined
  return new BlindIndexer(fields, { ...options.blindIndex, rootKey: options.blindIndex?.rootKey ?? encryptor.keyRing.primary, providerTimeoutMs: options.providerTimeoutMs })
}

/** Operations whose `where` is a WhereUniqueInput. */
const UNIQUE_WHERE = new Set(['findUnique', 'findUniqueOrThrow', 'update', 'upsert', 'delete'])

type Obj = Record<string, unknown>

interface QueryParams {
  model?: string
  operation: string
  args: unknown
  query: (args: unknown) => Promise<unknown>
  /** For Fluent API calls (`user.findUnique().posts()`), the select path Prisma unwraps the result along. */
  dataPath?: readonly string[]
  /** Prisma's transaction of this query (internal), for the reads a query needs beforehand. */
  transaction?: unknown
}

/** Reads which of `values` exist in an index column, in the query's transaction if it has one. */
type TransactionalIndexValueFinder = (field: Parameters<IndexValueFinder>[0], values: string[], transaction: unknown) => ReturnType<IndexValueFinder>

/** The model of what the query returns: the queried model, or the end of a Fluent API path. */
function resultModel(registry: ModelRegistry, view: ModelView, dataPath: readonly string[] | undefined): ModelView {
  let current = view
  for (const step of dataPath ?? []) {
    if (step === 'select' || step === 'include') continue
    const relation = current.relations.get(step)
    if (!relation) return current
    current = registry.get(relation.target)!
  }
  return current
}

/** Operations whose result holds records (and so encrypted values to decrypt). */
const RETURNS_RECORDS = new Set([
  'findUnique', 'findUniqueOrThrow', 'findFirst', 'findFirstOrThrow', 'findMany',
  'create', 'createManyAndReturn', 'update', 'updateManyAndReturn', 'upsert', 'delete',
])

/** The Prisma side: turns one query's arguments and result over to the core. */
export function createQueryHandler(options: FieldEncryptionOptions) {
  const encryptor = options.encryptor ?? new EnvelopeEncryptor(options)
  const registry = new ModelRegistry(options.model as EncryptionModel)
  const blindIndexer = blindIndexerFor(options, encryptor)
  const queries = new QueryArgsRewriter(registry, blindIndexer)
  const writes = new WriteArgsEncryptor(registry, queries, blindIndexer)
  const results = new ResultDecryptor(registry)

  /**
   * `findIndexValues` reads which index values exist (outside the query): needed only for a
   * unique lookup by a blind index while a previous index version is configured.
   */
  async function handle(params: QueryParams, findIndexValues?: TransactionalIndexValueFinder) {
    const view = params.model ? registry.get(params.model) : undefined
    if (!view || !view.reachesEncryption) return params.query(params.args)
    const args = (params.args ?? {}) as Obj
    const batch = new ValueBatch()
    const bi: BlindIndexQueryContext | undefined = blindIndexer && { batch: new BlindIndexBatch(), lookups: new UniqueIndexLookups() }
    let next: Obj = { ...args }
    if ('data' in args) next.data = writes.data(view, args.data, batch, bi)
    if (params.operation === 'upsert') {
      next.create = writes.data(view, args.create, batch, bi)
      next.update = writes.data(view, args.update, batch, bi)
    }
    next = queries.readArgs(view, next, bi, UNIQUE_WHERE.has(params.operation))
    if ('by' in next) queries.by(view, next.by)
    if ('having' in next) queries.having(view, next.having)
    for (const key of ['_min', '_max', '_avg', '_sum', '_count']) if (key in next) queries.aggregateSelection(view, key, next[key])
    // Encrypt the values and hash the blind indexes side by side; both finish before the query.
    const [ciphertexts] = await Promise.all([
      batch.size > 0 ? encryptor.encryptMany(batch.items) : undefined,
      bi && bi.batch.size > 0 ? resolveIndexes(bi, findIndexValues && ((f, v) => findIndexValues(f, v, params.transaction))) : undefined,
    ])
    if (ciphertexts) batch.assign(ciphertexts)

    const result = await params.query(next)
    if (!RETURNS_RECORDS.has(params.operation)) return result
    const found = new ValueBatch()
    results.collect(resultModel(registry, view, params.dataPath), result, found)
    if (found.size > 0) {
      if (ciphertexts) checkStoredAsSent(batch.items, ciphertexts, found.items)
      // The returned row of a write holds the ciphertexts just made: their plaintexts are known.
      const written = ciphertexts && new WrittenValues(batch.items, ciphertexts)
      found.assign(await (written ? written.decryptMany(encryptor, found.items) : encryptor.decryptMany(found.items)))
    }
    return result
  }

  async function resolveIndexes(bi: BlindIndexQueryContext, findIndexValues: IndexValueFinder | undefined): Promise<void> {
    await blindIndexer!.load()
    bi.batch.resolve(blindIndexer!)
    if (bi.lookups.size === 0) return
    if (!findIndexValues) {
      throw new ConfigurationError('a unique lookup by a blind index with a previous index version configured needs the client: use fieldEncryption()')
    }
    await bi.lookups.resolve(findIndexValues)
  }
  return { encryptor, blindIndexer, handle }
}

/**
 * Reads which of `values` exist in an index column, through the client being extended (so not
 * through this extension). Inside an interactive transaction the read must run in it (a read on
 * another connection would not see the transaction's writes, and on a single-connection database
 * would wait for the transaction forever): Prisma has no public API for that, so its internal
 * `_request` is used, and its absence is an error, never a read outside the transaction.
 */
function indexValueFinder(client: unknown): TransactionalIndexValueFinder {
  return async (field, values, transaction) => {
    const jsModel = field.model.charAt(0).toLowerCase() + field.model.slice(1)
    const args = { where: { [field.index]: { in: values } }, select: { [field.index]: true } }
    let rows: Array<Record<string, unknown>>
    if ((transaction as { kind?: string } | undefined)?.kind === 'itx') {
      const request = (client as { _request?: (params: object) => Promise<Array<Record<string, unknown>>> })._request
      if (typeof request !== 'function') {
        throw new ConfigurationError(`${field.model}.${field.source}: a unique lookup by a blind index inside an interactive transaction, with a previous index version configured, is not supported by this Prisma version; finish recomputeBlindIndexes or use findFirst`)
      }
      rows = await request.call(client, { args, dataPath: [], action: 'findMany', model: field.model, clientMethod: `${jsModel}.findMany`, jsModelName: jsModel, transaction })
    } else {
      const delegate = (client as Record<string, { findMany(args: unknown): Promise<Array<Record<string, unknown>>> }>)[jsModel]
      if (!delegate) throw new ConfigurationError(`${field.model}: no such model on the Prisma client`)
      rows = await delegate.findMany(args)
    }
    return rows.map((r) => r[field.index] as string)
  }
}

/**
 * The Prisma client extension: encrypts annotated fields on every write, decrypts them on every
 * read, and refuses queries that would compare or order ciphertext.
 *
 *   const prisma = new PrismaClient({ adapter }).$extends(fieldEncryption({ model: encryptionModel, keys }))
 */
export function fieldEncryption(options: FieldEncryptionOptions) {
  const { handle } = createQueryHandler(options)
  return Prisma.defineExtension((client) => {
    const findIndexValues = indexValueFinder(client)
    return client.$extends({
      name: 'kms-field-encryption',
      query: {
        $allModels: {
          $allOperations(params) {
            const { model, operation, args, query } = params
            // Prisma passes the Fluent API path only in its internal parameters.
            const internal = (params as { __internalParams?: { dataPath?: unknown; transaction?: unknown } }).__internalParams
            const dataPath = internal?.dataPath
            return handle(
              {
                model,
                operation,
                args,
                query: query as (a: unknown) => Promise<unknown>,
                dataPath: Array.isArray(dataPath) ? (dataPath as string[]) : undefined,
                transaction: internal?.transaction,
              },
              findIndexValues,
            ) as ReturnType<typeof query>
          },
        },
      },
    })
  })
}
