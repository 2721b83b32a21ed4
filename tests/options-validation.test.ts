import { encryptionModel } from './support/test-encryption-model'
import * as generatedModule from '../prisma/generated/encryption'
import {
  ConfigurationError,
  EnvelopeEncryptor,
  fieldEncryption,
  LocalKeyProvider,
  type FieldEncryptionOptions,
  type MigrationOptions,
  type RecomputeBlindIndexesOptions,
} from '../src'
import { checkKeysOrEncryptor } from '../src/engine/keys-or-encryptor'
import type { TypeOrmEncryptionOptions } from '../src/typeorm'

/**
 * Options are checked when the extension (or the core encryptor) is built: every mistake is a
 * ConfigurationError naming the option, never a raw TypeError on the first query.
 */
const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })

function configurationError(build: () => unknown): ConfigurationError {
  let error: unknown
  try {
    build()
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(ConfigurationError)
  return error as ConfigurationError
}

/** Options a caller could write in JavaScript (or with a cast), whatever the types say. */
const untyped = (o: Record<string, unknown>) => o as unknown as FieldEncryptionOptions

describe('fieldEncryption options are validated at construction', () => {
  test.each([
    ['cache.maxUses: 2.5', { cache: { maxUses: 2.5 } }, /options\.cache\.maxUses must be a positive whole number, got 2\.5/],
    ['cache.maxUses: 0', { cache: { maxUses: 0 } }, /cache\.maxUses/],
    ['cache.maxUses: 2^33', { cache: { maxUses: 2 ** 33 } }, /cache\.maxUses must be at most 2\^32/],
    ['cache.maxDecryptionKeys: "10"', { cache: { maxDecryptionKeys: '10' } }, /cache\.maxDecryptionKeys/],
    ['cache.maxAgeMs: NaN', { cache: { maxAgeMs: Number.NaN } }, /cache\.maxAgeMs must be a positive number/],
    ['cache: true', { cache: true }, /options\.cache must be an object of limits or false/],
    ['providerTimeoutMs: -1', { providerTimeoutMs: -1 }, /options\.providerTimeoutMs/],
    ['onEvent: "log"', { onEvent: 'log' }, /options\.onEvent must be a function/],
  ])('%s', (_name, extra, message) => {
    const error = configurationError(() => fieldEncryption(untyped({ model: encryptionModel, keys, ...extra })))
    expect(error.message).toMatch(message)
  })

  test('model: undefined', () => {
    expect(configurationError(() => fieldEncryption(untyped({ model: undefined, keys }))).message).toMatch(/options\.model is required/)
  })

  test('the whole generated module passed as the model', () => {
    const error = configurationError(() => fieldEncryption(untyped({ model: generatedModule, keys })))
    expect(error.message).toMatch(/options\.model is the generated module, not its encryptionModel/)
  })

  test('a model of another shape', () => {
    expect(configurationError(() => fieldEncryption(untyped({ model: { version: 2, models: {} }, keys }))).message).toMatch(
      /format version 1/,
    )
    const broken = { version: 1, models: { User: { name: 'User' } } }
    expect(configurationError(() => fieldEncryption(untyped({ model: broken, keys }))).message).toMatch(/options\.model\.models\.User/)
  })

  test('no keys, empty keys, or something that is not a key provider', () => {
    expect(configurationError(() => fieldEncryption(untyped({ model: encryptionModel }))).message).toMatch(/options\.keys is required/)
    expect(configurationError(() => fieldEncryption(untyped({ model: encryptionModel, keys: [] }))).message).toMatch(/at least one/)
    expect(configurationError(() => fieldEncryption(untyped({ model: encryptionModel, keys: [keys, {}] }))).message).toMatch(
      /options\.keys\[1\] is not a key provider/,
    )
    expect(configurationError(() => fieldEncryption(untyped({ model: encryptionModel, keys: 'base64key' }))).message).toMatch(
      /options\.keys is not a key provider/,
    )
  })

  test('keys and an encryptor together, or an encryptor that is not one', () => {
    const encryptor = new EnvelopeEncryptor({ keys })
    expect(configurationError(() => fieldEncryption(untyped({ model: encryptionModel, keys, encryptor }))).message).toMatch(
      /either keys .* or an encryptor/,
    )
    expect(configurationError(() => fieldEncryption(untyped({ model: encryptionModel, encryptor: {} }))).message).toMatch(
      /options\.encryptor must be an EnvelopeEncryptor/,
    )
    expect(() => fieldEncryption({ model: encryptionModel, encryptor })).not.toThrow()
  })

  test('the options themselves missing', () => {
    expect(configurationError(() => fieldEncryption(undefined as unknown as FieldEncryptionOptions)).message).toMatch(
      /expected an options object/,
    )
  })
})

describe('the core encryptor validates its options (every adapter gets the same checks)', () => {
  test.each([
    ['cache.maxUses: 2.5', { keys, cache: { maxUses: 2.5 } }, /encryptor options\.cache\.maxUses must be a positive whole number/],
    [
      'cache.decryptionKeyTtlMs: Infinity',
      { keys, cache: { decryptionKeyTtlMs: Infinity } },
      /encryptor options\.cache\.decryptionKeyTtlMs/,
    ],
    ['no keys', {}, /encryptor options\.keys is required/],
    ['keys: { id }', { keys: { id: 'x' } }, /encryptor options\.keys is not a key provider/],
  ])('%s', (_name, options, message) => {
    expect(configurationError(() => new EnvelopeEncryptor(options as never)).message).toMatch(message)
  })

  test('valid options still build', () => {
    expect(() => new EnvelopeEncryptor({ keys, cache: false, providerTimeoutMs: 500 })).not.toThrow()
    expect(() => new EnvelopeEncryptor({ keys: [keys], cache: { maxUses: 2 ** 32 } })).not.toThrow()
  })
})

describe('keys or an encryptor: one core type and one check for every adapter', () => {
  const encryptor = new EnvelopeEncryptor({ keys })

  test('TypeScript refuses both, and neither, in fieldEncryption, encryptDataSource and the migration', () => {
    // Checked by `npm run typecheck`: a `@ts-expect-error` line that compiles fails it.
    const prisma: FieldEncryptionOptions[] = [
      { model: encryptionModel, keys, cache: false },
      { model: encryptionModel, encryptor, providerTimeoutMs: 500 },
      // @ts-expect-error keys and an encryptor
      { model: encryptionModel, keys, encryptor },
      // @ts-expect-error neither keys nor an encryptor
      { model: encryptionModel },
      // @ts-expect-error the cache belongs to the encryptor given
      { model: encryptionModel, encryptor, cache: false },
    ]
    const typeorm: TypeOrmEncryptionOptions[] = [
      { keys, onEvent: () => undefined },
      { encryptor, providerTimeoutMs: 500 },
      // @ts-expect-error keys and an encryptor
      { keys, encryptor },
      // @ts-expect-error neither keys nor an encryptor
      { blindIndex: {} },
      // @ts-expect-error readPlaintext belongs to the encryptor given
      { encryptor, readPlaintext: true },
    ]
    const migration: MigrationOptions[] = [
      { model: encryptionModel, database: 'pglite:memory', keys },
      { model: encryptionModel, database: 'pglite:memory', encryptor },
      // @ts-expect-error keys and an encryptor
      { model: encryptionModel, database: 'pglite:memory', keys, encryptor },
      // @ts-expect-error neither keys nor an encryptor
      { model: encryptionModel, database: 'pglite:memory' },
    ]
    const recompute: RecomputeBlindIndexesOptions[] = [
      { model: encryptionModel, database: 'pglite:memory', modelName: 'User', keys, readPlaintext: true },
      // @ts-expect-error readPlaintext belongs to the encryptor given
      { model: encryptionModel, database: 'pglite:memory', modelName: 'User', encryptor, readPlaintext: true },
    ]
    expect([prisma.length, typeorm.length, migration.length, recompute.length]).toEqual([5, 5, 4, 2])
  })

  test('JavaScript callers get the same refusals at run time, naming their options', () => {
    expect(configurationError(() => checkKeysOrEncryptor({ keys, encryptor }, 'encryptDataSource options')).message).toMatch(
      /^encryptDataSource options: give either keys .* or an encryptor, not both/,
    )
    expect(configurationError(() => checkKeysOrEncryptor({ encryptor, onEvent: () => undefined }, 'encrypt')).message).toMatch(
      /^encrypt: give either keys \(and onEvent\) or an encryptor, not both/,
    )
    expect(configurationError(() => checkKeysOrEncryptor({}, 'rotate')).message).toMatch(/^rotate needs `encryptor` or `keys`/)
    expect(configurationError(() => checkKeysOrEncryptor({ encryptor: {} }, 'decrypt')).message).toMatch(
      /^decrypt\.encryptor must be an EnvelopeEncryptor/,
    )
    expect(() => checkKeysOrEncryptor({ encryptor }, 'status')).not.toThrow()
    expect(() => checkKeysOrEncryptor({ keys, cache: { maxUses: 10 } }, 'status')).not.toThrow()
  })
})
