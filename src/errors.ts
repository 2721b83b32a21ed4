/**
 * Every error the library throws. Each has a stable `code` and names the model and field it
 * concerns. None ever carries a plaintext value, a data key or a master key in its message
 * or properties.
 */

export interface FieldLocation {
  model?: string
  field?: string
}

/**
 * Every stable error code of the library: the `code` of each error class below, plus the codes
 * the migration gives rows that fail without an error of their own (see {@link MigrationErrorCode}).
 */
export type ErrorCode =
  | 'KFE_SCHEMA_ANNOTATION'
  | 'KFE_INVALID_FIELD_VALUE'
  | 'KFE_UNSUPPORTED_QUERY'
  | 'KFE_BLIND_INDEX_WRITE'
  | 'KFE_BLIND_INDEX_RECOMPUTE'
  | 'KFE_NOT_ENCRYPTED'
  | 'KFE_MALFORMED_CIPHERTEXT'
  | 'KFE_DECRYPTION_FAILED'
  | 'KFE_UNKNOWN_KEY_PROVIDER'
  | KeyProviderErrorCode
  | 'KFE_CONFIGURATION'
  | 'KFE_STORED_VALUE_MISMATCH'
  | 'KFE_SCOPE_KEY_SHREDDED'
  | 'KFE_SCOPE_KEY_NOT_FOUND'
  | 'KFE_SCOPE_REQUIRED'
  | 'KFE_SCOPE_CHANGE'
  | 'KFE_KEY_HEADER_MISSING'
  | 'KFE_KEY_HEADER_WRITE'
  | MigrationErrorCode

/**
 * Reasons the migration gives a row that fails without an error of the library:
 * - `KFE_MIGRATION_CONFLICT`: the value kept changing under compare-and-set (`maxAttempts` reached);
 * - `KFE_PFE_KEY_REQUIRED`: a prisma-field-encryption value, and no `--from-pfe-key` to read it;
 * - `KFE_UNEXPECTED`: an error that is not one of the library's (a bug, a driver error).
 */
export type MigrationErrorCode = 'KFE_MIGRATION_CONFLICT' | 'KFE_PFE_KEY_REQUIRED' | 'KFE_UNEXPECTED'

export abstract class FieldEncryptionError extends Error {
  abstract readonly code: ErrorCode
  readonly model?: string
  readonly field?: string

  constructor(message: string, location: FieldLocation = {}, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.model = location.model
    this.field = location.field
  }
}

function where(location: FieldLocation): string {
  if (location.model && location.field) return `${location.model}.${location.field}`
  return location.model ?? location.field ?? 'value'
}

/** The generator found an annotation it cannot honour (wrong type, unknown option...). */
export class SchemaAnnotationError extends FieldEncryptionError {
  readonly code = 'KFE_SCHEMA_ANNOTATION'
  constructor(location: FieldLocation, problem: string) {
    super(`${where(location)}: ${problem}`, location)
  }
}

/** A value given to an encrypted field has the wrong type (e.g. a number for a String field). */
export class InvalidFieldValueError extends FieldEncryptionError {
  readonly code = 'KFE_INVALID_FIELD_VALUE'
  constructor(location: FieldLocation, expected: string, actualType: string) {
    super(`${where(location)}: expected ${expected}, got ${actualType}; nothing was written`, location)
  }
}

/** A query uses an encrypted field where the ciphertext cannot stand in (filter, orderBy...). */
export class UnsupportedEncryptedFieldQueryError extends FieldEncryptionError {
  readonly code = 'KFE_UNSUPPORTED_QUERY'
  readonly operator: string
  constructor(location: FieldLocation, operator: string, reason: string) {
    super(`${where(location)}: '${operator}' cannot be used on an encrypted field (${reason}); the query was not sent`, location)
    this.operator = operator
  }
}

/**
 * A write set a blind index column directly. The index is computed from its source field: set
 * the source (or null) and the index follows in the same statement.
 */
/** A key-header column (`/// @keyHeader(field)`) was written directly: it is written with its field's value, never by hand. */
export class KeyHeaderWriteError extends FieldEncryptionError {
  readonly code = 'KFE_KEY_HEADER_WRITE'
  readonly source: string
  constructor(location: FieldLocation, source: string) {
    super(
      `${where(location)}: a key header cannot be written directly; write '${source}' and its key header is written with it; nothing was written`,
      location,
    )
    this.source = source
  }
}

export class BlindIndexWriteError extends FieldEncryptionError {
  readonly code = 'KFE_BLIND_INDEX_WRITE'
  readonly source: string
  constructor(location: FieldLocation, source: string) {
    super(
      `${where(location)}: a blind index cannot be written directly; write '${source}' and its index is computed; nothing was written`,
      location,
    )
    this.source = source
  }
}

/** Recomputing a blind index failed on a row (e.g. two rows now have the same unique index value). */
export class BlindIndexRecomputeError extends FieldEncryptionError {
  readonly code = 'KFE_BLIND_INDEX_RECOMPUTE'
  /** The primary key of the row, by field name. */
  readonly primaryKey: Record<string, unknown>
  constructor(location: FieldLocation, primaryKey: Record<string, unknown>, options?: { cause?: unknown }) {
    super(
      `${where(location)}: the blind index of a row could not be updated (see primaryKey and cause); rows before it are done, run again to resume`,
      location,
      options,
    )
    this.primaryKey = primaryKey
  }
}

/** A stored value is not in this library's format (and plaintext reads were not allowed). */
export class NotEncryptedError extends FieldEncryptionError {
  readonly code = 'KFE_NOT_ENCRYPTED'
  constructor(location: FieldLocation) {
    super(`${where(location)}: the stored value is not an encrypted value; set readPlaintext: true while migrating existing rows`, location)
  }
}

/**
 * A stored value is in prisma-field-encryption's format (`v1.aesgcm256.…`) and no key of that
 * library was given (`pfeKeys`): it is refused, never returned as if it were plaintext.
 */
export class PfeKeyRequiredError extends FieldEncryptionError {
  readonly code = 'KFE_PFE_KEY_REQUIRED'
  constructor(location: FieldLocation) {
    super(
      `${where(location)}: the stored value was written by prisma-field-encryption; pass its keys (pfeKeys, e.g. pfeKeysFromEnv()) to read it, and run \`encrypt --from-pfe-key\` to convert it`,
      location,
    )
  }
}

/** A stored value looks like ours but cannot be parsed (truncated, unknown version...). */
export class MalformedCiphertextError extends FieldEncryptionError {
  readonly code = 'KFE_MALFORMED_CIPHERTEXT'
  constructor(location: FieldLocation, problem: string) {
    super(`${where(location)}: malformed encrypted value (${problem})`, location)
  }
}

/** Authentication failed: the value was altered, truncated, or moved from another column or scope. */
export class DecryptionFailedError extends FieldEncryptionError {
  readonly code = 'KFE_DECRYPTION_FAILED'
  constructor(
    location: FieldLocation,
    reason = 'authentication failed: the value was altered, or belongs to another column or another scope (tenant)',
  ) {
    super(`${where(location)}: ${reason}`, location)
  }
}

/**
 * A short value (format version 2) whose data key is not in the cache, read without its key
 * header (the companion column holding the encrypted data key): it cannot be opened. The Prisma
 * extension meets this on a cold read, which omits key headers, and reads them then; anywhere
 * else it means the key-header column was not read, or is empty for an encrypted value.
 */
export class KeyHeaderMissingError extends FieldEncryptionError {
  readonly code = 'KFE_KEY_HEADER_MISSING'
  constructor(location: FieldLocation) {
    super(
      `${where(location)}: the value's key header (its encrypted data key, in the @keyHeader column) was not read or is empty`,
      location,
    )
  }
}

/** The value names a key provider that is not configured. */
export class UnknownKeyProviderError extends FieldEncryptionError {
  readonly code = 'KFE_UNKNOWN_KEY_PROVIDER'
  readonly providerId: string
  constructor(providerId: string, location: FieldLocation = {}) {
    super(`${where(location)}: no key provider with id '${providerId}' is configured`, location)
    this.providerId = providerId
  }
}

/** A key provider could not produce or unwrap a data key. `reason` says which failure class. */
export type KeyProviderFailure =
  | 'unavailable' // throttled, network, 5xx, timeout
  | 'access-denied'
  | 'wrong-key' // the wrapped key belongs to a key the application did not configure
  | 'disabled'
  | 'pending-deletion'
  | 'invalid-ciphertext' // the wrapped key is mangled or its context differs
  | 'aws-managed-key'
  | 'not-found'
  | 'misconfigured'

/** The `code` of a {@link KeyProviderError}, one per {@link KeyProviderFailure}. */
export const KEY_PROVIDER_ERROR_CODES = {
  unavailable: 'KFE_KEY_UNAVAILABLE',
  'access-denied': 'KFE_KEY_ACCESS_DENIED',
  'wrong-key': 'KFE_KEY_WRONG_KEY',
  disabled: 'KFE_KEY_DISABLED',
  'pending-deletion': 'KFE_KEY_PENDING_DELETION',
  'invalid-ciphertext': 'KFE_KEY_INVALID_CIPHERTEXT',
  'aws-managed-key': 'KFE_KEY_AWS_MANAGED_KEY',
  'not-found': 'KFE_KEY_NOT_FOUND',
  misconfigured: 'KFE_KEY_MISCONFIGURED',
} as const satisfies Record<KeyProviderFailure, `KFE_KEY_${string}`>

export type KeyProviderErrorCode = (typeof KEY_PROVIDER_ERROR_CODES)[KeyProviderFailure]

export class KeyProviderError extends FieldEncryptionError {
  readonly code: KeyProviderErrorCode
  readonly reason: KeyProviderFailure
  readonly providerId: string
  constructor(providerId: string, reason: KeyProviderFailure, message: string, options?: { cause?: unknown; location?: FieldLocation }) {
    const loc = options?.location ?? {}
    super(`${loc.model || loc.field ? where(loc) + ': ' : ''}key provider '${providerId}': ${message}`, loc, options)
    this.providerId = providerId
    this.reason = reason
    this.code = KEY_PROVIDER_ERROR_CODES[reason]
  }

  /** The same failure, now naming the model and field whose value needed the key. */
  at(location: FieldLocation): KeyProviderError {
    if (this.model || this.field) return this
    const base = this.message.replace(/^key provider/, 'key provider')
    const err = new KeyProviderError(this.providerId, this.reason, base.replace(/^key provider '[^']*': /, ''), {
      cause: this.cause,
      location,
    })
    return err
  }
}

/** The configuration itself is wrong (bad master key length, duplicate provider ids...). */
export class ConfigurationError extends FieldEncryptionError {
  readonly code = 'KFE_CONFIGURATION'
  constructor(message: string) {
    super(message)
  }
}

/**
 * The database stored something other than the ciphertext sent (e.g. MySQL outside strict
 * sql_mode truncates a value too long for its column and commits the row). The write must not
 * look successful: the stored value can never be decrypted. Names model and field, never a value.
 */
export class StoredValueMismatchError extends FieldEncryptionError {
  readonly code = 'KFE_STORED_VALUE_MISMATCH'
  constructor(location: FieldLocation, problem: string) {
    super(`${where(location)}: ${problem}`, location)
  }
}

/**
 * The key of a scope (a tenant) was shredded: its values can never be read again, and nothing
 * more is written for it (a shredded scope is not silently re-created). `scope` is the scope id
 * as the application gave it: an identifier, not a secret, so it is in the message.
 */
export class ScopeKeyShreddedError extends FieldEncryptionError {
  readonly code = 'KFE_SCOPE_KEY_SHREDDED'
  readonly scope: string
  constructor(scope: string, location: FieldLocation = {}) {
    super(`${where(location)}: the key of scope '${scope}' was shredded; its values cannot be read and nothing is written for it`, location)
    this.scope = scope
  }
}

/**
 * A read-only view of the scope keys (the CLI's `status`, `decrypt`, `shred`) found no key for a
 * scope: nothing was ever written under it, and the view does not create one.
 */
export class ScopeKeyNotFoundError extends FieldEncryptionError {
  readonly code = 'KFE_SCOPE_KEY_NOT_FOUND'
  readonly scope: string
  constructor(scope: string, location: FieldLocation = {}) {
    super(`${where(location)}: no key for scope '${scope}'`, location)
    this.scope = scope
  }
}

/**
 * A scoped value or query without what it needs: no `scopeKeys` configured for a scoped value,
 * or a malformed scope id. Nothing was written or sent.
 */
export class ScopeRequiredError extends FieldEncryptionError {
  readonly code = 'KFE_SCOPE_REQUIRED'
  constructor(location: FieldLocation, problem: string) {
    super(`${where(location)}: ${problem}; nothing was written or sent`, location)
  }
}

/**
 * An update would move a row of a row-scoped model (`@encryptionScope`) to another scope: its other
 * encrypted values stay sealed under the old scope and cannot be re-encrypted without reading them.
 * Nothing was written. Copy the row (read, create under the new scope, delete) instead.
 */
export class ScopeChangeError extends FieldEncryptionError {
  readonly code = 'KFE_SCOPE_CHANGE'
  constructor(location: FieldLocation, problem = 'the scope of a row cannot change') {
    super(`${where(location)}: ${problem}; nothing was written`, location)
  }
}

/**
 * Whether an error must stop a whole run rather than fail one value or row: the key provider is
 * unreachable or misconfigured (every row would fail the same way, and a later run will do
 * better), or the error is not one of the library's (a database error, a bug). Judged by the
 * error's `code`, so errors from another copy of the library (a config file's) count the same.
 */
export function isFatal(err: unknown): boolean {
  const code = libraryCodeOf(err)
  return code === undefined || code === 'KFE_KEY_UNAVAILABLE' || code === 'KFE_KEY_MISCONFIGURED'
}

/** The stable code of one of the library's errors (`KFE_...`), or undefined. */
export function libraryCodeOf(err: unknown): ErrorCode | undefined {
  if (err instanceof FieldEncryptionError) return err.code
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  // Another copy of the library (a config file's own import) throws its own classes, same codes.
  return typeof code === 'string' && code.startsWith('KFE_') ? (code as ErrorCode) : undefined
}
