import type { GeneratedDataKey, KeyProvider } from '../../src/keys/key-provider'
import { LocalKeyProvider } from '../../src/keys/local-key-provider'
import { testLocalKeys } from './keys'

/**
 * A real LocalKeyProvider that counts its calls and keeps a reference to every plaintext data
 * key it hands out (so tests can check the engine zeroes them). Calls can be held at a gate
 * (to make concurrent callers really wait together) and made to fail.
 */
export class CountingKeyProvider implements KeyProvider {
  readonly id: string
  generateCalls = 0
  unwrapCalls = 0
  /** Every plaintext data key returned, as the very Buffer the caller received. */
  readonly handedOut: Buffer[] = []
  private gate: Promise<void> | undefined
  private failures: Error[] = []

  constructor(readonly inner: LocalKeyProvider = testLocalKeys()) {
    this.id = inner.id
  }

  /** Holds every call until the returned function is called. */
  hold(): () => void {
    let open!: () => void
    this.gate = new Promise<void>((resolve) => (open = resolve))
    return () => {
      this.gate = undefined
      open()
    }
  }

  /** The next `count` calls (of either kind) fail with `error`. */
  failNext(error: Error, count = 1): void {
    for (let i = 0; i < count; i++) this.failures.push(error)
  }

  async generateDataKey(): Promise<GeneratedDataKey> {
    this.generateCalls++
    await this.pass()
    const key = await this.inner.generateDataKey()
    this.handedOut.push(key.plaintext)
    return key
  }

  async unwrapDataKey(wrapped: Buffer): Promise<Buffer> {
    this.unwrapCalls++
    await this.pass()
    const key = await this.inner.unwrapDataKey(wrapped)
    this.handedOut.push(key)
    return key
  }

  isCurrent(wrapped: Buffer): boolean {
    return this.inner.isCurrent(wrapped)
  }

  private async pass(): Promise<void> {
    if (this.gate) await this.gate
    const failure = this.failures.shift()
    if (failure) throw failure
  }
}
