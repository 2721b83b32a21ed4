import { Prisma } from '@prisma/client/extension'
import { PrismaClientKnownRequestError } from '@prisma/client/runtime/client'
import type { BlindIndexField } from '../blind-index/blind-index-field'
import { ConfigurationError } from '../errors'
import type { ModelRegistry } from '../model/model-registry'
import type { RowReader, UniqueViolation } from './unique-across-versions'

type Row = Record<string, unknown>

/** The reads a query needs beforehand, through the client being extended (so not through this extension). */
export interface ClientRowReader {
  /** Which of `values` exist in an index column, in the query's transaction if it has one. */
  indexValues(field: BlindIndexField, values: string[], transaction: unknown): Promise<string[]>
  /** Row reads for the unique check across index versions, in the query's transaction. */
  rows(transaction: unknown): RowReader
  /** The error of a unique violation found across index versions: Prisma's own P2002. */
  violation: UniqueViolation
}

/**
 * Inside an interactive transaction a read must run in it (a read on another connection would not
 * see the transaction's writes, and on a single-connection database would wait for the transaction
 * forever): Prisma has no public API for that, so its internal `_request` is used, and its absence
 * is an error, never a read outside the transaction.
 */
export function clientRowReader(client: unknown, registry: ModelRegistry): ClientRowReader {
  async function read(model: string, action: 'findMany' | 'findUnique', args: object, transaction: unknown): Promise<unknown> {
    const jsModel = model.charAt(0).toLowerCase() + model.slice(1)
    if ((transaction as { kind?: string } | undefined)?.kind === 'itx') {
      const request = (client as { _request?: (params: object) => Promise<unknown> })._request
      if (typeof request !== 'function') {
        throw new ConfigurationError(
          `${model}: a read by a blind index inside an interactive transaction, with a previous index version configured, ` +
            'is not supported by this Prisma version; finish recomputeBlindIndexes',
        )
      }
      return request.call(client, {
        args,
        dataPath: [],
        action,
        model,
        clientMethod: `${jsModel}.${action}`,
        jsModelName: jsModel,
        transaction,
      })
    }
    const delegate = (client as Record<string, Record<string, (args: unknown) => Promise<unknown>>>)[jsModel]
    if (!delegate) throw new ConfigurationError(`${model}: no such model on the Prisma client`)
    return delegate[action]!(args)
  }
  const keyOf = (model: string, row: Row): string => JSON.stringify(registry.get(model)!.description.primaryKey.map((k) => row[k]))
  const primaryKeySelect = (model: string) => Object.fromEntries(registry.get(model)!.description.primaryKey.map((k) => [k, true]))

  return {
    async indexValues(field, values, transaction) {
      const rows = (await read(
        field.model,
        'findMany',
        { where: { [field.index]: { in: values } }, select: { [field.index]: true } },
        transaction,
      )) as Row[]
      return rows.map((r) => r[field.index] as string)
    },
    rows(transaction) {
      return {
        async keysWithIndex(field, values) {
          const rows = (await read(
            field.model,
            'findMany',
            { where: { [field.index]: { in: values } }, select: primaryKeySelect(field.model) },
            transaction,
          )) as Row[]
          return rows.map((r) => keyOf(field.model, r))
        },
        async keyOfUnique(model, where) {
          const row = (await read(model, 'findUnique', { where, select: primaryKeySelect(model) }, transaction)) as Row | null
          return row ? keyOf(model, row) : undefined
        },
      }
    },
    violation(field, version) {
      return new PrismaClientKnownRequestError(
        `Unique constraint failed on the fields: (\`${field.index}\`): a row holds the same ${field.source} ` +
          `under blind index version ${version.replace(/^v/, '')} (a previous version, still configured)`,
        { code: 'P2002', clientVersion: Prisma.prismaVersion.client, meta: { modelName: field.model, target: [field.index] } },
      )
    },
  }
}
