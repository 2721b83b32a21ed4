import { RandomIvs } from '../src/cipher/random-ivs'

describe('RandomIvs', () => {
  test('hands out 12-byte IVs that never repeat, across block refills and past the announced count', () => {
    const ivs = new RandomIvs(5000) // more than one 4,096-IV block
    const seen = new Set<string>()
    for (let i = 0; i < 5000 + 300; i++) {
      const iv = ivs.take()
      expect(iv).toHaveLength(12)
      seen.add(iv.toString('hex'))
    }
    expect(seen.size).toBe(5300)
  })

  test('two batches never share IVs', () => {
    const a = new RandomIvs(100)
    const b = new RandomIvs(100)
    const fromA = new Set(Array.from({ length: 100 }, () => a.take().toString('hex')))
    for (let i = 0; i < 100; i++) expect(fromA.has(b.take().toString('hex'))).toBe(false)
  })

  test('an IV taken earlier is not overwritten by later takes', () => {
    const ivs = new RandomIvs(1)
    const first = Buffer.from(ivs.take())
    const kept = ivs.take()
    const keptCopy = Buffer.from(kept)
    for (let i = 0; i < 10_000; i++) ivs.take()
    expect(kept.equals(keptCopy)).toBe(true)
    expect(first.equals(keptCopy)).toBe(false)
  })
})
