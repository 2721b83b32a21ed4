import { isWellFormed, LONE_SURROGATE } from '../engine/well-formed-text'
import { ConfigurationError, InvalidFieldValueError } from '../errors'
import type { BlindIndexNormalization, EncryptionModel } from '../model/encryption-model'
import { blindIndexMac, deriveBlindIndexKey } from './blind-index-key'
import { blindIndexFieldsOf, blindIndexName, type BlindIndexField } from './blind-index-field'
import { normalizationProblem, normalizeForBlindIndex } from './normalize'
import type { EncryptionEventListener } from '../keys/provider-call-event'
import { checkScope } from '../keys/scope-keys'
import { rootKeyLoader, type RootKeyLoader, type RootKeySource } from './root-key-source'
import { checkIndexVersion, formatStoredIndex } from './stored-index-format'

/** An earlier index version, still matched by filters while `recomputeBlindIndexes` moves rows off it. */
export interface PreviousBlindIndexVersion {
  version: number
  /** Its root key. Default: the current root key (a change of normalisation only). */
  rootKey?: RootKeySource
  /**
   * The normalisations it used, by `Model.indexField`, for indexes whose `normalize` list in the
   * schema has changed since. Indexes not listed used the schema's list.
   */
  normalize?: Readonly<Record<string, readonly BlindIndexNormalization[]>>
}

export interface BlindIndexOptions {
  /** Version of the index key written by new writes. Default 1. Bump it to change root key or normalisation. */
  version?: number
  /** The root key. Default: the primary key provider's `blindIndexRootKey()`. */
  rootKey?: RootKeySource
  /** Versions still found in the database (until recompute has finished); filters match them too. */
  previous?: PreviousBlindIndexVersion | readonly PreviousBlindIndexVersion[]
}

/** What the blind indexer is built with: the options, a root key, and the provider-call settings. */
export type BlindIndexerOptions = BlindIndexOptions & {
  rootKey: RootKeySource
  providerTimeoutMs?: number
  /** Told of every root-key fetch from a key provider (`unwrapRootKey`), like the encryptor's `onEvent`. */
  onEvent?: EncryptionEventListener
}

interface VersionState {
  version: number
  load: RootKeyLoader
  normalize: Map<string, readonly BlindIndexNormalization[]>
  root?: Buffer
}

/**
 * Computes blind indexes: HMAC-SHA256, under a per-column key derived from a root key, of the
 * normalised plaintext, stored as `v<version>:<base64url>`. Root keys are fetched once, on the
 * first `load()` (a failed fetch is retried by the next call), then everything is synchronous.
 * Knows nothing of Prisma.
 */
export class BlindIndexer {
  readonly version: number
  /** The current version first, then the previous ones. */
  readonly versions: readonly number[]
  private readonly states: VersionState[]
  private readonly byName = new Map<string, BlindIndexField>()
  private readonly bySource = new Map<string, BlindIndexField>()
  private readonly columnKeys = new Map<string, Buffer>()
  private loading: Promise<void> | undefined
  private ready = false

  constructor(fields: readonly BlindIndexField[], options: BlindIndexerOptions) {
    for (const f of fields) {
      this.byName.set(blindIndexName(f), f)
      this.bySource.set(`${f.model}.${f.source}`, f)
    }
    this.version = checkConfigVersion(options.version ?? 1, 'blindIndex.version')
    const currentLoad = rootKeyLoader(options.rootKey, 'blindIndex.rootKey', options.providerTimeoutMs, options.onEvent)
    const current: VersionState = { version: this.version, load: currentLoad, normalize: new Map() }
    const previous =
      options.previous === undefined
        ? []
        : Array.isArray(options.previous)
          ? options.previous
          : [options.previous as PreviousBlindIndexVersion]
    this.states = [current]
    previous.forEach((p, i) => {
      const label = `blindIndex.previous[${i}]`
      const version = checkConfigVersion(p?.version, `${label}.version`)
      if (this.states.some((s) => s.version === version))
        throw new ConfigurationError(`${label}: index version ${version} is configured twice`)
      const normalize = new Map<string, readonly BlindIndexNormalization[]>()
      for (const [name, steps] of Object.entries(p.normalize ?? {})) {
        if (!this.byName.has(name))
          throw new ConfigurationError(`${label}.normalize: '${name}' is not a blind index (write it as Model.indexField)`)
        const list: readonly BlindIndexNormalization[] = Array.isArray(steps) ? steps : []
        const problem = Array.isArray(steps) ? normalizationProblem(list) : 'must be a list'
        if (problem) throw new ConfigurationError(`${label}.normalize['${name}']: ${problem}`)
        normalize.set(name, [...list])
      }
      const load =
        p.rootKey === undefined ? current.load : rootKeyLoader(p.rootKey, `${label}.rootKey`, options.providerTimeoutMs, options.onEvent)
      this.states.push({ version, load, normalize })
    })
    this.versions = this.states.map((s) => s.version)
  }

  /**
   * An indexer for every blind index of a generated encryption model. Build one yourself to
   * `await load()` it at start-up (fail fast if the root key cannot be had), then hand it to
   * `fieldEncryption({ blindIndexer })` and `recomputeBlindIndexes({ indexer })`.
   */
  static forModel(model: EncryptionModel, options: BlindIndexerOptions): BlindIndexer {
    return new BlindIndexer(blindIndexFieldsOf(model), options)
  }

  /** The index whose source is `Model.field`, if it has one. */
  indexOfSource(model: string, source: string): BlindIndexField | undefined {
    return this.bySource.get(`${model}.${source}`)
  }

  /** The index field `Model.indexField`, if it is one. */
  indexNamed(model: string, index: string): BlindIndexField | undefined {
    return this.byName.get(`${model}.${index}`)
  }

  get fields(): BlindIndexField[] {
    return [...this.byName.values()]
  }

  get loaded(): boolean {
    return this.ready
  }

  /** Fetches the root keys (once). Call it at start-up to fail fast; queries call it when they need it. */
  load(): Promise<void> {
    if (this.ready) return Promise.resolve()
    if (!this.loading) {
      // Versions that share a root key (a normalisation change) fetch it once.
      const fetches = new Map<() => Promise<Buffer>, Promise<Buffer>>()
      const pending = Promise.all(
        this.states.map(async (s) => {
          if (!fetches.has(s.load)) fetches.set(s.load, s.load())
          s.root = Buffer.from(await fetches.get(s.load)!)
        }),
      ).then(
        () => {
          for (const key of new Set(fetches.values())) void key.then((k) => k.fill(0))
          this.ready = true
        },
        (err: unknown) => {
          for (const s of this.states) s.root?.fill(0)
          for (const s of this.states) s.root = undefined
          throw err
        },
      )
      this.loading = pending
      pending.catch(() => {
        if (this.loading === pending) this.loading = undefined
      })
    }
    return this.loading
  }

  /** The index a write stores: current version (of that scope's key when `scope` is given). `load()` must have completed. */
  compute(field: BlindIndexField, value: string, scope?: string): string {
    return this.computeFor(this.states[0]!, field, value, scope)
  }

  /** The index of `value` under every configured version, current first: what a filter must match. */
  candidates(field: BlindIndexField, value: string, scope?: string): string[] {
    return this.states.map((s) => this.computeFor(s, field, value, scope))
  }

  /**
   * Zeroes and forgets the root and column keys, and makes key providers drop the root key they
   * keep (AwsKmsKeyProvider), so the next load asks KMS again (e.g. after revoking a KMS key).
   */
  clear(): void {
    for (const s of this.states) s.load.forget?.()
    for (const k of this.columnKeys.values()) k.fill(0)
    this.columnKeys.clear()
    for (const s of this.states) {
      s.root?.fill(0)
      s.root = undefined
    }
    this.ready = false
    this.loading = undefined
  }

  private dropOldestColumnKey(): void {
    const oldest = this.columnKeys.keys().next().value
    if (oldest === undefined) return
    this.columnKeys.get(oldest)!.fill(0)
    this.columnKeys.delete(oldest)
  }

  private computeFor(state: VersionState, field: BlindIndexField, value: string, scope?: string): string {
    if (!this.ready || !state.root) throw new Error('blind index root keys are not loaded: await load() first')
    if (!isWellFormed(value))
      throw new InvalidFieldValueError({ model: field.model, field: field.source }, 'well-formed Unicode text', LONE_SURROGATE)
    const name = blindIndexName(field)
    const steps = state.normalize.get(name) ?? field.normalize
    const at = { model: field.model, field: field.source }
    const keyId = `${state.version}\u0000${field.table}\u0000${field.column}${scope === undefined ? '' : `\u0000${checkScope(scope, at)}`}`
    let key = this.columnKeys.get(keyId)
    if (!key) {
      key = deriveBlindIndexKey(state.root, state.version, field.table, field.column, scope)
      // Scoped column keys are many (one per tenant): keep a bounded number, oldest out.
      if (scope !== undefined && this.columnKeys.size >= MAX_COLUMN_KEYS) this.dropOldestColumnKey()
      this.columnKeys.set(keyId, key)
    }
    return formatStoredIndex(state.version, blindIndexMac(key, normalizeForBlindIndex(value, steps)))
  }
}

/**
 * The index options with their root key decided: `blindIndex.rootKey` when given, otherwise the
 * primary key provider (its `blindIndexRootKey()`). The one place that default is written.
 */
export function withDefaultRootKey<T extends BlindIndexOptions>(
  options: T | undefined,
  primary: RootKeySource,
): T & { rootKey: RootKeySource } {
  return { ...(options as T), rootKey: options?.rootKey ?? primary }
}

/** At most this many derived column keys are kept (scoped indexes derive one per scope and column). */
const MAX_COLUMN_KEYS = 10_000

function checkConfigVersion(version: unknown, label: string): number {
  try {
    return checkIndexVersion(version, label)
  } catch (err) {
    throw new ConfigurationError((err as Error).message)
  }
}
