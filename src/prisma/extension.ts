import { Prisma } from '@prisma/client/extension'
import { EnvelopeEncryptor, type EncryptorOptions } from '../engine/envelope-encryptor'
import { ValueBatch } from '../engine/value-batch'
import type { EncryptionModel } from '../model/encryption-model'
import { ModelRegistry, type ModelView } from '../model/model-registry'
import { QueryArgsRewriter } from './query-args-rewriter'
import { ResultDecryptor } from './result-decryptor'
import { WriteArgsEncryptor } from './write-args-encryptor'

export interface FieldEncryptionOptions extends EncryptorOptions {
  /** The `encryptionModel` that `prisma generate` wrote. */
  model: EncryptionModel | { readonly version: 1; readonly models: object }
  /** Use an encryptor you already have (to share its cache or read its stats); `keys` is then ignored. */
  encryptor?: EnvelopeEncryptor
}

type Obj = Record<string, unknown>

interface QueryParams {
  model?: string
  operation: string
  args: unknown
  query: (args: unknown) => Promise<unknown>
  /** For Fluent API calls (`user.findUnique().posts()`), the select path Prisma unwraps the result along. */
  dataPath?: readonly string[]
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
  'findUnique', 'findUniqueOrThrow', 'findFirst', 'findFirstOrThrow', 'findMany',
  'create', 'createManyAndReturn', 'update', 'updateManyAndReturn', 'upsert', 'delete',
])

/** The Prisma side: turns one query's arguments and result over to the core. */
export function createQueryHandler(options: FieldEncryptionOptions) {
  const encryptor = options.encryptor ?? new EnvelopeEncryptor(options)
  const registry = new ModelRegistry(options.model as EncryptionModel)
  const queries = new QueryArgsRewriter(registry)
  const writes = new WriteArgsEncryptor(registry, queries)
  const results = new ResultDecryptor(registry)

  async function handle(params: QueryParams) {
    const view = params.model ? registry.get(params.model) : undefined
    if (!view || !view.reachesEncryption) return params.query(params.args)
    const args = (params.args ?? {}) as Obj
    const batch = new ValueBatch()
    let next: Obj = { ...args }
    if ('data' in args) next.data = writes.data(view, args.data, batch)
    if (params.operation === 'upsert') {
      next.create = writes.data(view, args.create, batch)
      next.update = writes.data(view, args.update, batch)
    }
    next = queries.readArgs(view, next)
    if ('by' in next) queries.by(view, next.by)
    if ('having' in next) queries.having(view, next.having)
    for (const key of ['_min', '_max', '_avg', '_sum', '_count']) if (key in next) queries.aggregateSelection(view, key, next[key])
    if (batch.size > 0) batch.assign(await encryptor.encryptMany(batch.items))

    const result = await params.query(next)
    if (!RETURNS_RECORDS.has(params.operation)) return result
    const found = new ValueBatch()
    results.collect(resultModel(registry, view, params.dataPath), result, found)
    if (found.size > 0) found.assign(await encryptor.decryptMany(found.items))
    return result
  }
  return { encryptor, handle }
}

/**
 * The Prisma client extension: encrypts annotated fields on every write, decrypts them on every
 * read, and refuses queries that would compare or order ciphertext.
 *
 *   const prisma = new PrismaClient({ adapter }).$extends(fieldEncryption({ model: encryptionModel, keys }))
 */
export function fieldEncryption(options: FieldEncryptionOptions) {
  const { handle } = createQueryHandler(options)
  return Prisma.defineExtension({
    name: 'kms-field-encryption',
    query: {
      $allModels: {
        $allOperations(params) {
          const { model, operation, args, query } = params
          // Prisma passes the Fluent API path only in its internal parameters.
          const dataPath = (params as { __internalParams?: { dataPath?: unknown } }).__internalParams?.dataPath
          return handle({
            model,
            operation,
            args,
            query: query as (a: unknown) => Promise<unknown>,
            dataPath: Array.isArray(dataPath) ? (dataPath as string[]) : undefined,
          }) as ReturnType<typeof query>
        },
      },
    },
  })
}
