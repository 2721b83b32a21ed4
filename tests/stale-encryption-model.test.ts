import { readFile } from 'node:fs/promises'
import { PrismaPg } from '@prisma/adapter-pg'
import { ConfigurationError, fieldEncryption, LocalKeyProvider } from '../src'
import { checkClientSchema } from '../src/prisma/client-schema-check'
import { ScratchProject } from './support/generate-project'

/**
 * A stale encryption model (a field annotated after our generator last ran, with only the Prisma
 * client regenerated, or our generator failed while Prisma still wrote the client) would store
 * that field in clear. The model carries the hash of the schema it was made from, the extension
 * compares it with the schema the Prisma client was generated from and refuses to start, and a
 * failed run of our generator leaves a module that throws when imported, never the older model.
 * Real `prisma generate` runs on a scratch project; the clients are built, never connected.
 */
const V1 = `model Person {\n  id   Int    @id\n  /// @encrypted\n  email String\n  name String\n}`
const V2 = V1.replace('  name String', '  /// @encrypted\n  name String')
const BROKEN = V2.replace('  id   Int    @id', '  id   Int    @id\n  /// @encrypted\n  age  Int')

const project = new ScratchProject()
const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
const runs: Record<string, { exitCode: number; output: string }> = {}

function load(out: string): { PrismaClient: new (o: object) => { $extends(e: unknown): unknown } } {
  return require(project.path(out, 'client.ts'))
}
function model(out: string): { encryptionModel: unknown } {
  return require(project.path(out, 'index.ts'))
}

function extend(clientOut: string, encryptionModel: unknown): unknown {
  const { PrismaClient } = load(clientOut)
  const client = new PrismaClient({ adapter: new PrismaPg({ connectionString: 'postgresql://postgres@127.0.0.1:1/none' }) })
  return client.$extends(fieldEncryption({ model: encryptionModel as never, keys }))
}

beforeAll(async () => {
  runs.v1 = await project.generate(V1, { client: 'client-v1', encryption: 'encryption-v1' })
  // The schema changes: a new @encrypted field, but only the Prisma client is regenerated.
  runs.v2client = await project.generate(V2, { client: 'client-v2', encryption: 'encryption-v1' }, 'client')
  runs.v2 = await project.generate(V2, { client: 'client-v2b', encryption: 'encryption-v2' })
  runs.v3 = await project.generate(V2, { client: 'client-v3', encryption: 'encryption-v3' })
}, 240_000)
afterAll(async () => {
  await project.remove()
})

test('a client and a model of the same schema work', () => {
  expect(runs.v1!.exitCode).toBe(0)
  expect(() => extend('client-v1', model('encryption-v1').encryptionModel)).not.toThrow()
})

test('a client regenerated alone after a schema change is refused: run prisma generate', () => {
  expect(runs.v2client!.exitCode).toBe(0)
  let error: unknown
  try {
    extend('client-v2', model('encryption-v1').encryptionModel)
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(ConfigurationError)
  expect((error as Error).message).toMatch(/generated from another schema than this Prisma client .*run `prisma generate`/)
})

test('after a full prisma generate, the new client and model work (and the old model is refused)', () => {
  expect(runs.v2!.exitCode).toBe(0)
  expect(() => extend('client-v2b', model('encryption-v2').encryptionModel)).not.toThrow()
  expect(() => extend('client-v2b', model('encryption-v1').encryptionModel)).toThrow(ConfigurationError)
})

test('a failed run of our generator leaves a module that throws, not the older model', async () => {
  expect(runs.v3!.exitCode).toBe(0)
  expect(await readFile(project.path('encryption-v3', 'index.ts'), 'utf8')).toMatch(/encryptionModel = \{/)
  // Our generator refuses the changed schema; Prisma still writes its client.
  const broken = await project.generate(BROKEN, { client: 'client-v3', encryption: 'encryption-v3' })
  expect(broken.exitCode).not.toBe(0)
  expect(broken.output).toMatch(/Person\.age: @encrypted is only supported on/)
  const text = await readFile(project.path('encryption-v3', 'index.ts'), 'utf8')
  expect(text).not.toMatch(/encryptionModel = \{/)
  expect(() => model('encryption-v3')).toThrow(/did not finish writing the encryption model/)
}, 120_000)

test('a model without a schema hash, or a client whose schema cannot be read, is refused', () => {
  const { schemaHash: _dropped, ...old } = model('encryption-v1').encryptionModel as { schemaHash: string }
  expect(() => extend('client-v1', old)).toThrow(/carries no schema hash .*run `prisma generate`/)
  expect(() => checkClientSchema({}, model('encryption-v1').encryptionModel as never)).toThrow(
    /cannot read the schema this Prisma client was generated from/,
  )
})
