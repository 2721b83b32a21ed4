import { randomBytes } from 'node:crypto'
import { IV_BYTES } from './aes-gcm'

/** IV material drawn per call to the CSPRNG at most (bounds the memory a huge batch holds). */
const BLOCK_IVS = 4096

/**
 * Fresh random 96-bit IVs for a batch of values, drawn from the CSPRNG a block at a time: one
 * `randomBytes` call costs more than the whole cipher on a short value, and the bytes are just
 * as random when taken in one call. Every IV is handed out once: `take` never repeats a byte.
 */
export class RandomIvs {
  private pool: Buffer
  private offset = 0
  private left: number

  /** `count`: how many IVs the batch needs (more may be taken; they are drawn as needed). */
  constructor(count: number) {
    this.left = Math.max(1, count)
    this.pool = this.draw()
  }

  take(): Buffer {
    if (this.offset === this.pool.length) this.pool = this.draw()
    const iv = this.pool.subarray(this.offset, this.offset + IV_BYTES)
    this.offset += IV_BYTES
    return iv
  }

  private draw(): Buffer {
    const n = Math.min(Math.max(this.left, 1), BLOCK_IVS)
    this.left -= n
    this.offset = 0
    return randomBytes(n * IV_BYTES)
  }
}
