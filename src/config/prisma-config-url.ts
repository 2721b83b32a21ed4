import { ConfigurationError } from '../errors'
import { findModule, loadUserModule } from './load-module'

export const PRISMA_CONFIG_NAMES = ['prisma.config']

/**
 * The database URL of `prisma.config.ts` (Prisma 7: `defineConfig({ datasource: { url } })`),
 * loaded with jiti as Prisma loads it. Undefined when there is no such file or it names no URL.
 * A file that cannot be loaded (say `env('DATABASE_URL')` with the variable unset) is reported,
 * since the user meant it to give the URL.
 */
export async function prismaConfigDatabaseUrl(dir: string): Promise<{ url: string; file: string } | undefined> {
  const file = findModule(dir, PRISMA_CONFIG_NAMES)
  if (!file) return undefined
  let mod: Record<string, unknown>
  try {
    mod = await loadUserModule(file, 'Prisma config')
  } catch (err) {
    throw new ConfigurationError(`no database URL given (--database-url, DATABASE_URL, kfe.config.ts), and ${(err as Error).message}`)
  }
  const config = (mod.default ?? mod) as { datasource?: { url?: unknown } } | undefined
  const url = config?.datasource?.url
  return typeof url === 'string' && url.length > 0 ? { url, file } : undefined
}
