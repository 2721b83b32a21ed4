import { DataKeyCurrency } from '../engine/data-key-currency'
import { ConfigurationError, ScopeRequiredError } from '../errors'
import type { KeyRing } from '../keys/key-ring'
import { checkScope, type ScopeKeys } from '../keys/scope-keys'
import { fail, skip, type RowOutcome } from './column-operation'
import type { ColumnTarget } from './column-target'
import { isFatal } from './row-failure'
import { ScopedDataKeyCurrency } from './scoped-data-key-currency'
import type { StoredRow } from './sql-database'

/**
 * The scopes of a migration run, for every operation: the scope each row's values are bound to,
 * and where a data key stands for that scope. A row of a row-scoped model (@encryptionScope)
 * belongs to the scope its column holds; any other row to the run's scope (`--scope`: a schema or
 * database per tenant), or to none. One data-key currency per scope, made on first use.
 */
export class RunScopes {
  private readonly unscoped: DataKeyCurrency
  private readonly currencies = new Map<string, ScopedDataKeyCurrency>()

  constructor(
    private readonly keyRing: KeyRing,
    /** The scope key provider; needed by a run with a scope or over a row-scoped model. */
    private readonly scopeKeys: ScopeKeys | undefined,
    /** The run's scope (`--scope`), if any. */
    readonly runScope: string | undefined,
    readonly timeoutMs?: number,
  ) {
    this.unscoped = new DataKeyCurrency(keyRing, timeoutMs)
  }

  /**
   * The scope a row's values are bound to. A row-scoped model's row without a scope (NULL or not
   * a scope in its column) throws `ScopeRequiredError` naming the field: its row fails, nothing
   * of it is sealed or opened unscoped.
   */
  of(target: ColumnTarget, row: StoredRow): string | undefined {
    if (!target.scopeField) return this.runScope
    const at = { model: target.model, field: target.field }
    if (row.scope === null || row.scope === undefined) {
      throw new ScopeRequiredError(at, `the row's ${target.scopeField.name} is NULL: a row-scoped row needs its scope to be sealed or read`)
    }
    return checkScope(row.scope, at)
  }

  /** Whether a target's rows each carry their own scope (a row-scoped model). */
  rowScoped(target: ColumnTarget): boolean {
    return target.scopeField !== undefined
  }

  /** Where data keys stand for values of `scope` (undefined: values written without a scope). */
  currency(scope: string | undefined): DataKeyCurrency {
    if (scope === undefined) return this.unscoped
    let currency = this.currencies.get(scope)
    if (!currency) {
      if (!this.scopeKeys) throw new ConfigurationError(`scope '${scope}': the run needs scopeKeys (the scope key provider)`)
      currency = new ScopedDataKeyCurrency(this.keyRing, this.scopeKeys, scope, this.timeoutMs)
      this.currencies.set(scope, currency)
    }
    return currency
  }

  /** The currency of the run's own scope (the blind-index root key is judged with its timeout). */
  get runCurrency(): DataKeyCurrency {
    return this.currency(this.runScope)
  }
}

/**
 * Each row's scope (see `RunScopes.of`). A row-scoped row without a scope fails (and its values
 * are dropped from the batch: nothing of it is sealed or opened).
 */
export function scopesOf(
  scopes: RunScopes,
  target: ColumnTarget,
  rows: readonly StoredRow[],
  batch: { outcomes: RowOutcome[]; elements: Array<unknown[] | undefined> },
): Array<string | undefined> {
  return rows.map((row, r) => {
    if (batch.outcomes[r]) return undefined
    // A `--scope` run touches that scope's rows only, compared exactly here whatever the SQL
    // filter matched (a collation blind to case or accents) or a retry re-read (a row moved meanwhile).
    if (target.scopeField && target.onlyScope !== undefined && row.scope !== target.onlyScope) {
      batch.outcomes[r] = skip('outside scope')
      batch.elements[r] = undefined
      return undefined
    }
    try {
      return scopes.of(target, row)
    } catch (err) {
      if (isFatal(err)) throw err
      batch.outcomes[r] = fail(err)
      batch.elements[r] = undefined
      return undefined
    }
  })
}
