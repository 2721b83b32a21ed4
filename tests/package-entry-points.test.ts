import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

/**
 * The built package, installed (copied, as npm would) into a folder that has neither
 * @prisma/client nor typeorm, then imported by a separate Node process with `require` and with
 * `import`. A second folder adds the ORMs and imports the `/prisma` and `/typeorm` entry points.
 */
const root = resolve(__dirname, '..')
const modules = join(root, 'node_modules')
const pkg = require(join(root, 'package.json')) as { dependencies: Record<string, string> }

let folder: string

function install(into: string, extra: string[]): void {
  const target = join(into, 'node_modules', 'kms-field-encryption')
  mkdirSync(target, { recursive: true })
  for (const part of ['package.json', 'dist', 'bin']) cpSync(join(root, part), join(target, part), { recursive: true })
  // Runtime dependencies (and the ORMs when asked) as links into the shared node_modules.
  for (const dep of [...Object.keys(pkg.dependencies), ...extra]) {
    const link = join(into, 'node_modules', dep)
    mkdirSync(dirname(link), { recursive: true })
    if (!existsSync(link)) symlinkSync(join(modules, dep), link, 'dir')
  }
}

function run(dir: string, file: string, source: string): string {
  writeFileSync(join(dir, file), source)
  return execFileSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } }).trim()
}

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run npm run build first')
  folder = mkdtempSync(join(tmpdir(), 'kfe-package-'))
  mkdirSync(join(folder, 'bare'))
  mkdirSync(join(folder, 'orms'))
  install(join(folder, 'bare'), [])
  install(
    join(folder, 'orms'),
    ['@prisma/client', '.prisma', 'typeorm', 'reflect-metadata'].filter((d) => existsSync(join(modules, d))),
  )
})

afterAll(() => rmSync(folder, { recursive: true, force: true }))

const CORE_NAMES = [
  'EnvelopeEncryptor',
  'LocalKeyProvider',
  'AwsKmsKeyProvider',
  'BlindIndexer',
  'ConfigurationError',
  'defineConfig',
  'encryptColumns',
  'fieldEncryption',
]

test('the folder really lacks both ORMs (control)', () => {
  const out = run(
    join(folder, 'bare'),
    'control.cjs',
    `
    for (const m of ['@prisma/client', 'typeorm']) {
      try { require.resolve(m); console.log('found ' + m) } catch { console.log('missing ' + m) }
    }`,
  )
  expect(out.split('\n')).toEqual(['missing @prisma/client', 'missing typeorm'])
})

test('CommonJS: require the root without Prisma or TypeORM', () => {
  const out = run(
    join(folder, 'bare'),
    'root.cjs',
    `
    const kfe = require('kms-field-encryption')
    const names = ${JSON.stringify(CORE_NAMES)}
    const loaded = Object.keys(require.cache).filter((f) => /[\\\\/](@prisma|typeorm)[\\\\/]/.test(f))
    console.log(JSON.stringify({ missing: names.filter((n) => !(n in kfe)), loaded, internals: ['KeyRing', 'ModelRegistry', 'DataKeyCache', 'storedIndexPrefix'].filter((n) => n in kfe) }))`,
  )
  expect(JSON.parse(out)).toEqual({ missing: [], loaded: [], internals: [] })
})

test('CommonJS: a local key round-trips through the root, and fieldEncryption says Prisma is missing only when called', () => {
  const out = run(
    join(folder, 'bare'),
    'roundtrip.cjs',
    `
    const { EnvelopeEncryptor, LocalKeyProvider, fieldContext, fieldEncryption } = require('kms-field-encryption')
    const enc = new EnvelopeEncryptor({ keys: new LocalKeyProvider({ id: 'local', masterKey: Buffer.alloc(32, 7) }) })
    const ctx = fieldContext('User', 'email', 'users', 'email')
    enc.encrypt('a@b.c', ctx).then((c) => enc.decrypt(c, ctx)).then((p) => {
      let err
      try { fieldEncryption({ model: { version: 1, models: {} }, keys: [] }) } catch (e) { err = e.code }
      console.log(p + ' ' + err)
    })`,
  )
  expect(out).toBe('a@b.c MODULE_NOT_FOUND')
})

test('ESM: named imports from the root are detected through the CommonJS interop', () => {
  const out = run(
    join(folder, 'bare'),
    'root.mjs',
    `
    import { ${CORE_NAMES.join(', ')} } from 'kms-field-encryption'
    import * as all from 'kms-field-encryption'
    console.log([${CORE_NAMES.join(', ')}].every((x) => typeof x === 'function') + ' ' + ('KeyRing' in all))`,
  )
  expect(out).toBe('true false')
})

test('deep imports are closed by the exports map; package.json stays readable', () => {
  const out = run(
    join(folder, 'bare'),
    'deep.cjs',
    `
    let code
    try { require('kms-field-encryption/dist/keys/key-ring') } catch (e) { code = e.code }
    console.log(code + ' ' + require('kms-field-encryption/package.json').name)`,
  )
  expect(out).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED kms-field-encryption')
})
test('/prisma and /typeorm load where the ORMs are installed, with require and import', () => {
  const dir = join(folder, 'orms')
  const cjs = run(
    dir,
    'orms.cjs',
    `
    require('reflect-metadata')
    const p = require('kms-field-encryption/prisma')
    const t = require('kms-field-encryption/typeorm')
    console.log([p.fieldEncryption, t.Encrypted, t.BlindIndex, t.encryptDataSource, t.encryptionModelOf, t.blindIndexValues].map((f) => typeof f).join(','))`,
  )
  expect(cjs).toBe('function,function,function,function,function,function')
  const esm = run(
    dir,
    'orms.mjs',
    `
    import 'reflect-metadata'
    import { fieldEncryption } from 'kms-field-encryption/prisma'
    import { Encrypted, BlindIndex, encryptDataSource, encryptionModelOf } from 'kms-field-encryption/typeorm'
    console.log([fieldEncryption, Encrypted, BlindIndex, encryptDataSource, encryptionModelOf].map((f) => typeof f).join(','))`,
  )
  expect(esm).toBe('function,function,function,function,function')
})

test('the built TypeORM adapter encrypts and finds by blind index (CommonJS consumer, decorators applied by hand)', () => {
  const dir = join(folder, 'orms')
  if (!existsSync(join(dir, 'node_modules', 'sql.js'))) symlinkSync(join(modules, 'sql.js'), join(dir, 'node_modules', 'sql.js'), 'dir')
  const out = run(
    dir,
    'typeorm-roundtrip.cjs',
    `
    require('reflect-metadata')
    const { DataSource, Entity, Column, PrimaryGeneratedColumn } = require('typeorm')
    const { LocalKeyProvider } = require('kms-field-encryption')
    const { Encrypted, BlindIndex, encryptDataSource } = require('kms-field-encryption/typeorm')
    class Person {}
    PrimaryGeneratedColumn()(Person.prototype, 'id')
    Column('text')(Person.prototype, 'email'); Encrypted()(Person.prototype, 'email')
    Column('text', { nullable: true })(Person.prototype, 'emailIndex'); BlindIndex('email', { normalize: ['lowercase'] })(Person.prototype, 'emailIndex')
    Entity('people')(Person)
    ;(async () => {
      const ds = await new DataSource({ type: 'sqljs', entities: [Person], synchronize: true }).initialize()
      await encryptDataSource(ds, { keys: new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() }) })
      await ds.getRepository(Person).save({ email: 'Pat@Example.com' })
      const [raw] = await ds.query('SELECT email FROM people')
      const found = await ds.getRepository(Person).findOneBy({ email: 'pat@example.com' })
      console.log(raw.email.slice(0, 5) + ' ' + found.email)
      await ds.destroy()
    })()`,
  )
  expect(out).toBe('$kfe$ Pat@Example.com')
})
