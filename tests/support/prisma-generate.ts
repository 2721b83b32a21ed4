import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { DMMF } from '@prisma/generator-helper'
import type { EncryptionModel } from '../../src/model/encryption-model'

const ROOT = resolve(__dirname, '../..')
const PRISMA_CLI = require.resolve('prisma/build/index.js', { paths: [ROOT] })
const TSX_CJS = require.resolve('tsx/cjs', { paths: [ROOT] })
const GENERATOR_MAIN = join(ROOT, 'src/cli/main.ts')
const DMMF_DUMP = join(__dirname, 'dmmf-dump-generator.js')

export interface GenerateOptions {
  /** Run this package's generator (from source, src/cli/main.ts through tsx). Default true. */
  encryption?: boolean
  /** Also dump the DMMF Prisma hands generators. Default false. */
  dmmf?: boolean
  /** The datasource provider. Default postgresql. */
  provider?: 'postgresql' | 'mysql' | 'sqlite'
}

export interface GenerateResult {
  exitCode: number
  /** stdout and stderr together. */
  output: string
  /** The encryption model the generator wrote (when it ran and succeeded). */
  model?: EncryptionModel
  /** The datamodel Prisma built from the schema (when asked for). */
  datamodel?: DMMF.Datamodel
  provider?: string
}

/**
 * Runs the real `prisma generate` on a schema made of `models` (PostgreSQL datasource) and reads
 * back what the generators wrote: this package's encryption model and/or Prisma's DMMF.
 */
export async function prismaGenerate(models: string, options: GenerateOptions = {}): Promise<GenerateResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kfe-generate-'))
  try {
    const generators: string[] = []
    if (options.encryption ?? true)
      generators.push(generator('encryption', `node --require ${TSX_CJS} ${GENERATOR_MAIN}`, join(dir, 'encryption')))
    if (options.dmmf) generators.push(generator('dmmf', `node ${DMMF_DUMP}`, join(dir, 'dmmf')))
    const schema = join(dir, 'schema.prisma')
    await writeFile(
      schema,
      [...generators, 'datasource db {', `  provider = "${options.provider ?? 'postgresql'}"`, '}', models].join('\n'),
    )
    const { exitCode, output } = await run(process.execPath, [PRISMA_CLI, 'generate', '--schema', schema], {
      ...process.env,
      PATH: `${join(ROOT, 'bin')}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    })
    const result: GenerateResult = { exitCode, output }
    if (exitCode !== 0) return result
    if (options.encryption ?? true) result.model = parseModelModule(await readFile(join(dir, 'encryption', 'index.ts'), 'utf8'))
    if (options.dmmf) Object.assign(result, JSON.parse(await readFile(join(dir, 'dmmf', 'dmmf.json'), 'utf8')))
    return result
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The model out of the module the generator writes (`export const encryptionModel = {...} as const`). */
export function parseModelModule(source: string): EncryptionModel {
  const match = /export const encryptionModel = ([\s\S]*?) as const/.exec(source)
  if (!match) throw new Error('no encryptionModel in the generated module')
  return JSON.parse(match[1]!) as EncryptionModel
}

function generator(name: string, provider: string, output: string): string {
  return [`generator ${name} {`, `  provider = "${provider}"`, `  output   = "${output}"`, '}'].join('\n')
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ exitCode: number; output: string }> {
  return new Promise((done) => {
    execFile(command, args, { env, cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      done({ exitCode: code, output: `${stdout}\n${stderr}` })
    })
  })
}
