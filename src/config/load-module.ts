import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigurationError } from '../errors'

/**
 * Loads a TypeScript or JavaScript module the user wrote or generated (`kfe.config.ts`, the
 * generated `encryption/index.ts`) with jiti, as Prisma loads `prisma.config.ts`: no build step.
 * Already-loaded modules (node_modules) are shared with the running process.
 */
export async function loadUserModule(path: string, what: string): Promise<Record<string, unknown>> {
  const file = resolve(path)
  if (!existsSync(file)) throw new ConfigurationError(`${what} not found: ${file}`)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createJiti } = require('jiti') as typeof import('jiti')
  const jiti = createJiti(__filename, { moduleCache: true, fsCache: false, interopDefault: true })
  try {
    return (await jiti.import(file)) as Record<string, unknown>
  } catch (err) {
    throw new ConfigurationError(`${what} ${file} could not be loaded: ${(err as Error).message}`)
  }
}

/** The first of `candidates` (relative to `dir`) that exists, with any of the usual module extensions. */
export function findModule(dir: string, candidates: readonly string[]): string | undefined {
  const extensions = ['', '.ts', '.mts', '.cts', '.js', '.mjs', '.cjs', '/index.ts', '/index.js']
  for (const c of candidates) {
    for (const ext of extensions) {
      const file = resolve(dir, c + ext)
      if (isFile(file)) return file
    }
  }
  return undefined
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}
