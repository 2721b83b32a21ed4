import { createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { IV_BYTES, KEY_BYTES, TAG_BYTES, open, seal } from '../cipher/aes-gcm'
import { ConfigurationError, KeyProviderError } from '../errors'
import { DATA_KEY_BYTES, type GeneratedDataKey, type KeyProvider } from './key-provider'

const MASTER_KEY_BYTES = KEY_BYTES
const FINGERPRINT_BYTES = 8
const WRAPPED_BYTES = FINGERPRINT_BYTES + IV_BYTES + DATA_KEY_BYTES + TAG_BYTES
const WRAP_AAD = Buffer.from('kms-field-encryption/local-wrap/v1')

export interface LocalKeyProviderOptions {
  /** The current master key: 32 bytes, as a Buffer or base64 text. New data keys are wrapped with it. */
  masterKey: Buffer | string
  /** Earlier master keys, still accepted for unwrapping (key rotation). */
  previousKeys?: Array<Buffer | string>
  /** Provider id stored in each value. Default `local`. */
  id?: string
}

interface MasterKey {
  key: Buffer
  fingerprint: Buffer
}

function toKey(input: Buffer | string, label: string): Buffer {
  const key = typeof input === 'string' ? Buffer.from(input.trim(), 'base64') : Buffer.from(input)
  if (key.length !== MASTER_KEY_BYTES) {
    throw new ConfigurationError(`${label} must be ${MASTER_KEY_BYTES} bytes (base64 of 32 random bytes); it has ${key.length}`)
  }
  return key
}

/** A stable, non-secret id for a master key: which key wrapped a data key, without revealing it. */
function fingerprintOf(key: Buffer): Buffer {
  return createHmac('sha256', key).update('kms-field-encryption/local-key-id/v1').digest().subarray(0, FINGERPRINT_BYTES)
}

/**
 * The embedded default: a 32-byte master key held by the application wraps data keys with
 * AES-256-GCM. No cloud needed; same interface as AWS KMS.
 */
export class LocalKeyProvider implements KeyProvider {
  readonly id: string
  // ES private fields: the master keys never show in JSON.stringify, util.inspect or console.log.
  readonly #current: MasterKey
  readonly #all: MasterKey[]
  #destroyed = false

  constructor(options: LocalKeyProviderOptions) {
    const primary = toKey(options.masterKey, 'LocalKeyProvider masterKey')
    this.#current = { key: primary, fingerprint: fingerprintOf(primary) }
    this.#all = [
      this.#current,
      ...(options.previousKeys ?? []).map((k, i) => {
        const key = toKey(k, `LocalKeyProvider previousKeys[${i}]`)
        return { key, fingerprint: fingerprintOf(key) }
      }),
    ]
    this.id = options.id ?? 'local'
  }

  /**
   * Reads `KFE_LOCAL_MASTER_KEY` (base64 of 32 bytes) and, for rotation,
   * `KFE_LOCAL_PREVIOUS_KEYS` (comma-separated base64 keys).
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): LocalKeyProvider {
    const masterKey = env.KFE_LOCAL_MASTER_KEY
    if (!masterKey) {
      throw new ConfigurationError('KFE_LOCAL_MASTER_KEY is not set; create one with `npx kms-field-encryption keygen`')
    }
    const previous = (env.KFE_LOCAL_PREVIOUS_KEYS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    return new LocalKeyProvider({ masterKey, previousKeys: previous })
  }

  /** A fresh random master key, base64 (what `keygen` prints). */
  static generateMasterKey(): string {
    return randomBytes(MASTER_KEY_BYTES).toString('base64')
  }

  /**
   * Zeroes the master keys this provider holds; every later call fails. For providers made per
   * scope (`localScopeKeys`), when their scope is shredded.
   */
  destroy(): void {
    this.#destroyed = true
    for (const master of this.#all) master.key.fill(0)
  }

  private assertUsable(): void {
    if (this.#destroyed) throw new KeyProviderError(this.id, 'unavailable', 'this key provider was destroyed (its keys are zeroed)')
  }

  async generateDataKey(): Promise<GeneratedDataKey> {
    this.assertUsable()
    const plaintext = randomBytes(DATA_KEY_BYTES)
    // wrapped: fingerprint | iv | ciphertext | tag
    const wrapped = Buffer.concat([this.#current.fingerprint, seal(this.#current.key, plaintext, WRAP_AAD)])
    return { plaintext, wrapped }
  }

  async unwrapDataKey(wrapped: Buffer): Promise<Buffer> {
    this.assertUsable()
    if (wrapped.length !== WRAPPED_BYTES) {
      throw new KeyProviderError(this.id, 'invalid-ciphertext', 'the wrapped data key has the wrong length')
    }
    const master = this.masterFor(wrapped)
    if (!master) {
      throw new KeyProviderError(this.id, 'wrong-key', 'the data key was wrapped by a master key that is not configured')
    }
    try {
      return open(master.key, wrapped.subarray(FINGERPRINT_BYTES), WRAP_AAD)
    } catch (cause) {
      throw new KeyProviderError(this.id, 'invalid-ciphertext', 'the wrapped data key failed authentication', { cause })
    }
  }

  isCurrent(wrapped: Buffer): boolean {
    return wrapped.length === WRAPPED_BYTES && wrapped.subarray(0, FINGERPRINT_BYTES).equals(this.#current.fingerprint)
  }

  async blindIndexRootKey(): Promise<Buffer> {
    this.assertUsable()
    return Buffer.from(hkdfSync('sha256', this.#current.key, Buffer.alloc(0), 'kms-field-encryption/blind-index-root/v1', DATA_KEY_BYTES))
  }

  private masterFor(wrapped: Buffer): MasterKey | undefined {
    const fp = wrapped.subarray(0, FINGERPRINT_BYTES)
    return this.#all.find((m) => m.fingerprint.equals(fp))
  }
}
