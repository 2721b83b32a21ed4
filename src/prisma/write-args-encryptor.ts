import type { BlindIndexer } from '../blind-index/blind-indexer'
import type { FieldContext } from '../cipher/field-context'
import { isPlainObject } from '../engine/unknown-value'
import type { ValueBatch } from '../engine/value-batch'
import {
  BlindIndexWriteError,
  ConfigurationError,
  InvalidFieldValueError,
  KeyHeaderWriteError,
  UnsupportedEncryptedFieldQueryError,
} from '../errors'
import type { ModelRegistry, ModelView } from '../model/model-registry'
import type { BlindIndexQueryContext } from './blind-index-filter'
import type { QueryArgsRewriter } from './query-args-rewriter'
import { FROM_CREATE, writeScopeOf, type RowScopeSetup, type ScopeSource } from './row-scope'

type Obj = Record<string, unknown>

/**
 * Walks the `data` of a Prisma write (and every nested write under relation fields) and puts
 * each value of an encrypted field into the batch, to be replaced by its ciphertext. Filters met
 * on the way (connect, nested where...) go through the query rewriter. The caller's arguments are
 * never changed: every object on a path that holds an encrypted value is copied.
 */
export class WriteArgsEncryptor {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly queries: QueryArgsRewriter,
    private readonly blindIndexes?: BlindIndexer,
    private readonly setup: RowScopeSetup = { hasScopeKeys: false },
  ) {}

  /**
   * `data` of create/update (one object) or createMany (object or list). A value set on an
   * encrypted field with a blind index also sets the index (queued in `bi`, hashed before the
   * query is sent); `null` sets it to null. Writing an index column directly is refused.
   */
  data(view: ModelView, data: unknown, batch: ValueBatch, bi?: BlindIndexQueryContext, source: ScopeSource = FROM_CREATE): unknown {
    if (Array.isArray(data)) return data.map((d) => this.data(view, d, batch, bi, source))
    if (!isPlainObject(data)) return data
    // A row-scoped model: every value and index of this row under the row's scope.
    const scope = writeScopeOf(view, data, source, this.setup)
    const out: Obj = { ...data }
    for (const [key, value] of Object.entries(data)) {
      const encrypted = view.encrypted.get(key)
      if (encrypted) {
        this.fieldValue(encrypted.field.isList, encrypted.ctx, value, out, key, batch, scope)
        const header = encrypted.field.keyHeader?.name
        if (header !== undefined && value !== undefined) this.keyHeaderOf(value, out, header, batch)
        if (encrypted.field.blindIndex) this.indexValue(view, encrypted.field.blindIndex, key, value, out, bi, scope)
        continue
      }
      if (view.keyHeaders.has(key) && value !== undefined) {
        throw new KeyHeaderWriteError({ model: view.description.name, field: key }, view.keyHeaders.get(key)!)
      }
      if (view.blindIndexes.has(key) && value !== undefined) {
        throw new BlindIndexWriteError({ model: view.description.name, field: key }, view.blindIndexes.get(key)!.source)
      }
      const relation = view.relations.get(key)
      if (relation && isPlainObject(value)) {
        out[key] = this.nestedWrite(this.registry.get(relation.target)!, relation.isList, value, batch, bi)
      }
    }
    return out
  }

  /**
   * The key header of a short-form field's value written to `key` (bare or `{ set }`): the sealed
   * value's key header goes to the header field in the same data object (so in the same
   * statement); a null value sets the header to null.
   */
  private keyHeaderOf(value: unknown, out: Obj, header: string, batch: ValueBatch): void {
    const plain = isPlainObject(value) && Object.keys(value).length === 1 && 'set' in value ? value.set : value
    if (plain === undefined) return
    if (plain === null) out[header] = null
    else batch.keyHeaderTo(out, header)
  }

  /** Sets the blind index `indexName` of the value written to `key` (bare, `{ set }` or null). */
  private indexValue(
    view: ModelView,
    indexName: string,
    key: string,
    value: unknown,
    out: Obj,
    bi: BlindIndexQueryContext | undefined,
    rowScope: string | undefined,
  ): void {
    const plain = isPlainObject(value) && Object.keys(value).length === 1 && 'set' in value ? value.set : value
    if (plain === undefined) return
    const field = this.blindIndexes?.indexNamed(view.description.name, indexName)
    if (!field || !bi) {
      // Writing the source without its index would leave a stale index: refuse.
      throw new ConfigurationError(
        `${view.description.name}.${key}: its blind index ${indexName} is not configured on this client; nothing was written`,
      )
    }
    if (plain === null) {
      out[indexName] = null
      return
    }
    const ticket = bi.batch.request(field, plain, 'write', rowScope)
    bi.batch.afterResolve(() => (out[indexName] = ticket.hashes[0]))
    const scope = bi.writeScope
    if (field.unique && bi.uniqueWrites && scope && scope !== 'unchecked') {
      bi.uniqueWrites.push({ field, write: ticket, match: bi.batch.request(field, plain, 'match', rowScope), scope })
    }
  }

  /** A value written to an encrypted field: bare, `{ set }`, or for lists `{ push }`. */
  private fieldValue(
    isList: boolean,
    ctx: FieldContext,
    value: unknown,
    out: Obj,
    key: string,
    batch: ValueBatch,
    scope: string | undefined,
  ): void {
    if (value === null || value === undefined) return
    if (isPlainObject(value)) {
      const keys = Object.keys(value)
      const op = keys[0]
      if (keys.length !== 1 || !(op === 'set' || (isList && op === 'push'))) {
        throw new InvalidFieldValueError(
          { model: ctx.model, field: ctx.field },
          isList ? 'an array, { set } or { push }' : 'a value or { set }',
          `{ ${keys.join(', ')} }`,
        )
      }
      const inner = value[op]
      if (inner === null || inner === undefined) return
      const holder: Obj = {}
      out[key] = holder
      if (isList && (op === 'set' || Array.isArray(inner))) this.list(ctx, inner, holder, op, batch, scope)
      else batch.add(inner, ctx, holder, op, scope)
      return
    }
    if (isList) this.list(ctx, value, out, key, batch, scope)
    else batch.add(value, ctx, out, key, scope)
  }

  private list(ctx: FieldContext, value: unknown, holder: Obj, key: string, batch: ValueBatch, scope: string | undefined): void {
    if (!Array.isArray(value)) {
      throw new InvalidFieldValueError({ model: ctx.model, field: ctx.field }, 'an array of strings', typeof value)
    }
    const arr: unknown[] = new Array(value.length)
    holder[key] = arr
    for (let i = 0; i < value.length; i++) batch.add(value[i], ctx, arr, i, scope)
  }

  /** The operations under a relation field of a write. */
  private nestedWrite(target: ModelView, isList: boolean, ops: Obj, batch: ValueBatch, bi: BlindIndexQueryContext | undefined): Obj {
    const out: Obj = { ...ops }
    const each = (value: unknown, fn: (item: Obj) => Obj): unknown =>
      Array.isArray(value) ? value.map((v) => (isPlainObject(v) ? fn(v) : v)) : isPlainObject(value) ? fn(value) : value
    // WhereUniqueInput: connect, connectOrCreate, and on to-many relations set/disconnect/delete
    // and the `where` of update/upsert. To-one disconnect/delete/update/upsert take a WhereInput.
    const where = (w: unknown, unique: boolean) => this.queries.where(target, w, 'where', bi, unique)
    const parentScope = bi?.writeScope
    for (const [op, value] of Object.entries(ops)) {
      // A nested create runs when its parent write does; other nested writes are not checked across index versions.
      if (bi)
        bi.writeScope =
          op === 'create' || op === 'createMany' ? (parentScope === 'upsert-create' ? 'upsert-create' : 'create') : 'unchecked'
      switch (op) {
        case 'create':
          out[op] = this.data(target, value, batch, bi)
          break
        case 'createMany':
          out[op] = isPlainObject(value) ? { ...value, data: this.data(target, value.data, batch, bi) } : value
          break
        case 'connectOrCreate':
          out[op] = each(value, (v) => ({ ...v, where: where(v.where, true), create: this.data(target, v.create, batch, bi) }))
          break
        case 'upsert':
          out[op] = each(value, (v) => {
            const next: Obj = {
              ...v,
              create: this.data(target, v.create, batch, bi),
              update: this.data(target, v.update, batch, bi, { kind: 'update', where: v.where }),
            }
            if ('where' in v) next.where = where(v.where, isList)
            return next
          })
          break
        case 'update':
          out[op] = each(value, (v) => this.nestedUpdate(target, isList, v, batch, bi))
          break
        case 'updateMany':
          out[op] = each(value, (v) => ({
            ...v,
            where: where(v.where, false),
            data: this.data(target, v.data, batch, bi, { kind: 'update', where: v.where }),
          }))
          break
        case 'connect':
        case 'set':
        case 'disconnect':
        case 'delete':
        case 'deleteMany': {
          const unique = op === 'connect' || (isList && op !== 'deleteMany')
          out[op] = Array.isArray(value) ? value.map((w) => where(w, unique)) : where(value, unique)
          break
        }
        default:
          // An operation this version does not know could carry plaintext: refuse rather than guess.
          if (target.reachesEncryption) {
            throw new UnsupportedEncryptedFieldQueryError({ model: target.description.name }, op, 'unknown nested write operation')
          }
          break
      }
    }
    if (bi) bi.writeScope = parentScope
    return out
  }

  /** A nested update: `{ where, data }` for lists; for a to-one relation, `{ where?, data }` or the data itself. */
  private nestedUpdate(target: ModelView, isList: boolean, v: Obj, batch: ValueBatch, bi: BlindIndexQueryContext | undefined): Obj {
    const keys = Object.keys(v)
    const wrapped =
      isList ||
      ('data' in v && keys.every((k) => k === 'data' || k === 'where') && !target.encrypted.has('data') && !target.relations.has('data'))
    if (!wrapped) return this.data(target, v, batch, bi, { kind: 'update', where: undefined }) as Obj
    const next: Obj = { ...v, data: this.data(target, v.data, batch, bi, { kind: 'update', where: v.where }) }
    if ('where' in v) next.where = this.queries.where(target, v.where, 'where', bi, isList)
    return next
  }
}
