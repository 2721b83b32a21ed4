import { Prisma } from '@prisma/client/extension'
import { BlindIndexBatch } from '../blind-index/blind-index-batch'
import { blindIndexerForModel } from '../blind-index/blind-indexer-for-model'
import type { EncryptorOptions } from '../engine/envelope-encryptor'
import { checkScopeKeys, encryptorOf } from '../engine/keys-or-encryptor'
import { ValueBatch } from '../engine/value-batch'
import { ConfigurationError, KeyHeaderMissingError } from '../errors'
import { checkClientSchema } from './client-schema-check'
import { validateFieldEncryptionOptions, type FieldEncryptionOptions } from './field-encryption-options'
import { ModelRegistry, type ModelView } from '../model/model-registry'
import type { BlindIndexQueryContext } from './blind-index-filter'
import { QueryArgsRewriter } from './query-args-rewriter'
import { ResultDecryptor } from './result-decryptor'
import { guardLaterQueryExtensions } from './later-extension-guard'
import { clientRowReader, type ClientRowReader } from './client-row-reader'
import { checkUniqueAcrossVersions, type UniqueWriteScope } from './unique-across-versions'
import { checkStoredAsSent } from './stored-value-check'
import { UniqueIndexLookups, type IndexValueFinder } from './unique-index-lookup'
import { WriteArgsEncryptor } from './write-args-encryptor'
import { WrittenValues } from './written-values'
import { FROM_CREATE, type RowScopeSetup, type ScopeSource } from './row-scope'
import { withScopeFields } from './scope-field-selection'
import { withKeyHeaders } from './key-header-selection'
import { stripAlong, stripFields } from './field-strip'

export type { FieldEncryptionEncryptorOptions, FieldEncryptionKeysOptions, FieldEncryptionOptions } from './field-encryption-options'

/** How a top-level write's `data` is checked for unique blind-index values across versions. */
const TOP_LEVEL_SCOPE: Record<string, UniqueWriteScope> = {
  create: 'create',
  createMany: 'create',
  createManyAndReturn: 'create',
  update: 'update',
}

/** Writes whose `data` updates existing rows (a row-scoped model's scope then comes from `where`). */
const UPDATES = new Set(['update', 'updateMany', 'updateManyAndReturn'])

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
  'findUnique',
  'findUniqueOrThrow',
  'findFirst',
  'findFirstOrThrow',
  'findMany',
  'create',
  'createManyAndReturn',
  'update',
  'updateManyAndReturn',
  'upsert',
  'delete',
])

/** Reads: run again when the data-key cache is cold (key headers are left out of them; see key-header-selection.ts). */
const READS = new Set(['findUnique', 'findUniqueOrThrow', 'findFirst', 'findFirstOrThrow', 'findMany'])

/** The Prisma side: turns one query's arguments and result over to the core. */
export function createQueryHandler(options: FieldEncryptionOptions) {
  validateFieldEncryptionOptions(options)
  const encryptor = encryptorOf<EncryptorOptions>(options, 'fieldEncryption options')
  checkScopeKeys(encryptor, options.scope, 'fieldEncryption options')
  const registry = new ModelRegistry(options.model)
  const blindIndexer = blindIndexerForModel(options.model, options, encryptor)
  // Row-scoped models (@encryptionScope) are checked against this set-up when a query meets them (row-scope.ts).
  const setup: RowScopeSetup = { clientScope: options.scope, hasScopeKeys: encryptor.hasScopeKeys }
  const queries = new QueryArgsRewriter(registry, blindIndexer, setup)
  const writes = new WriteArgsEncryptor(registry, queries, blindIndexer, setup)
  const results = new ResultDecryptor(registry, setup)

  /**
   * `findIndexValues` reads which index values exist (outside the query): needed only for a
   * unique lookup by a blind index while a previous index version is configured.
   */
  async function handle(params: QueryParams, reader?: ClientRowReader) {
    const view = params.model ? registry.get(params.model) : undefined
    if (!view || !view.reachesEncryption) return params.query(params.args)
    const args = (params.args ?? {}) as Obj
    const batch = new ValueBatch(options.scope)
    const bi: BlindIndexQueryContext | undefined = blindIndexer && {
      batch: new BlindIndexBatch(options.scope),
      lookups: new UniqueIndexLookups(),
    }
    // While a previous index version is configured, writes of unique indexed values are checked against it.
    if (bi && blindIndexer!.versions.length > 1) bi.uniqueWrites = []
    const scoped = (scope: UniqueWriteScope, data: unknown, source: ScopeSource) => {
      if (bi) bi.writeScope = scope
      return writes.data(view, data, batch, bi, source)
    }
    let next: Obj = { ...args }
    const fromWhere: ScopeSource = { kind: 'update', where: args.where }
    if ('data' in args) {
      const source = UPDATES.has(params.operation) ? fromWhere : FROM_CREATE
      next.data = scoped(TOP_LEVEL_SCOPE[params.operation] ?? 'unchecked', args.data, source)
    }
    if (params.operation === 'upsert') {
      next.create = scoped('upsert-create', args.create, FROM_CREATE)
      next.update = scoped('upsert-update', args.update, fromWhere)
    }
    // Reads of row-scoped models return each row's scope field (added here when not selected, removed after).
    const scopeFields = RETURNS_RECORDS.has(params.operation) ? withScopeFields(registry, view, next) : undefined
    if (scopeFields) next = scopeFields.args
    next = queries.readArgs(view, next, bi, UNIQUE_WHERE.has(params.operation))
    if ('by' in next) queries.by(view, next.by)
    if ('having' in next) queries.having(view, next.having)
    for (const key of ['_min', '_max', '_avg', '_sum', '_count']) if (key in next) queries.aggregateSelection(view, key, next[key])
    // Key headers (format version 2): left out of reads, read by writes (which cannot be run again).
    const isRead = READS.has(params.operation)
    // A read of a batch transaction ($transaction([...])) is not run again either: its results come
    // back once the batch has committed, and a second query would run after it, in a transaction of
    // its own (seeing what later statements of the batch did).
    const inBatch = (params.transaction as { kind?: unknown } | undefined)?.kind === 'batch'
    const runsAgain = isRead && !inBatch
    const headers = RETURNS_RECORDS.has(params.operation) ? withKeyHeaders(registry, view, next, runsAgain ? 'omit' : 'read') : undefined
    // Encrypt the values and hash the blind indexes side by side; both finish before the query.
    const [sealed] = await Promise.all([
      batch.size > 0 ? encryptor.encryptManyWithKeyHeaders(batch.items) : undefined,
      bi && bi.batch.size > 0 ? resolveIndexes(bi, reader && ((f, v) => reader.indexValues(f, v, params.transaction))) : undefined,
    ])
    if (bi?.uniqueWrites?.length) {
      if (!reader)
        throw new ConfigurationError(
          'a write of a unique blind index with a previous index version configured needs the client: use fieldEncryption()',
        )
      await checkUniqueAcrossVersions(bi.uniqueWrites, next.where, view.description.name, reader.rows(params.transaction), reader.violation)
    }
    const ciphertexts = sealed?.values
    if (sealed) batch.assignSealed(sealed)

    let result = await params.query(headers?.args ?? next)
    if (!RETURNS_RECORDS.has(params.operation)) return result
    const returned = resultModel(registry, view, params.dataPath)
    let headerStrip = runsAgain ? undefined : headers?.strip
    try {
      await decryptResult(returned, result, !runsAgain)
    } catch (err) {
      // A cold read of short values (format version 2): run it again with their key headers.
      if (!(runsAgain && err instanceof KeyHeaderMissingError)) throw err
      const again = withKeyHeaders(registry, view, next, 'read')
      result = await params.query(again.args)
      await decryptResult(returned, result, true)
      headerStrip = again.strip
    }
    const strip = stripAlong(scopeFields?.strip, params.dataPath)
    if (strip) stripFields(registry, returned, strip, result)
    const keyHeaderStrip = stripAlong(headerStrip, params.dataPath)
    if (keyHeaderStrip) stripFields(registry, returned, keyHeaderStrip, result)
    return result

    async function decryptResult(returned: ModelView, result: unknown, withKeyHeaders: boolean): Promise<void> {
      const found = new ValueBatch(options.scope)
      // Reads open values whose data key is cached in the walk itself (not with a client scope:
      // those go through the batch, which binds each value to the scope).
      const opener = isRead && options.scope === undefined ? encryptor.cachedKeyOpener() : undefined
      try {
        results.collect(returned, result, found, withKeyHeaders, opener)
      } finally {
        opener?.release()
      }
      if (found.size === 0) return
      if (ciphertexts) checkStoredAsSent(batch.items, ciphertexts, found.items)
      // The returned row of a write holds the ciphertexts just made: their plaintexts are known.
      const written = ciphertexts && new WrittenValues(batch.items, ciphertexts)
      found.assign(await (written ? written.decryptMany(encryptor, found.items) : encryptor.decryptMany(found.items)))
    }
  }

  async function resolveIndexes(bi: BlindIndexQueryContext, findIndexValues: IndexValueFinder | undefined): Promise<void> {
    await blindIndexer!.load()
    bi.batch.resolve(blindIndexer!)
    if (bi.lookups.size === 0) return
    if (!findIndexValues) {
      throw new ConfigurationError(
        'a unique lookup by a blind index with a previous index version configured needs the client: use fieldEncryption()',
      )
    }
    await bi.lookups.resolve(findIndexValues)
  }
  return { encryptor, blindIndexer, registry, handle }
}

/**
 * The Prisma client extension: encrypts annotated fields on every write, decrypts them on every
 * read, and refuses queries that would compare or order ciphertext.
 *
 *   const prisma = new PrismaClient({ adapter }).$extends(fieldEncryption({ model: encryptionModel, keys }))
 */
export function fieldEncryption(options: FieldEncryptionOptions) {
  const { handle, registry } = createQueryHandler(options)
  return Prisma.defineExtension((client) => {
    checkClientSchema(client, options.model)
    const reader = clientRowReader(client, registry)
    const extended = client.$extends({
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
              reader,
            ) as ReturnType<typeof query>
          },
        },
      },
    })
    return guardLaterQueryExtensions(extended, new Set(options.allowQueryExtensionsAfter ?? []))
  })
}
