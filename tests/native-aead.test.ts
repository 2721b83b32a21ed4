import { execFileSync } from 'node:child_process'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { EnvelopeEncryptor, fieldContext, LocalKeyProvider } from '../src'
import { AesGcmKey } from '../src/cipher/aes-gcm'
import { RandomIvs } from '../src/cipher/random-ivs'
import {
  aeadBackend,
  aeadFallbackReason,
  loadNativeAead,
  nativeAead,
  passesKnownAnswerTest,
  type NativeAead,
} from '../src/cipher/native-aead'
import { DataKeyEntry } from '../src/engine/data-key-entry'
import { decodeBase64Url } from '../src/format/strict-base64url'

/**
 * The native AES-256-GCM addon and node:crypto, side by side on the same inputs: the same bytes
 * out, each opens what the other sealed, both refuse what was altered; the addon is used where
 * its prebuilt binary exists (linux-x64 glibc, this repository's prebuilds/) and node:crypto
 * everywhere else; keys are wiped when released.
 */
const ROOT = join(__dirname, '..')
const hasPrebuild =
  process.platform === 'linux' &&
  process.arch === 'x64' &&
  !!(process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime

function nodeSeal(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(aad)
  return Buffer.concat([iv, c.update(plaintext), c.final(), c.getAuthTag()])
}

function nodeOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
  d.setAAD(aad)
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()])
}

/** An IV source that hands out one given IV (to compare seals byte for byte). */
const fixedIv = (iv: Buffer) => ({ take: () => iv }) as unknown as RandomIvs

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a))
const inputs = fc.record({ key: bytes(32, 32), iv: bytes(12, 12), aad: bytes(0, 80), plaintext: bytes(0, 600) })

test('the prebuilt addon is what this platform uses (linux-x64 glibc), node:crypto elsewhere', () => {
  if (hasPrebuild && process.env.KFE_NATIVE !== '0') {
    expect(aeadBackend()).toBe('native')
    expect(aeadFallbackReason()).toBeUndefined()
    expect(new AesGcmKey(randomBytes(32)).isNative).toBe(true)
  } else {
    expect(aeadBackend()).toBe('node:crypto')
    expect(aeadFallbackReason()).toBeDefined()
  }
})

const native = nativeAead
const describeNative = native ? describe : describe.skip

describeNative('native and node:crypto agree', () => {
  test('native seal equals node:crypto seal byte for byte; each opens the other’s (bytes and text)', () => {
    fc.assert(
      fc.property(inputs, ({ key, iv, aad, plaintext }) => {
        const fast = new AesGcmKey(Buffer.from(key))
        const slow = new AesGcmKey(Buffer.from(key), false)
        expect(fast.isNative && !slow.isNative).toBe(true)
        const expected = nodeSeal(key, iv, plaintext, aad)
        const sealedFast = fast.seal(plaintext, aad, fixedIv(iv))
        expect(sealedFast.equals(expected)).toBe(true)
        expect(slow.seal(plaintext, aad, fixedIv(iv)).equals(expected)).toBe(true)
        expect(fast.open(expected, aad).equals(plaintext)).toBe(true)
        expect(nodeOpen(key, sealedFast, aad).equals(plaintext)).toBe(true)
        expect(slow.open(sealedFast, aad).equals(plaintext)).toBe(true)
        // Any bytes, valid UTF-8 or not, decode to the same string as Buffer#toString does.
        expect(fast.openText(expected, aad)).toBe(plaintext.toString('utf8'))
        expect(slow.openText(sealedFast, aad)).toBe(plaintext.toString('utf8'))
        fast.destroy()
        slow.destroy()
      }),
      { numRuns: 400 },
    )
  })

  test('one key seals and opens in any order (the context switches direction without re-keying)', () => {
    const key = randomBytes(32)
    const fast = new AesGcmKey(Buffer.from(key))
    const ivs = new RandomIvs(64)
    const sealed: Array<[Buffer, Buffer]> = []
    for (let i = 0; i < 64; i++) {
      const plain = randomBytes(i * 7)
      const box = fast.seal(plain, Buffer.from(`aad${i}`), ivs)
      sealed.push([box, plain])
      expect(fast.open(sealed[i >> 1]![0], Buffer.from(`aad${i >> 1}`)).equals(sealed[i >> 1]![1])).toBe(true)
      expect(nodeOpen(key, box, Buffer.from(`aad${i}`)).equals(plain)).toBe(true)
    }
    fast.destroy()
  })

  test('a flipped bit in the tag, ciphertext, IV or AAD, or a wrong key, is refused by both', () => {
    const cases = fc.record({
      input: inputs,
      where: fc.constantFrom('iv', 'ciphertext', 'tag', 'aad', 'key'),
      bit: fc.nat(),
    })
    fc.assert(
      fc.property(cases, ({ input: { key, iv, aad, plaintext }, where, bit }) => {
        const sealed = nodeSeal(key, iv, plaintext, aad)
        const box = Buffer.from(sealed)
        const k = Buffer.from(key)
        let a = Buffer.from(aad)
        const flip = (b: Buffer, from: number, to: number) => {
          if (to <= from) return false
          const i = from + ((bit >>> 3) % (to - from))
          b[i]! ^= 1 << (bit & 7)
          return true
        }
        const flipped =
          where === 'iv'
            ? flip(box, 0, 12)
            : where === 'ciphertext'
              ? flip(box, 12, box.length - 16)
              : where === 'tag'
                ? flip(box, box.length - 16, box.length)
                : where === 'aad'
                  ? a.length > 0
                    ? flip(a, 0, a.length)
                    : ((a = Buffer.from([bit & 0xff])), true)
                  : flip(k, 0, 32)
        fc.pre(flipped)
        for (const cipher of [new AesGcmKey(Buffer.from(k)), new AesGcmKey(Buffer.from(k), false)]) {
          expect(() => cipher.open(box, a)).toThrow()
          expect(() => cipher.openText(box, a)).toThrow()
          cipher.destroy()
        }
      }),
      { numRuns: 300 },
    )
  })

  test('a value too short to hold an IV and a tag is refused, not read out of bounds', () => {
    const fast = new AesGcmKey(randomBytes(32))
    for (const n of [0, 1, 12, 27]) {
      expect(() => fast.open(Buffer.alloc(n))).toThrow(RangeError)
      expect(() => fast.openText(Buffer.alloc(n))).toThrow(RangeError)
    }
    expect(() => native!.newKey(Buffer.alloc(16))).toThrow(/32-byte key/)
    expect(() => native!.seal(native!.newKey(randomBytes(32)), Buffer.alloc(8), Buffer.alloc(1), Buffer.alloc(0))).toThrow(/12-byte IV/)
    expect(() => native!.open({} as never, Buffer.alloc(40), Buffer.alloc(0))).toThrow(/not a key handle/)
    fast.destroy()
  })
})

describeNative('openTextBase64Url (the read walk: a body opened from the stored text)', () => {
  test('opens what node:crypto sealed, from any offset, exactly as decoding in JS then openText does', () => {
    fc.assert(
      fc.property(inputs, fc.string({ maxLength: 20 }), ({ key, iv, aad, plaintext }, prefix) => {
        const text = Buffer.from(plaintext.toString('utf8'), 'utf8') // valid UTF-8, as text fields hold
        const sealed = nodeSeal(key, iv, text, aad)
        const handle = nativeAead!.newKey(key)
        try {
          const stored = prefix + sealed.toString('base64url')
          // JS string offsets: a prefix of ASCII only (as our prefixes are) keeps UTF-8 and UTF-16 offsets equal.
          const ascii = /^[\x00-\x7f]*$/.test(prefix)
          if (ascii) expect(nativeAead!.openTextBase64Url!(handle, stored, prefix.length, aad)).toBe(text.toString('utf8'))
          const flipped = Buffer.from(sealed)
          flipped[flipped.length - 1]! ^= 1
          expect(nativeAead!.openTextBase64Url!(handle, flipped.toString('base64url'), 0, aad)).toBeNull()
        } finally {
          nativeAead!.destroy(handle)
        }
      }),
      { numRuns: 200 },
    )
  })

  test('refuses (undefined) exactly the texts the strict JS decoder refuses, and short bodies', () => {
    const key = randomBytes(32)
    const aad = Buffer.from('a')
    const handle = nativeAead!.newKey(key)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    try {
      fc.assert(
        fc.property(fc.string({ unit: fc.constantFrom(...alphabet.split(''), '=', '+', '/', ' ', 'é', '\u0141'), maxLength: 60 }), (t) => {
          const strict = decodeBase64Url(t)
          const got = nativeAead!.openTextBase64Url!(handle, t, 0, aad)
          if (!strict || strict.length < 28) expect(got).toBeUndefined()
          else expect(got).toBeNull() // canonical and long enough: decoded, and fails authentication
        }),
        { numRuns: 2000 },
      )
      expect(nativeAead!.openTextBase64Url!(handle, 'abc', 9, aad)).toBeUndefined() // offset past the end
    } finally {
      nativeAead!.destroy(handle)
    }
  })

  test('texts around and above the stack copy (1,024 UTF-8 bytes) open the same', () => {
    const key = randomBytes(32)
    const handle = nativeAead!.newKey(key)
    try {
      for (const n of [700, 730, 740, 745, 760, 800, 3000, 10_000]) {
        const plain = Buffer.from('ü'.repeat(n / 2))
        const stored = '$kf2$0123456789ab' + nodeSeal(key, randomBytes(12), plain, Buffer.alloc(0)).toString('base64url')
        expect(nativeAead!.openTextBase64Url!(handle, stored, 17, Buffer.alloc(0))).toBe(plain.toString('utf8'))
      }
    } finally {
      nativeAead!.destroy(handle)
    }
  })

  test('AesGcmKey.openTextBase64Url: the addon on a native key, undefined on a node:crypto key (the caller decodes)', () => {
    const key = randomBytes(32)
    const sealed = nodeSeal(key, randomBytes(12), Buffer.from('zoë'), Buffer.alloc(0))
    const native = new AesGcmKey(Buffer.from(key))
    const js = new AesGcmKey(Buffer.from(key), false)
    expect(native.openTextBase64Url('$kf2$' + sealed.toString('base64url'), 5)).toBe('zoë')
    expect(js.openTextBase64Url('$kf2$' + sealed.toString('base64url'), 5)).toBeUndefined()
    native.destroy()
    js.destroy()
    expect(() => native.openTextBase64Url('x', 0)).toThrow(/after destroy/)
  })
})

describe('the fallback to node:crypto', () => {
  test('is taken when the binary is absent (node-gyp-build finds nothing under the directory)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'kfe-no-addon-'))
    try {
      expect(loadNativeAead(empty)).toBe('no prebuilt binary for this platform')
      // A file with the addon's name that is not a loadable library is no addon either.
      writeFileSync(join(empty, 'package.json'), '{"name":"x"}')
      execFileSync('mkdir', ['-p', join(empty, 'prebuilds', `${process.platform}-${process.arch}`)])
      writeFileSync(join(empty, 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.glibc.node'), 'not an ELF file')
      writeFileSync(join(empty, 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.musl.node'), 'not an ELF file')
      expect(loadNativeAead(empty)).toBe('no prebuilt binary for this platform')
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })

  test('is taken when the addon gets a known answer wrong', () => {
    if (!native) return expect(aeadBackend()).toBe('node:crypto')
    const wrongSeal: NativeAead = { ...native, seal: (h, iv, p, a) => Buffer.from(native.seal(h, iv, p, a).fill(0, 12, 13)) }
    const acceptsForgeries: NativeAead = { ...native, open: (h, b) => Buffer.alloc(b.length - 28) }
    const wrongText: NativeAead = { ...native, openText: () => 'x' }
    const throws: NativeAead = {
      ...native,
      newKey: () => {
        throw new Error('broken')
      },
    }
    for (const broken of [wrongSeal, acceptsForgeries, wrongText]) expect(passesKnownAnswerTest(broken)).toBe(false)
    expect(() => passesKnownAnswerTest(throws)).toThrow()
    expect(passesKnownAnswerTest(native)).toBe(true)
    expect(loadNativeAead(ROOT)).not.toEqual(expect.any(String))
  })

  test('KFE_NATIVE=0 selects node:crypto, and values cross between the two backends both ways', () => {
    const masterKey = LocalKeyProvider.generateMasterKey()
    const ctx = fieldContext('User', 'email', 'users', 'email')
    const child = (env: NodeJS.ProcessEnv, stored: string) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            '--import',
            'tsx',
            '-e',
            `const { EnvelopeEncryptor, LocalKeyProvider, fieldContext } = require('./src')
             const { aeadBackend, aeadFallbackReason } = require('./src/cipher/native-aead')
             const enc = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey: process.env.MK }) })
             const ctx = fieldContext('User', 'email', 'users', 'email')
             ;(async () => {
               const read = await enc.decrypt(process.env.STORED, ctx)
               const written = await enc.encrypt('from the child ✓', ctx)
               console.log(JSON.stringify({ backend: aeadBackend(), reason: aeadFallbackReason() ?? null, read, written }))
             })()`,
          ],
          { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env, MK: masterKey, STORED: stored } },
        ),
      ) as { backend: string; reason: string | null; read: string; written: string }
    return (async () => {
      const enc = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ masterKey }) })
      const stored = (await enc.encrypt('from the parent ✓', ctx)) as string
      const off = child({ KFE_NATIVE: '0' }, stored)
      expect(off).toMatchObject({ backend: 'node:crypto', reason: 'disabled by KFE_NATIVE=0', read: 'from the parent ✓' })
      expect(await enc.decrypt(off.written, ctx)).toBe('from the child ✓')
      const on = child({ KFE_NATIVE: '' }, off.written)
      expect(on).toMatchObject({ backend: hasPrebuild ? 'native' : 'node:crypto', read: 'from the child ✓' })
      expect(await enc.decrypt(on.written, ctx)).toBe('from the child ✓')
    })()
  }, 60_000)
})

describe('key material is wiped when released', () => {
  test('AesGcmKey.destroy zeroes the key, frees the native context, and any later use throws', () => {
    const bytesOfKey = randomBytes(32)
    const key = new AesGcmKey(bytesOfKey)
    const sealed = key.seal(Buffer.from('x'))
    key.destroy()
    expect(bytesOfKey.every((b) => b === 0)).toBe(true)
    expect(key.destroyed).toBe(true)
    expect(key.isNative).toBe(false)
    expect(() => key.seal(Buffer.from('x'))).toThrow(/after destroy/)
    expect(() => key.open(sealed)).toThrow(/after destroy/)
    expect(() => key.openText(sealed)).toThrow(/after destroy/)
    key.destroy() // idempotent
  })

  describeNative('native handle', () => {
    test('a destroyed native context refuses every use (it is freed, not merely flagged in JS)', () => {
      const handle = native!.newKey(randomBytes(32))
      const sealed = native!.seal(handle, randomBytes(12), Buffer.from('v'), Buffer.alloc(0))
      native!.destroy(handle)
      expect(() => native!.seal(handle, randomBytes(12), Buffer.from('v'), Buffer.alloc(0))).toThrow(/key destroyed/)
      expect(() => native!.open(handle, sealed, Buffer.alloc(0))).toThrow(/key destroyed/)
      expect(() => native!.openText(handle, sealed, Buffer.alloc(0))).toThrow(/key destroyed/)
      native!.destroy(handle) // twice is harmless
    })
  })

  test('a DataKeyEntry released for the last time destroys its AesGcmKey; use after release throws', () => {
    const keyBytes = randomBytes(32)
    const entry = new DataKeyEntry('local', Buffer.alloc(1), Buffer.alloc(3), 'h', keyBytes)
    const aes = entry.key
    expect(aes.isNative).toBe(aeadBackend() === 'native')
    entry.retain()
    entry.release()
    expect(aes.destroyed).toBe(false)
    expect(keyBytes.every((b) => b === 0)).toBe(false)
    entry.release()
    expect(aes.destroyed).toBe(true)
    expect(keyBytes.every((b) => b === 0)).toBe(true)
    expect(() => entry.key).toThrow(/after release/)
    expect(() => aes.seal(Buffer.from('x'))).toThrow(/after destroy/)
  })
})
