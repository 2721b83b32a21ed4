import { createServer, type Server, type Socket } from 'node:net'
import type { PGlite } from '@electric-sql/pglite'

/**
 * Serves one in-process PGlite to several PostgreSQL clients over TCP on 127.0.0.1, so that a
 * child process (the migration, killed with SIGKILL) and the test's own clients (a concurrent
 * application writer) share one embedded database, as they would share a server.
 *
 * PGlite is a single backend session. @electric-sql/pglite-socket queues each protocol message
 * separately, so two clients' extended-protocol messages (Parse/Bind/Execute/Sync) can interleave
 * on the shared unnamed statement; this server does not allow that:
 *   - a client's messages are run as whole units: everything up to and including Sync, or one
 *     simple Query, under one lock;
 *   - a client whose ReadyForQuery says it is in a transaction ('T' or 'E') keeps the lock until
 *     the transaction ends, so no other client's statement lands inside it;
 *   - a client that disconnects (or is killed) mid-transaction is rolled back.
 * In-process queries on the same PGlite (`db.query`) are serialised with the units too, but do not
 * wait for another client's open transaction. COPY is not supported (the migration does not use it).
 */
export class PgliteTcpServer {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private readonly lock = new FifoLock()

  constructor(readonly db: PGlite) {}

  /** Listens on an ephemeral port and returns a connection URL for `pg`. */
  async start(): Promise<string> {
    await this.db.waitReady
    const server = createServer((socket) => this.serve(socket))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const address = server.address()
    if (!address || typeof address === 'string') throw new Error('no TCP address')
    return `postgresql://postgres@127.0.0.1:${address.port}/postgres`
  }

  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
    // Let the per-socket cleanups (rollbacks) finish before the caller closes PGlite.
    await this.lock.run(async () => undefined)
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket)
    socket.setNoDelay(true)
    let buffer: Buffer = Buffer.alloc(0)
    let started = false
    let holding: (() => void) | undefined // the lock release, while in a transaction
    let closed = false
    let chain: Promise<void> = Promise.resolve()
    const pending: Buffer[] = [] // complete messages not yet run (up to the next Sync/Query)

    const runUnit = async (unit: Buffer): Promise<void> => {
      const release = holding ?? (await this.lock.acquire())
      holding = undefined
      let status = 'I'
      try {
        if (closed) return
        // runExclusive: PGlite's own query lock, so the test's in-process queries never land
        // between the messages of a unit either.
        const out = await this.db.runExclusive(() => this.db.execProtocolRaw(new Uint8Array(unit.buffer, unit.byteOffset, unit.byteLength)))
        status = lastReadyStatus(out) ?? status
        if (!closed && out.length > 0) socket.write(Buffer.from(out))
      } finally {
        if (!closed && (status === 'T' || status === 'E')) holding = release
        else if (closed && (status === 'T' || status === 'E')) await this.rollback(release)
        else release()
      }
    }

    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
      for (;;) {
        if (!started) {
          if (buffer.length < 8) return
          const length = buffer.readInt32BE(0)
          if (buffer.length < length) return
          const code = buffer.readInt32BE(4)
          const message = buffer.subarray(0, length)
          buffer = buffer.subarray(length)
          if (code === 80877103 || code === 80877104) {
            socket.write('N') // SSLRequest / GSSENCRequest: not supported, go on in clear
            continue
          }
          started = true
          chain = chain
            .then(() => runUnit(Buffer.from(message)))
            .catch(() => {
              socket.destroy()
            })
          continue
        }
        if (buffer.length < 5) return
        const length = 1 + buffer.readInt32BE(1)
        if (buffer.length < length) return
        const type = String.fromCharCode(buffer[0]!)
        const message = Buffer.from(buffer.subarray(0, length))
        buffer = buffer.subarray(length)
        if (type === 'X') {
          socket.end()
          return
        }
        pending.push(message)
        if (type === 'S' || type === 'Q' || type === 'H') {
          const unit = Buffer.concat(pending.splice(0))
          chain = chain
            .then(() => runUnit(unit))
            .catch(() => {
              socket.destroy()
            })
        }
      }
    })

    const cleanup = (): void => {
      if (closed) return
      closed = true
      this.sockets.delete(socket)
      chain = chain.then(async () => {
        const release = holding
        holding = undefined
        if (release) await this.rollback(release)
      })
    }
    socket.on('close', cleanup)
    socket.on('error', cleanup)
  }

  private async rollback(release: () => void): Promise<void> {
    try {
      if (this.db.isInTransaction()) await this.db.exec('ROLLBACK')
    } finally {
      release()
    }
  }
}

/** The transaction status of the last ReadyForQuery ('Z') message in a backend answer. */
function lastReadyStatus(out: Uint8Array): string | undefined {
  let status: string | undefined
  let o = 0
  while (o + 5 <= out.length) {
    const type = out[o]!
    const length = ((out[o + 1]! << 24) | (out[o + 2]! << 16) | (out[o + 3]! << 8) | out[o + 4]!) >>> 0
    if (type === 0x5a && length === 5 && o + 5 < out.length) status = String.fromCharCode(out[o + 5]!)
    o += 1 + length
  }
  return status
}

/** A first-come first-served async mutex. */
class FifoLock {
  private tail: Promise<void> = Promise.resolve()

  acquire(): Promise<() => void> {
    let release!: () => void
    const next = new Promise<void>((resolve) => (release = resolve))
    const ready = this.tail.then(() => release)
    this.tail = this.tail.then(() => next)
    return ready
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire()
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
