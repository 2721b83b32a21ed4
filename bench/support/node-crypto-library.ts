import { join, sep } from 'node:path'

/**
 * The library's Prisma extension loaded a second time, every module of src/ fresh, with
 * KFE_NATIVE=0 at load: the same code on node:crypto AES-GCM instead of the native addon, so
 * that one run times both backends side by side. The first load's modules are put back after.
 */
export function fieldEncryptionOnNodeCrypto(): typeof import('../../src/prisma/extension').fieldEncryption {
  const src = join(__dirname, '..', '..', 'src') + sep
  const ours = (k: string) => k.startsWith(src)
  const saved = Object.entries(require.cache).filter(([k]) => ours(k))
  for (const [k] of saved) delete require.cache[k]
  const before = process.env.KFE_NATIVE
  process.env.KFE_NATIVE = '0'
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a second, fresh load is the point
    const lib = require('../../src/prisma/extension') as typeof import('../../src/prisma/extension')
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the same fresh load
    const native = require('../../src/cipher/native-aead') as typeof import('../../src/cipher/native-aead')
    if (native.aeadBackend() !== 'node:crypto') throw new Error('second load is not on node:crypto')
    return lib.fieldEncryption
  } finally {
    if (before === undefined) delete process.env.KFE_NATIVE
    else process.env.KFE_NATIVE = before
    for (const k of Object.keys(require.cache)) if (ours(k)) delete require.cache[k]
    for (const [k, m] of saved) require.cache[k] = m
  }
}
