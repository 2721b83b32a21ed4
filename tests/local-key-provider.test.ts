import { randomBytes } from 'node:crypto'
import { ConfigurationError, EnvelopeEncryptor, fieldContext, KeyProviderError, LocalKeyProvider } from '../src'

/**
 * The embedded key provider: master-key validation, configuration from the environment,
 * rotation with previous keys, and the typed errors for keys it does not have.
 */
const ctx = fieldContext('User', 'email', 'users', 'email')
const newKey = () => LocalKeyProvider.generateMasterKey()

describe('master keys', () => {
  test('generateMasterKey gives base64 of 32 fresh random bytes', () => {
    const a = newKey()
    expect(Buffer.from(a, 'base64')).toHaveLength(32)
    expect(Buffer.from(a, 'base64').toString('base64')).toBe(a)
    expect(newKey()).not.toBe(a)
  })

  test.each([
    ['31 bytes', randomBytes(31)],
    ['33 bytes', randomBytes(33)],
    ['no bytes', Buffer.alloc(0)],
    ['base64 of 16 bytes', randomBytes(16).toString('base64')],
    ['hex of 32 bytes', randomBytes(32).toString('hex')],
    ['empty text', ''],
  ])('a master key of the wrong length is refused (%s), without echoing it', (_, masterKey) => {
    let error: unknown
    try {
      new LocalKeyProvider({ masterKey })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toMatch(/masterKey must be 32 bytes/)
    const shown = typeof masterKey === 'string' ? masterKey : masterKey.toString('base64')
    if (shown.length > 0) expect((error as Error).message).not.toContain(shown)
  })

  test('a previous key of the wrong length is refused, naming which one', () => {
    expect(() => new LocalKeyProvider({ masterKey: newKey(), previousKeys: [newKey(), randomBytes(8)] })).toThrow(
      /previousKeys\[1\] must be 32 bytes/,
    )
  })

  test('accepts the key as a Buffer or as base64 text (surrounding whitespace ignored), with the same result', async () => {
    const key = newKey()
    const fromText = new LocalKeyProvider({ masterKey: `  ${key}\n` })
    const fromBuffer = new LocalKeyProvider({ masterKey: Buffer.from(key, 'base64') })
    const { plaintext, wrapped } = await fromText.generateDataKey()
    expect((await fromBuffer.unwrapDataKey(wrapped)).equals(plaintext)).toBe(true)
  })
})

describe('data keys', () => {
  test('are 32 fresh bytes, wrapped in 68 bytes, and unwrap to the same bytes', async () => {
    const provider = new LocalKeyProvider({ masterKey: newKey() })
    const a = await provider.generateDataKey()
    const b = await provider.generateDataKey()
    expect(a.plaintext).toHaveLength(32)
    expect(a.wrapped).toHaveLength(68)
    expect(a.plaintext.equals(b.plaintext)).toBe(false)
    expect(a.wrapped.includes(a.plaintext)).toBe(false)
    expect((await provider.unwrapDataKey(a.wrapped)).equals(a.plaintext)).toBe(true)
  })

  test('an altered or truncated wrapped key fails as invalid-ciphertext', async () => {
    const provider = new LocalKeyProvider({ masterKey: newKey() })
    const { wrapped } = await provider.generateDataKey()
    for (const at of [8, 20, 40, 67]) {
      const altered = Buffer.from(wrapped)
      altered[at]! ^= 1
      await expect(provider.unwrapDataKey(altered)).rejects.toMatchObject({
        reason: 'invalid-ciphertext',
        code: 'KFE_KEY_INVALID_CIPHERTEXT',
      })
    }
    await expect(provider.unwrapDataKey(wrapped.subarray(0, 67))).rejects.toMatchObject({ reason: 'invalid-ciphertext' })
    await expect(provider.unwrapDataKey(Buffer.alloc(0))).rejects.toBeInstanceOf(KeyProviderError)
  })

  test('the provider id is configurable and recorded in each value', async () => {
    const provider = new LocalKeyProvider({ masterKey: newKey(), id: 'tenant-a' })
    expect(provider.id).toBe('tenant-a')
    const stored = (await new EnvelopeEncryptor({ keys: provider }).encrypt('x', ctx)) as string
    const header = Buffer.from(stored.slice(5, 5 + 148), 'base64url')
    expect(header.toString('ascii', 4, 4 + header[3]!)).toBe('tenant-a')
  })
})

describe('destroy', () => {
  it('zeroes the master keys: every later call fails with KeyProviderError', async () => {
    const provider = new LocalKeyProvider({ masterKey: randomBytes(32), previousKeys: [randomBytes(32)] })
    const { wrapped, plaintext } = await provider.generateDataKey()
    expect((await provider.unwrapDataKey(wrapped)).equals(plaintext)).toBe(true)
    provider.destroy()
    await expect(provider.generateDataKey()).rejects.toBeInstanceOf(KeyProviderError)
    await expect(provider.unwrapDataKey(wrapped)).rejects.toBeInstanceOf(KeyProviderError)
    await expect(provider.blindIndexRootKey()).rejects.toBeInstanceOf(KeyProviderError)
  })
})

describe('rotation with previous keys', () => {
  test('values wrapped under an older key still decrypt; new values use the current key', async () => {
    const [oldKey, currentKey] = [newKey(), newKey()]
    const before = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey: oldKey }) })
    const oldValues = await before.encryptMany(['a', 'b'].map((value) => ({ value, ctx })))

    const rotated = new LocalKeyProvider({ masterKey: currentKey, previousKeys: [oldKey] })
    const after = new EnvelopeEncryptor({ keys: rotated })
    expect(await after.decryptMany(oldValues.map((value) => ({ value, ctx })))).toEqual(['a', 'b'])
    const newValue = await after.encrypt('c', ctx)
    expect(await after.classify(oldValues[0], ctx)).toBe('older')
    expect(await after.classify(newValue, ctx)).toBe('current')
    expect(await after.classify('plain', ctx)).toBe('plaintext')

    // The current key alone reads the new value but not the old ones.
    const currentOnly = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey: currentKey }) })
    expect(await currentOnly.decrypt(newValue, ctx)).toBe('c')
    await expect(currentOnly.decrypt(oldValues[0], ctx)).rejects.toMatchObject({ reason: 'wrong-key' })
  })

  test('a value wrapped under a key that is not configured fails with KeyProviderError wrong-key, naming the field', async () => {
    const stored = await new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey: newKey() }) }).encrypt('secret value', ctx)
    const stranger = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey: newKey(), previousKeys: [newKey()] }) })
    const error = await stranger.decrypt(stored, ctx).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyProviderError)
    expect(error).toMatchObject({ reason: 'wrong-key', code: 'KFE_KEY_WRONG_KEY', providerId: 'local', model: 'User', field: 'email' })
    expect((error as Error).message).toContain('User.email')
    expect((error as Error).message).not.toContain('secret value')
  })

  test('isCurrent tells the current key from previous ones', async () => {
    const [oldKey, currentKey] = [newKey(), newKey()]
    const { wrapped: old } = await new LocalKeyProvider({ masterKey: oldKey }).generateDataKey()
    const rotated = new LocalKeyProvider({ masterKey: currentKey, previousKeys: [oldKey] })
    const { wrapped: current } = await rotated.generateDataKey()
    expect(rotated.isCurrent(old)).toBe(false)
    expect(rotated.isCurrent(current)).toBe(true)
    expect(rotated.isCurrent(current.subarray(1))).toBe(false)
  })
})

describe('fromEnv', () => {
  test('without KFE_LOCAL_MASTER_KEY it says what to set', () => {
    expect(() => LocalKeyProvider.fromEnv({})).toThrow(ConfigurationError)
    expect(() => LocalKeyProvider.fromEnv({ KFE_LOCAL_MASTER_KEY: '' })).toThrow(/KFE_LOCAL_MASTER_KEY is not set/)
  })

  test('reads the master key and a comma-separated list of previous keys', async () => {
    const [k1, k2, k3] = [newKey(), newKey(), newKey()]
    const wrappedBy = async (key: string) => (await new LocalKeyProvider({ masterKey: key }).generateDataKey()).wrapped
    const provider = LocalKeyProvider.fromEnv({ KFE_LOCAL_MASTER_KEY: k3, KFE_LOCAL_PREVIOUS_KEYS: ` ${k1} ,${k2},` })
    expect(provider.id).toBe('local')
    for (const key of [k1, k2, k3]) await expect(provider.unwrapDataKey(await wrappedBy(key))).resolves.toHaveLength(32)
    await expect(provider.unwrapDataKey(await wrappedBy(newKey()))).rejects.toMatchObject({ reason: 'wrong-key' })
    const { wrapped } = await provider.generateDataKey()
    expect(provider.isCurrent(wrapped)).toBe(true)
  })

  test('a malformed key in the environment is refused without being echoed', () => {
    const bad = randomBytes(20).toString('base64')
    let error: unknown
    try {
      LocalKeyProvider.fromEnv({ KFE_LOCAL_MASTER_KEY: newKey(), KFE_LOCAL_PREVIOUS_KEYS: bad })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).not.toContain(bad)
  })

  test('defaults to process.env', () => {
    const saved = { master: process.env.KFE_LOCAL_MASTER_KEY, previous: process.env.KFE_LOCAL_PREVIOUS_KEYS }
    try {
      process.env.KFE_LOCAL_MASTER_KEY = newKey()
      delete process.env.KFE_LOCAL_PREVIOUS_KEYS
      expect(LocalKeyProvider.fromEnv()).toBeInstanceOf(LocalKeyProvider)
    } finally {
      if (saved.master === undefined) delete process.env.KFE_LOCAL_MASTER_KEY
      else process.env.KFE_LOCAL_MASTER_KEY = saved.master
      if (saved.previous !== undefined) process.env.KFE_LOCAL_PREVIOUS_KEYS = saved.previous
    }
  })
})

describe('key material never shows when a provider is logged', () => {
  it('JSON.stringify, util.inspect and String() carry no master key, current or previous', () => {
    const current = randomBytes(32)
    const previous = randomBytes(32)
    const provider = new LocalKeyProvider({ masterKey: current, previousKeys: [previous.toString('base64')] })
    const shown = [
      JSON.stringify(provider),
      require('node:util').inspect(provider, { depth: 10, showHidden: true }),
      String(provider),
    ].join('\n')
    for (const key of [current, previous]) {
      for (const form of [key.toString('base64'), key.toString('hex'), [...key].join(',')]) expect(shown).not.toContain(form)
    }
    expect(shown).toContain('local') // the id is not secret and does show
  })
})
