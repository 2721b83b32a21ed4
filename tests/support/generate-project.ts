import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'

const ROOT = resolve(__dirname, '../..')
const PRISMA_CLI = require.resolve('prisma/build/index.js', { paths: [ROOT] })
const TSX_CJS = require.resolve('tsx/cjs', { paths: [ROOT] })
const GENERATOR_MAIN = join(ROOT, 'src/cli/main.ts')

/**
 * A scratch Prisma project under tests/generated/ (inside the repository, so the generated client
 * resolves @prisma/client from its node_modules): the real Prisma client generator and this
 * package's generator (from source), each writing to the output directory the caller names.
 */
export class ScratchProject {
  readonly dir = join(ROOT, 'tests/generated', `project-${randomBytes(4).toString('hex')}`)

  /** Runs `prisma generate` on `models`; `only` restricts it to one generator (`client` or `encryption`). */
  async generate(
    models: string,
    out: { client: string; encryption: string },
    only?: 'client' | 'encryption',
  ): Promise<{ exitCode: number; output: string }> {
    await mkdir(this.dir, { recursive: true })
    const schema = join(this.dir, 'schema.prisma')
    await writeFile(
      schema,
      [
        'generator client {',
        '  provider     = "prisma-client"',
        `  output       = "${join(this.dir, out.client)}"`,
        '  moduleFormat = "cjs"',
        '}',
        'generator encryption {',
        `  provider = "node --require ${TSX_CJS} ${GENERATOR_MAIN}"`,
        `  output   = "${join(this.dir, out.encryption)}"`,
        '}',
        'datasource db {',
        '  provider = "postgresql"',
        '}',
        models,
      ].join('\n'),
    )
    const args = [PRISMA_CLI, 'generate', '--schema', schema, ...(only ? ['--generator', only] : [])]
    return new Promise((done) => {
      const env = {
        ...process.env,
        PATH: `${join(ROOT, 'bin')}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
        CHECKPOINT_DISABLE: '1',
      }
      execFile(process.execPath, args, { env, cwd: ROOT, timeout: 120_000 }, (error, stdout, stderr) => {
        done({ exitCode: error ? (typeof error.code === 'number' ? error.code : 1) : 0, output: `${stdout}\n${stderr}` })
      })
    })
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts)
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}
