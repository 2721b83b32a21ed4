import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { KMSClient } from '@aws-sdk/client-kms'

/**
 * An AWS KMS look-alike on 127.0.0.1, so the real `@aws-sdk/client-kms` is tested on the wire:
 * AWS JSON 1.1 (`POST /`, `X-Amz-Target: TrentService.<Operation>`), blobs as standard base64,
 * timestamps as epoch seconds, errors as `{"__type", "message"}` with 400 (client) or 500 (server).
 *
 * Ciphertext blobs are real AES-256-GCM under per-key material, with the encryption context in
 * the additional authenticated data. Blob layout (the server's own, opaque to clients):
 *   0x01 | key id (36 ASCII bytes, a UUID) | material version (uint32 BE) | iv (12) | tag (16) | ct
 *
 * Faults on demand: `failNext(n, name)`, `dropConnections(n)`, `hang`, `latencyMs`.
 * `calls` counts every request received per operation, including ones that were failed, dropped
 * or left hanging by an injected fault (so SDK retries are visible).
 * Signatures are not checked.
 */

export const REGION = 'us-east-1'
export const ACCOUNT = '111122223333'
const ARN_PREFIX = `arn:aws:kms:${REGION}:${ACCOUNT}:`
const BLOB_VERSION = 0x01
const KEY_ID_BYTES = 36
const IV_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = 1 + KEY_ID_BYTES + 4
const MIN_BLOB_BYTES = HEADER_BYTES + IV_BYTES + TAG_BYTES

export const KMS_OPERATIONS = [
  'CreateKey',
  'CreateAlias',
  'DescribeKey',
  'GenerateDataKey',
  'Decrypt',
  'Encrypt',
  'ReEncrypt',
  'DisableKey',
  'EnableKey',
  'RotateKeyOnDemand',
  'ScheduleKeyDeletion',
] as const
export type KmsOperation = (typeof KMS_OPERATIONS)[number]
export type KmsFault = 'ThrottlingException' | 'KMSInternalException'

type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion'

interface TestKey {
  id: string
  arn: string
  description: string
  createdAt: number
  state: KeyState
  deletionDate?: number
  /** Key material by version; the last one encrypts, all decrypt (RotateKeyOnDemand). */
  materials: Buffer[]
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message)
  }
}

type Json = Record<string, unknown>

export class KmsTestServer {
  /** Requests received per operation (including faulted ones). */
  readonly calls: Record<KmsOperation, number> = zeroCounts()
  /** Added before every answer. */
  latencyMs = 0
  /** While true, requests are read and counted but never answered. */
  hang = false

  private server: Server | undefined
  private readonly keys = new Map<string, TestKey>()
  private readonly aliases = new Map<string, string>() // alias name -> key id
  private readonly sockets = new Set<Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private faults: { remaining: number; type: KmsFault } | undefined
  private drops = 0

  async start(): Promise<{ endpoint: string }> {
    if (this.server) throw new Error('KmsTestServer already started')
    const server = createServer((req, res) => this.onRequest(req, res))
    server.keepAliveTimeout = 5_000 // clients keep idle sockets for the hint minus 1 s; less defeats keep-alive
    server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const { port } = server.address() as AddressInfo
    return { endpoint: `http://127.0.0.1:${port}` }
  }

  /** Closes every connection (hung ones included) and the listener. */
  async stop(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    for (const s of this.sockets) s.destroy()
    await closed
  }

  /** The next `n` requests fail with `type` (ThrottlingException: 400, KMSInternalException: 500). */
  failNext(n: number, type: KmsFault): void {
    this.faults = n > 0 ? { remaining: n, type } : undefined
  }

  /** The next `n` requests have their socket destroyed without an answer. */
  dropConnections(n: number): void {
    this.drops = n
  }

  /** Answer normally again: no pending failures, drops, hang or latency. */
  clearFaults(): void {
    this.faults = undefined
    this.drops = 0
    this.hang = false
    this.latencyMs = 0
  }

  resetCounts(): void {
    for (const op of KMS_OPERATIONS) this.calls[op] = 0
  }

  /** GenerateDataKey + Decrypt + Encrypt + ReEncrypt requests received. */
  get cryptoCalls(): number {
    return this.calls.GenerateDataKey + this.calls.Decrypt + this.calls.Encrypt + this.calls.ReEncrypt
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '')
      const operation = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : ''
      if ((KMS_OPERATIONS as readonly string[]).includes(operation)) this.calls[operation as KmsOperation]++

      if (this.hang) return
      if (this.drops > 0) {
        this.drops--
        req.socket.destroy()
        return
      }
      const answer = (): void => {
        if (res.destroyed) return
        try {
          if (this.faults && this.faults.remaining > 0) {
            const { type } = this.faults
            if (--this.faults.remaining <= 0) this.faults = undefined
            throw type === 'KMSInternalException'
              ? new KmsError(type, 'The request was rejected because an internal exception occurred.', 500)
              : new KmsError(type, 'Rate exceeded')
          }
          if (req.method !== 'POST' || req.url !== '/') throw new KmsError('UnknownOperationException', 'POST / expected', 404)
          if (!(KMS_OPERATIONS as readonly string[]).includes(operation)) {
            throw new KmsError('UnknownOperationException', `unknown or unsupported operation '${target}'`)
          }
          const contentType = String(req.headers['content-type'] ?? '')
          if (!contentType.startsWith('application/x-amz-json-1.1')) {
            throw new KmsError('SerializationException', 'Content-Type must be application/x-amz-json-1.1')
          }
          let input: Json
          try {
            const text = Buffer.concat(chunks).toString('utf8')
            input = text ? (JSON.parse(text) as Json) : {}
          } catch {
            throw new KmsError('SerializationException', 'the request body is not valid JSON')
          }
          send(res, 200, this.dispatch(operation as KmsOperation, input))
        } catch (err) {
          if (err instanceof KmsError) send(res, err.status, { __type: err.type, message: err.message })
          else send(res, 500, { __type: 'KMSInternalException', message: 'internal error in the test server' })
        }
      }
      if (this.latencyMs > 0) {
        const t = setTimeout(() => {
          this.timers.delete(t)
          answer()
        }, this.latencyMs)
        this.timers.add(t)
      } else {
        answer()
      }
    })
  }

  private dispatch(op: KmsOperation, input: Json): Json {
    switch (op) {
      case 'CreateKey':
        return this.createKey(input)
      case 'CreateAlias':
        return this.createAlias(input)
      case 'DescribeKey':
        return { KeyMetadata: this.metadata(this.resolve(requiredString(input, 'KeyId'))) }
      case 'GenerateDataKey':
        return this.generateDataKey(input)
      case 'Encrypt': {
        const key = this.usable(requiredString(input, 'KeyId'))
        const blob = this.seal(key, requiredBlob(input, 'Plaintext'), context(input, 'EncryptionContext'))
        return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
      }
      case 'Decrypt': {
        const { key, plaintext } = this.open(
          requiredBlob(input, 'CiphertextBlob'),
          optionalString(input, 'KeyId'),
          context(input, 'EncryptionContext'),
        )
        const out = { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
        plaintext.fill(0)
        return out
      }
      case 'ReEncrypt': {
        const source = this.open(
          requiredBlob(input, 'CiphertextBlob'),
          optionalString(input, 'SourceKeyId'),
          context(input, 'SourceEncryptionContext'),
        )
        try {
          const destination = this.usable(requiredString(input, 'DestinationKeyId'))
          const blob = this.seal(destination, source.plaintext, context(input, 'DestinationEncryptionContext'))
          return {
            CiphertextBlob: blob.toString('base64'),
            KeyId: destination.arn,
            SourceKeyId: source.key.arn,
            SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
            DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          }
        } finally {
          source.plaintext.fill(0)
        }
      }
      case 'DisableKey':
        return this.setState(input, 'Disabled')
      case 'EnableKey':
        return this.setState(input, 'Enabled')
      case 'RotateKeyOnDemand': {
        const key = this.usable(requiredString(input, 'KeyId'))
        key.materials.push(randomBytes(32))
        return { KeyId: key.arn }
      }
      case 'ScheduleKeyDeletion': {
        const key = this.resolve(requiredString(input, 'KeyId'))
        if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`)
        const days = typeof input.PendingWindowInDays === 'number' ? input.PendingWindowInDays : 30
        if (days < 7 || days > 30) throw new KmsError('ValidationException', 'PendingWindowInDays must be between 7 and 30')
        key.state = 'PendingDeletion'
        key.deletionDate = Math.floor(Date.now() / 1000) + days * 86_400
        return { KeyId: key.arn, DeletionDate: key.deletionDate, KeyState: key.state, PendingWindowInDays: days }
      }
    }
  }

  private createKey(input: Json): Json {
    const spec = optionalString(input, 'KeySpec') ?? 'SYMMETRIC_DEFAULT'
    const usage = optionalString(input, 'KeyUsage') ?? 'ENCRYPT_DECRYPT'
    if (spec !== 'SYMMETRIC_DEFAULT' || usage !== 'ENCRYPT_DECRYPT') {
      throw new KmsError('UnsupportedOperationException', 'the test server only makes SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys')
    }
    const id = randomUUID()
    const key: TestKey = {
      id,
      arn: `${ARN_PREFIX}key/${id}`,
      description: optionalString(input, 'Description') ?? '',
      createdAt: Date.now() / 1000,
      state: 'Enabled',
      materials: [randomBytes(32)],
    }
    this.keys.set(id, key)
    return { KeyMetadata: this.metadata(key) }
  }

  private createAlias(input: Json): Json {
    const name = requiredString(input, 'AliasName')
    if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(name)) throw new KmsError('ValidationException', `invalid alias name '${name}'`)
    if (name.startsWith('alias/aws/')) throw new KmsError('InvalidAliasNameException', 'alias/aws/ is reserved for AWS managed keys')
    if (this.aliases.has(name)) throw new KmsError('AlreadyExistsException', `An alias with the name ${ARN_PREFIX}${name} already exists`)
    const target = requiredString(input, 'TargetKeyId')
    if (target.startsWith('alias/') || target.includes(':alias/'))
      throw new KmsError('ValidationException', 'TargetKeyId must be a key id or key ARN')
    this.aliases.set(name, this.resolve(target).id)
    return {}
  }

  private generateDataKey(input: Json): Json {
    const keyId = requiredString(input, 'KeyId')
    const spec = optionalString(input, 'KeySpec')
    const count = input.NumberOfBytes
    if ((spec === undefined) === (count === undefined)) {
      throw new KmsError('ValidationException', 'Please specify either number of bytes or key spec.')
    }
    let bytes: number
    if (spec !== undefined) {
      if (spec === 'AES_256') bytes = 32
      else if (spec === 'AES_128') bytes = 16
      else
        throw new KmsError('ValidationException', `1 validation error detected: Value '${spec}' at 'keySpec' failed to satisfy constraint`)
    } else {
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1024) {
        throw new KmsError('ValidationException', 'NumberOfBytes must be an integer between 1 and 1024')
      }
      bytes = count
    }
    const key = this.usable(keyId)
    const plaintext = randomBytes(bytes)
    const blob = this.seal(key, plaintext, context(input, 'EncryptionContext'))
    const out = { CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: key.arn }
    plaintext.fill(0)
    return out
  }

  private setState(input: Json, state: 'Enabled' | 'Disabled'): Json {
    const key = this.resolve(requiredString(input, 'KeyId'))
    if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`)
    key.state = state
    return {}
  }

  /** A key by key id, key ARN, alias name or alias ARN. */
  private resolve(ref: string): TestKey {
    let id: string | undefined
    let aliasName: string | undefined
    if (ref.startsWith('alias/')) aliasName = ref
    else if (ref.startsWith(`${ARN_PREFIX}alias/`)) aliasName = ref.slice(ARN_PREFIX.length)
    else if (ref.startsWith(`${ARN_PREFIX}key/`)) id = ref.slice(ARN_PREFIX.length + 'key/'.length)
    else if (ref.startsWith('arn:')) throw new KmsError('NotFoundException', `Invalid arn ${ref}`)
    else id = ref
    if (aliasName !== undefined) {
      if (aliasName.startsWith('alias/aws/')) {
        throw new KmsError(
          'AccessDeniedException',
          `User: arn:aws:iam::${ACCOUNT}:user/test is not authorized to perform this operation on ${ARN_PREFIX}${aliasName} because AWS managed keys can only be used by the AWS services they belong to`,
        )
      }
      id = this.aliases.get(aliasName)
      if (id === undefined) throw new KmsError('NotFoundException', `Alias ${ARN_PREFIX}${aliasName} is not found.`)
    }
    const key = this.keys.get(id!)
    if (!key) throw new KmsError('NotFoundException', `Key '${ARN_PREFIX}key/${id}' does not exist`)
    return key
  }

  /** A key that may be used for cryptography now. */
  private usable(ref: string): TestKey {
    const key = this.resolve(ref)
    checkState(key)
    return key
  }

  private seal(key: TestKey, plaintext: Buffer, ctx: string): Buffer {
    const version = key.materials.length - 1
    const header = Buffer.alloc(HEADER_BYTES)
    header[0] = BLOB_VERSION
    header.write(key.id, 1, KEY_ID_BYTES, 'ascii')
    header.writeUInt32BE(version, 1 + KEY_ID_BYTES)
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key.materials[version]!, iv)
    cipher.setAAD(Buffer.concat([header, Buffer.from(ctx, 'utf8')]))
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()])
    return Buffer.concat([header, iv, cipher.getAuthTag(), ct])
  }

  /** Decrypts a blob; `expected` (if given) must name the blob's key. */
  private open(blob: Buffer, expected: string | undefined, ctx: string): { key: TestKey; plaintext: Buffer } {
    const invalid = (): KmsError => new KmsError('InvalidCiphertextException', '')
    if (blob.length < MIN_BLOB_BYTES || blob[0] !== BLOB_VERSION) throw invalid()
    const header = blob.subarray(0, HEADER_BYTES)
    const key = this.keys.get(header.toString('ascii', 1, 1 + KEY_ID_BYTES))
    if (!key) throw invalid()
    if (expected !== undefined && this.resolve(expected).id !== key.id) {
      throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.')
    }
    checkState(key)
    const material = key.materials[header.readUInt32BE(1 + KEY_ID_BYTES)]
    if (!material) throw invalid()
    const iv = blob.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES)
    const tag = blob.subarray(HEADER_BYTES + IV_BYTES, MIN_BLOB_BYTES)
    try {
      const decipher = createDecipheriv('aes-256-gcm', material, iv)
      decipher.setAAD(Buffer.concat([header, Buffer.from(ctx, 'utf8')]))
      decipher.setAuthTag(tag)
      return { key, plaintext: Buffer.concat([decipher.update(blob.subarray(MIN_BLOB_BYTES)), decipher.final()]) }
    } catch {
      throw invalid()
    }
  }

  private metadata(key: TestKey): Json {
    return {
      AWSAccountId: ACCOUNT,
      KeyId: key.id,
      Arn: key.arn,
      CreationDate: key.createdAt,
      Enabled: key.state === 'Enabled',
      Description: key.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: key.state,
      ...(key.deletionDate !== undefined ? { DeletionDate: key.deletionDate } : {}),
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    }
  }
}

/** A real KMS client for the test server: region us-east-1, static test credentials. */
export function kmsClientFor(endpoint: string, options: { maxAttempts?: number; requestTimeoutMs?: number } = {}): KMSClient {
  return new KMSClient({
    endpoint,
    region: REGION,
    credentials: TEST_CREDENTIALS,
    maxAttempts: options.maxAttempts,
    ...(options.requestTimeoutMs !== undefined
      ? {
          requestHandler: {
            requestTimeout: options.requestTimeoutMs,
            connectionTimeout: options.requestTimeoutMs,
            throwOnRequestTimeout: true,
          },
        }
      : {}),
  })
}

export const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' }

function checkState(key: TestKey): void {
  if (key.state === 'Disabled') throw new KmsError('DisabledException', `${key.arn} is disabled.`)
  if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`)
}

function send(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
  })
  res.end(text)
}

function zeroCounts(): Record<KmsOperation, number> {
  return Object.fromEntries(KMS_OPERATIONS.map((op) => [op, 0])) as Record<KmsOperation, number>
}

function requiredString(input: Json, name: string): string {
  const v = input[name]
  if (typeof v !== 'string' || v.length === 0) throw new KmsError('ValidationException', `${name} is required`)
  return v
}

function optionalString(input: Json, name: string): string | undefined {
  const v = input[name]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new KmsError('ValidationException', `${name} must be a string`)
  return v
}

function requiredBlob(input: Json, name: string): Buffer {
  const v = input[name]
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new KmsError('ValidationException', `${name} must be base64`)
  const bytes = Buffer.from(v, 'base64')
  if (bytes.length === 0) throw new KmsError('ValidationException', `${name} must not be empty`)
  return bytes
}

/** The encryption context in a canonical form (sorted pairs), which is bound into the blob. */
function context(input: Json, name: string): string {
  const v = input[name]
  if (v === undefined || v === null) return '[]'
  if (typeof v !== 'object' || Array.isArray(v)) throw new KmsError('ValidationException', `${name} must be a map`)
  const pairs = Object.entries(v as Record<string, unknown>).map(([k, val]) => {
    if (typeof val !== 'string') throw new KmsError('ValidationException', `${name} values must be strings`)
    return [k, val] as const
  })
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return JSON.stringify(pairs)
}
