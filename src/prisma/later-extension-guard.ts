import { ConfigurationError } from '../errors'

/**
 * Prisma runs query extensions in the order they were added, and the last one added is the last
 * to touch a query before the database: a query extension added after `fieldEncryption` changes
 * arguments that are never encrypted nor checked (data it adds is stored in clear, filters it adds
 * compare ciphertext). So the client `fieldEncryption` returns refuses, at `$extends` time, a
 * later extension that has query hooks, unless it is named in `allowQueryExtensionsAfter` (an
 * observer such as a query logger, that must not change what it sees). Other extensions (model,
 * client, result) stay free. Add other query extensions before `fieldEncryption`.
 *
 * Extensions given as functions (`Prisma.defineExtension(client => client.$extends(...))`) are
 * called with the guarded client, so the object they pass to `$extends` is checked too.
 */
export function guardLaterQueryExtensions<C extends object>(client: C, allowed: ReadonlySet<string>): C {
  const guarded: C = new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop)
      if (prop !== '$extends' || typeof value !== 'function') return value
      return (extension: unknown) => {
        if (typeof extension === 'function') return (extension as (c: C) => unknown)(guarded)
        checkExtension(extension, allowed)
        return guardLaterQueryExtensions((value as (e: unknown) => C).call(target, extension), allowed)
      }
    },
  })
  return guarded
}

function checkExtension(extension: unknown, allowed: ReadonlySet<string>): void {
  if (extension === null || typeof extension !== 'object') return
  const { query, name } = extension as { query?: unknown; name?: unknown }
  if (query === undefined || query === null) return
  if (typeof name === 'string' && allowed.has(name)) return
  const shown = typeof name === 'string' ? `'${name}'` : 'without a name'
  throw new ConfigurationError(
    `a query extension (${shown}) added after fieldEncryption would change queries after they are encrypted and checked: ` +
      'add it before fieldEncryption (prisma.$extends(other).$extends(fieldEncryption(...))), or, for an extension that only observes, ' +
      'name it in fieldEncryption({ allowQueryExtensionsAfter })',
  )
}
