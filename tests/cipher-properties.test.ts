import fc from 'fast-check'
import { EnvelopeEncryptor, FieldEncryptionError, fieldContext, type FieldContext } from '../src'
import { putTogether, takeApart } from './support/envelope-surgery'
import { testLocalKeys } from './support/keys'

/**
 * Property tests of the engine: any string (any Unicode) and any byte array round-trip through
 * EnvelopeEncryptor, in the same process and in a cold one; and any single-bit or
 * single-character change to a stored value, or reading it as another column's, is always
 * refused with a typed error (never a value).
 */
const keys = testLocalKeys()
const text = fieldContext('User', 'email', 'users', 'email')
const bytes = fieldContext('User', 'avatar', 'users', 'avatar', 'bytes')
const warm = new EnvelopeEncryptor({ keys, cache: { maxUses: 50 } })

/** Which encryptor reads: the one that encrypted (its cache knows the key), or a fresh one. */
const reader = fc.constantFrom('warm', 'cold')
const pick = (which: string) => (which === 'cold' ? new EnvelopeEncryptor({ keys }) : warm)

async function expectRefused(encryptor: EnvelopeEncryptor, value: unknown, ctx: FieldContext): Promise<void> {
  let outcome: unknown
  try {
    outcome = { returned: await encryptor.decrypt(value, ctx) }
  } catch (e) {
    outcome = e
  }
  expect(outcome).toBeInstanceOf(FieldEncryptionError)
  expect(outcome).toMatchObject({ model: ctx.model, field: ctx.field })
}

describe('round trip', () => {
  test('any Unicode string (full code-point range)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), reader, async (s, r) => {
        const stored = await warm.encrypt(s, text)
        expect(stored).toMatch(/^\$kfe\$[A-Za-z0-9_-]+$/)
        expect(await pick(r).decrypt(stored, text)).toBe(s)
      }),
      { numRuns: 300 },
    )
  })

  test('any string of graphemes, and of UTF-16 code units that are valid text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 50 }), fc.string({ unit: 'grapheme-composite', maxLength: 50 })),
        async (s) => {
          expect(await warm.decrypt(await warm.encrypt(s, text), text)).toBe(s)
        },
      ),
      { numRuns: 200 },
    )
  })

  test('any byte array, as bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 500 }), reader, async (b, r) => {
        const stored = await warm.encrypt(b, bytes)
        expect(stored).toBeInstanceOf(Uint8Array)
        expect(Array.from((stored as Uint8Array).subarray(0, 4))).toEqual([0x89, 0x4b, 0x46, 0x45])
        const back = await pick(r).decrypt(stored, bytes)
        expect(back).toBeInstanceOf(Uint8Array)
        expect(Buffer.from(back as Uint8Array).equals(Buffer.from(b))).toBe(true)
      }),
      { numRuns: 300 },
    )
  })

  test('batches mixing fields and kinds', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.uint8Array()), { maxLength: 30 }), reader, async (values, r) => {
        const items = values.map((value) => ({ value, ctx: typeof value === 'string' ? text : bytes }))
        const stored = await warm.encryptMany(items)
        const back = await pick(r).decryptMany(stored.map((value, i) => ({ value, ctx: items[i]!.ctx })))
        expect(back.map((v) => (typeof v === 'string' ? v : Array.from(v)))).toEqual(
          values.map((v) => (typeof v === 'string' ? v : Array.from(v))),
        )
      }),
      { numRuns: 100 },
    )
  })
})

describe('tampering is always refused', () => {
  const plaintext = fc.string({ unit: 'binary', maxLength: 80 })

  test('flipping any single bit of the header or body (text form)', async () => {
    await fc.assert(
      fc.asyncProperty(plaintext, fc.nat(), reader, async (s, bit, r) => {
        const parts = takeApart((await warm.encrypt(s, text)) as string)
        const all = Buffer.concat([parts.header, parts.body])
        const i = bit % (all.length * 8)
        all[i >> 3]! ^= 1 << (i & 7)
        const altered = putTogether({ ...parts, header: all.subarray(0, parts.header.length), body: all.subarray(parts.header.length) })
        await expectRefused(pick(r), altered, text)
      }),
      { numRuns: 500 },
    )
  })

  test('flipping any single bit of a stored byte array (prefix included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 80 }), fc.nat(), reader, async (b, bit, r) => {
        const stored = Buffer.from((await warm.encrypt(b, bytes)) as Uint8Array)
        const i = bit % (stored.length * 8)
        stored[i >> 3]! ^= 1 << (i & 7)
        await expectRefused(pick(r), stored, bytes)
      }),
      { numRuns: 500 },
    )
  })

  test('exhaustively: every single bit of one text value and one bytes value', async () => {
    const forms: Array<[Buffer, FieldContext, (b: Buffer) => unknown]> = []
    const parts = takeApart((await warm.encrypt('every bit', text)) as string)
    const textBytes = Buffer.concat([parts.header, parts.body])
    forms.push([
      textBytes,
      text,
      (b) => putTogether({ ...parts, header: b.subarray(0, parts.header.length), body: b.subarray(parts.header.length) }),
    ])
    forms.push([Buffer.from((await warm.encrypt(Buffer.from('every bit'), bytes)) as Uint8Array), bytes, (b) => b])
    const cold = new EnvelopeEncryptor({ keys })
    for (const [original, ctx, rebuild] of forms) {
      for (let i = 0; i < original.length * 8; i++) {
        const altered = Buffer.from(original)
        altered[i >> 3]! ^= 1 << (i & 7)
        for (const r of [warm, cold]) await expectRefused(r, rebuild(altered), ctx)
      }
    }
  })

  test('replacing any single character of the text form with any other character', async () => {
    await fc.assert(
      fc.asyncProperty(
        plaintext,
        fc.nat(),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
        reader,
        async (s, pos, replacement, r) => {
          const stored = (await warm.encrypt(s, text)) as string
          const i = pos % stored.length
          fc.pre(stored[i] !== replacement)
          await expectRefused(pick(r), stored.slice(0, i) + replacement + stored.slice(i + 1), text)
        },
      ),
      { numRuns: 500 },
    )
  })

  test('replacing any character with another base64url character (stays well-formed text)', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')
    await fc.assert(
      fc.asyncProperty(plaintext, fc.nat(), fc.constantFrom(...alphabet), reader, async (s, pos, replacement, r) => {
        const stored = (await warm.encrypt(s, text)) as string
        const i = 5 + (pos % (stored.length - 5))
        fc.pre(stored[i] !== replacement)
        await expectRefused(pick(r), stored.slice(0, i) + replacement + stored.slice(i + 1), text)
      }),
      { numRuns: 500 },
    )
  })

  test('truncating or extending a value', async () => {
    await fc.assert(
      fc.asyncProperty(plaintext, fc.integer({ min: 1, max: 200 }), fc.boolean(), reader, async (s, n, cut, r) => {
        const stored = (await warm.encrypt(s, text)) as string
        const altered = cut ? stored.slice(0, Math.max(0, stored.length - n)) : stored + 'A'.repeat(n)
        await expectRefused(pick(r), altered, text)
      }),
      { numRuns: 200 },
    )
  })
})

describe('a value is bound to its table and column', () => {
  const identifier = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_0123456789'.split('')), minLength: 1, maxLength: 12 })

  test('read as any other (table, column) it is refused, including the same column name in another table', async () => {
    await fc.assert(
      fc.asyncProperty(plaintext(), identifier, identifier, identifier, identifier, reader, async (s, t1, c1, t2, c2, r) => {
        fc.pre(t1 !== t2 || c1 !== c2)
        const from = fieldContext('A', 'a', t1, c1)
        const stored = await warm.encrypt(s, from)
        expect(await pick(r).decrypt(stored, fieldContext('Renamed', 'model', t1, c1))).toBe(s) // model and field names are not bound
        await expectRefused(pick(r), stored, fieldContext('B', 'b', t2, c2))
        if (t2 !== t1) await expectRefused(pick(r), stored, fieldContext('B', 'b', t2, c1)) // same column name, another table
      }),
      { numRuns: 200 },
    )
  })

  test('no two (table, column) pairs share their binding (no ambiguity in the separator)', async () => {
    const stored = await warm.encrypt('x', fieldContext('A', 'a', 'ab', 'c'))
    await expectRefused(warm, stored, fieldContext('A', 'a', 'a', 'bc'))
    await expectRefused(warm, stored, fieldContext('A', 'a', 'abc', ''))
  })

  function plaintext() {
    return fc.string({ unit: 'binary', maxLength: 40 })
  }
})
