/** Which database the suite runs on, read from DATABASE_URL (synchronously, to choose tests). */
export type TestDatabaseKind = 'pglite' | 'postgres' | 'mysql' | 'sqlite'

export function testDatabaseKind(url = process.env.DATABASE_URL): TestDatabaseKind {
  if (!url) return 'pglite'
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgres'
  if (/^mysql:\/\//.test(url)) return 'mysql'
  if (/^file:/.test(url)) return 'sqlite'
  throw new Error(`DATABASE_URL must start with postgresql://, postgres://, mysql:// or file: (got scheme '${url.split(':')[0]}')`)
}

/** String[] columns: PostgreSQL only (Prisma has no scalar lists on MySQL or SQLite). */
export const supportsScalarLists = (kind = testDatabaseKind()): boolean => kind === 'pglite' || kind === 'postgres'

/** createManyAndReturn / updateManyAndReturn: Prisma offers them on PostgreSQL and SQLite, not MySQL. */
export const supportsManyAndReturn = (kind = testDatabaseKind()): boolean => kind !== 'mysql'

type TestFn = (name: string, fn: jest.ProvidesCallback, timeout?: number) => void

/**
 * `test` where `supported`, else a skipped test whose name says where and why (so that the
 * report lists it: "[skipped on mysql: String[] is PostgreSQL-only]").
 */
export function testWhere(supported: boolean, reason: string): TestFn {
  // Lazy: this module is also loaded where Jest's globals do not exist (global setup).
  return (name, fn, timeout) =>
    supported ? test(name, fn, timeout) : test.skip(`${name} [skipped on ${testDatabaseKind()}: ${reason}]`, fn, timeout)
}

/** For the tests that are about String[]: PostgreSQL only. */
export const listTest = testWhere(supportsScalarLists(), 'String[] is PostgreSQL-only')

/** `{ tags }` where String[] exists, `{}` elsewhere: the tests that use a list in passing. */
export function withTags<T>(tags: T): { tags?: T } {
  return supportsScalarLists() ? { tags } : {}
}

/** `, tags` for a raw SELECT list where the column exists. */
export const TAGS_COLUMN = supportsScalarLists() ? ', tags' : ''

/** The SQL dialect of the scope key table (`kfe_scope_keys`) on a test database. */
export const scopeKeyDialectOf = (kind: TestDatabaseKind): 'postgresql' | 'mysql' | 'sqlite' =>
  kind === 'mysql' ? 'mysql' : kind === 'sqlite' ? 'sqlite' : 'postgresql'
