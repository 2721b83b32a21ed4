import { DecryptionFailedError, EnvelopeEncryptor, fieldContext } from '../src'
import { WrittenValues } from '../src/prisma/written-values'
import { testLocalKeys } from './support/keys'

/** The shortcut that skips decrypting what a write has just encrypted must never skip a check. */
describe('WrittenValues', () => {
  const email = fieldContext('User', 'email', 'users', 'email')
  const phone = fieldContext('User', 'phone', 'users', 'phone')

  async function written() {
    const encryptor = new EnvelopeEncryptor({ keys: testLocalKeys() })
    const items = [
      { value: 'ada@example.com', ctx: email },
      { value: '+1 555 0100', ctx: phone },
    ]
    const stored = await encryptor.encryptMany(items)
    return { encryptor, stored: stored as string[], known: new WrittenValues(items, stored) }
  }

  test('values this query wrote come back without a decryption', async () => {
    const { encryptor, stored, known } = await written()
    const before = encryptor.stats().valuesDecrypted
    const out = await known.decryptMany(encryptor, [
      { value: stored[0], ctx: email },
      { value: stored[1], ctx: phone },
    ])
    expect(out).toEqual(['ada@example.com', '+1 555 0100'])
    expect(encryptor.stats().valuesDecrypted).toBe(before)
  })

  test('a written value that comes back in another column goes through decryption and is rejected', async () => {
    const { encryptor, stored, known } = await written()
    await expect(known.decryptMany(encryptor, [{ value: stored[0], ctx: phone }])).rejects.toBeInstanceOf(DecryptionFailedError)
  })

  test('an altered value goes through decryption and is rejected', async () => {
    const { encryptor, stored, known } = await written()
    const s = stored[0]!
    const altered = s.slice(0, -3) + (s.at(-3) === 'A' ? 'B' : 'A') + s.slice(-2)
    await expect(known.decryptMany(encryptor, [{ value: altered, ctx: email }])).rejects.toBeInstanceOf(DecryptionFailedError)
  })

  test('values the query did not write are decrypted as usual', async () => {
    const { encryptor, known } = await written()
    const other = (await encryptor.encrypt('someone@example.com', email)) as string
    expect(await known.decryptMany(encryptor, [{ value: other, ctx: email }])).toEqual(['someone@example.com'])
  })
})
