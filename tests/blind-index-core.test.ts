import { randomBytes } from 'node:crypto'
import { BlindIndexBatch } from '../src/blind-index/blind-index-batch'
import type { BlindIndexField } from '../src/blind-index/blind-index-field'
import { deriveBlindIndexKey } from '../src/blind-index/blind-index-key'
import { BlindIndexer } from '../src/blind-index/blind-indexer'
import { foldsCase, normalizationProblem, normalizeForBlindIndex } from '../src/blind-index/normalize'
import { isStoredIndex, isStoredIndexPrefix, storedIndexVersion } from '../src/blind-index/stored-index-format'
import { ConfigurationError, InvalidFieldValueError, KeyProviderError } from '../src/errors'
import { LocalKeyProvider } from '../src/keys/local-key-provider'

const email: BlindIndexField = {
  model: 'User',
  source: 'email',
  index: 'emailIndex',
  table: 'users',
  sourceColumn: 'email',
  column: 'email_index',
  normalize: ['lowercase', 'trim'],
  unique: true,
}
const exact: BlindIndexField = { ...email, normalize: [] }
const root = Buffer.from(Array.from({ length: 32 }, (_, i) => i))

async function loaded(fields: BlindIndexField[], options: ConstructorParameters<typeof BlindIndexer>[1]): Promise<BlindIndexer> {
  const indexer = new BlindIndexer(fields, options)
  await indexer.load()
  return indexer
}

describe('normalisation', () => {
  it.each([
    [['lowercase'], 'ÀDA@Example.COM', 'àda@example.com'],
    [['uppercase'], 'straße', 'STRASSE'],
    [['trim'], '\u00a0\t ada \n\ufeff', 'ada'],
    [['spaces'], ' a \t\n b\u2003\u2003c ', ' a b c '],
    [['diacritics'], 'Ångström Zoë façade', 'Angstrom Zoe facade'],
    [['diacritics'], 'A\u030angstro\u0308m', 'Angstrom'], // already decomposed
    [['trim', 'spaces', 'lowercase'], '  Ada   LOVELACE  ', 'ada lovelace'],
    [[], '  Ada ', '  Ada '],
  ] as const)('%j turns %j into %j', (steps, input, output) => {
    expect(normalizeForBlindIndex(input, steps)).toBe(output)
  })

  it('applies the steps in the order given', () => {
    // spaces then trim: the collapsed run at the end is trimmed; trim then spaces: a space stays.
    expect(normalizeForBlindIndex(' a  b\t', ['spaces', 'trim'])).toBe('a b')
    expect(normalizeForBlindIndex('\ta  b ', ['trim', 'spaces'])).toBe('a b')
    expect(normalizeForBlindIndex(' X ', ['trim', 'lowercase'])).toBe('x')
  })

  it('keeps spacing combining marks (diacritics strips only non-spacing marks)', () => {
    // हिन्दी: the virama (U+094D, Mn) goes; the vowel signs ि and ी (U+093F, U+0940, Mc) stay.
    expect(normalizeForBlindIndex('\u0939\u093f\u0928\u094d\u0926\u0940', ['diacritics'])).toBe('\u0939\u093f\u0928\u0926\u0940')
  })

  it('reports unknown, repeated and contradictory steps', () => {
    expect(normalizationProblem(['lowercase', 'trim'])).toBeUndefined()
    expect(normalizationProblem(['lower'])).toMatch(/unknown normalization 'lower'/)
    expect(normalizationProblem(['trim', 'trim'])).toMatch(/listed twice/)
    expect(normalizationProblem(['lowercase', 'uppercase'])).toMatch(/cannot both/)
    expect(foldsCase(['trim'])).toBe(false)
    expect(foldsCase(['uppercase'])).toBe(true)
  })
})

describe('index values', () => {
  it('match the published construction (known answers computed independently with Python hmac/hashlib)', async () => {
    // key = HKDF-SHA256(root, salt = "", info = "kms-field-encryption/blind-index" 0 version 0 table 0 column)
    // value = "v" version ":" base64url(HMAC-SHA256(key, normalised UTF-8))
    const v1 = await loaded([email], { rootKey: root })
    expect(v1.compute(email, '  ADA@example.com ')).toBe('v1:JofYKWu807Nl4K7CmUPRCnpNPiCIYWlIbmXF5aVHZSk')
    const v2 = await loaded([email], { rootKey: root, version: 2 })
    expect(v2.compute(email, 'ada@example.com')).toBe('v2:SThq9sqrGl6ZhnIWdGcHmRSlZ0ZnDch_uQO4-A9btS4')
    const contacts: BlindIndexField = {
      ...exact,
      model: 'Contact',
      source: 'nickname',
      index: 'nicknameIndex',
      table: 'contacts',
      sourceColumn: 'nickname',
      column: 'nickname_index',
    }
    const c = await loaded([contacts], { rootKey: root })
    expect(c.compute(contacts, 'Zoë')).toBe('v1:4_V5DtJ_6TyWpMrywr3apOffW6SztN_olynOKGqSEgQ')
  })

  it('differ per table, column, version and root key, and equal plaintexts after normalisation match', async () => {
    const a = await loaded([email], { rootKey: root })
    const same = a.compute(email, 'ada@example.com')
    expect(a.compute(email, ' ADA@EXAMPLE.COM\t')).toBe(same)
    expect(a.compute({ ...email, table: 'admins' }, 'ada@example.com')).not.toBe(same)
    expect(a.compute({ ...email, column: 'other_index' }, 'ada@example.com')).not.toBe(same)
    expect((await loaded([email], { rootKey: randomBytes(32) })).compute(email, 'ada@example.com')).not.toBe(same)
    expect(deriveBlindIndexKey(root, 1, 'users', 'email_index')).not.toEqual(deriveBlindIndexKey(root, 2, 'users', 'email_index'))
    // Not a plain hash: without the key the value cannot be recomputed from the plaintext.
    expect(same).not.toContain(require('node:crypto').createHash('sha256').update('ada@example.com').digest('base64url'))
  })

  it('are recognised by their stored form', () => {
    expect(storedIndexVersion('v12:' + 'A'.repeat(43))).toBe(12)
    expect(isStoredIndex('v1:' + 'A'.repeat(42))).toBe(false)
    expect(isStoredIndex('ada@example.com')).toBe(false)
    expect(isStoredIndex('v0:' + 'A'.repeat(43))).toBe(false)
    expect(isStoredIndexPrefix('v2:')).toBe(true)
    expect(isStoredIndexPrefix('v2:a')).toBe(false)
  })
})

describe('BlindIndexer', () => {
  it('matches every configured version, current first, each with its own root key and normalisation', async () => {
    const oldRoot = randomBytes(32)
    const now = await loaded([email], {
      rootKey: root,
      version: 3,
      previous: [{ version: 2 }, { version: 1, rootKey: oldRoot, normalize: { 'User.emailIndex': ['trim'] } }],
    })
    const candidates = now.candidates(email, ' Ada@Example.com')
    expect(candidates.map(storedIndexVersion)).toEqual([3, 2, 1])
    expect(candidates[1]).toBe((await loaded([email], { rootKey: root, version: 2 })).compute(email, 'ada@example.com'))
    // Version 1 did not lowercase: its value is that of the trimmed, case-preserved text.
    const v1 = await loaded([{ ...email, normalize: ['trim'] }], { rootKey: oldRoot })
    expect(candidates[2]).toBe(v1.compute({ ...email, normalize: ['trim'] }, 'Ada@Example.com'))
    expect(now.compute(email, 'ada@example.com')).toBe(candidates[0])
  })

  it('fetches each root key once, shares it between versions, and retries a failed fetch', async () => {
    let calls = 0
    let fail = true
    const provider = {
      id: 'flaky',
      async blindIndexRootKey() {
        calls++
        if (fail) throw new KeyProviderError('flaky', 'unavailable', 'throttled')
        return Buffer.from(root)
      },
    }
    const indexer = new BlindIndexer([email], { rootKey: provider, version: 2, previous: { version: 1 } })
    await expect(Promise.all([indexer.load(), indexer.load()])).rejects.toMatchObject({ code: 'KFE_KEY_UNAVAILABLE' })
    expect(calls).toBe(1)
    expect(() => indexer.compute(email, 'x')).toThrow(/not loaded/)
    fail = false
    await Promise.all([indexer.load(), indexer.load()])
    await indexer.load()
    expect(calls).toBe(2)
    expect(indexer.candidates(email, 'x')).toHaveLength(2)
    indexer.clear()
    expect(() => indexer.compute(email, 'x')).toThrow(/not loaded/)
  })

  it('takes the root key from a LocalKeyProvider (derived from its master key), bytes, base64 or a function', async () => {
    const masterKey = LocalKeyProvider.generateMasterKey()
    const a = await loaded([email], { rootKey: new LocalKeyProvider({ masterKey }) })
    const b = await loaded([email], { rootKey: new LocalKeyProvider({ masterKey }) })
    expect(a.compute(email, 'x')).toBe(b.compute(email, 'x'))
    const fromProvider = await new LocalKeyProvider({ masterKey }).blindIndexRootKey()
    expect(fromProvider).not.toEqual(Buffer.from(masterKey, 'base64')) // derived, not the master key itself
    const c = await loaded([email], { rootKey: fromProvider.toString('base64') })
    const d = await loaded([email], { rootKey: async () => fromProvider })
    expect(c.compute(email, 'x')).toBe(a.compute(email, 'x'))
    expect(d.compute(email, 'x')).toBe(a.compute(email, 'x'))
  })

  it('refuses bad configuration with ConfigurationError', async () => {
    expect(() => new BlindIndexer([email], { rootKey: randomBytes(16) })).toThrow(ConfigurationError)
    expect(() => new BlindIndexer([email], { rootKey: 'c2hvcnQ=' })).toThrow(/at least 32 bytes/)
    expect(() => new BlindIndexer([email], { rootKey: { id: 'kms' } })).toThrow(/has no blind-index root key/)
    expect(() => new BlindIndexer([email], { rootKey: root, version: 0 })).toThrow(ConfigurationError)
    expect(() => new BlindIndexer([email], { rootKey: root, version: 2, previous: { version: 2 } })).toThrow(/configured twice/)
    expect(
      () => new BlindIndexer([email], { rootKey: root, version: 2, previous: { version: 1, normalize: { 'User.email': ['trim'] } } }),
    ).toThrow(/not a blind index/)
    expect(
      () =>
        new BlindIndexer([email], {
          rootKey: root,
          version: 2,
          previous: { version: 1, normalize: { 'User.emailIndex': ['trim', 'trim'] } },
        }),
    ).toThrow(/listed twice/)
    const short = new BlindIndexer([email], { rootKey: async () => randomBytes(8) })
    await expect(short.load()).rejects.toThrow(ConfigurationError)
  })
})

describe('BlindIndexBatch', () => {
  it('refuses a value that is not a string, naming model and field but never the value', () => {
    const batch = new BlindIndexBatch()
    const err = (() => {
      try {
        batch.request(email, 12345678, 'match')
      } catch (e) {
        return e as InvalidFieldValueError
      }
    })()
    expect(err).toBeInstanceOf(InvalidFieldValueError)
    expect(err).toMatchObject({ code: 'KFE_INVALID_FIELD_VALUE', model: 'User', field: 'email' })
    expect(err!.message).not.toContain('12345678')
  })

  it('fills write tickets with the current version and match tickets with every version, then runs finishers', async () => {
    const indexer = await loaded([email], { rootKey: root, version: 2, previous: { version: 1 } })
    const batch = new BlindIndexBatch()
    const w = batch.request(email, 'a', 'write')
    const m = batch.request(email, 'a', 'match')
    const seen: number[] = []
    batch.afterResolve(() => seen.push(w.hashes.length, m.hashes.length))
    batch.resolve(indexer)
    expect(seen).toEqual([1, 2])
    expect(w.hashes[0]).toBe(m.hashes[0])
  })
})
