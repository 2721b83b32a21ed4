import { createTestDatabase, type TestDatabase } from './test-database'

/** One statement as the driver adapter received it: SQL text and bound parameters. */
export interface CapturedStatement {
  /**
   * The SQL in PostgreSQL's notation, so that one assertion reads on every database: on MySQL and
   * SQLite, backquoted identifiers become double-quoted and each `?` becomes `$1`, `$2`...
   */
  sql: string
  /** The SQL exactly as sent. */
  rawSql: string
  args: unknown[]
}

/** Backquotes to double quotes and `?` to `$n` (Prisma's MySQL and SQLite SQL carries no literal `?` or backquote in values). */
export function inPostgresNotation(sql: string): string {
  if (!sql.includes('?') && !sql.includes('`')) return sql
  let n = 0
  return sql.replace(/`/g, '"').replace(/\?/g, () => `$${++n}`)
}

interface Queryable {
  queryRaw(q: { sql: string; args: unknown[] }): Promise<unknown>
  executeRaw(q: { sql: string; args: unknown[] }): Promise<unknown>
}

/**
 * Records every statement Prisma hands the driver adapter (connection and transactions): the
 * last stop before the wire, after every extension and the query compiler. What is not here
 * was not sent.
 */
export class SqlCapture {
  readonly statements: CapturedStatement[] = []

  /** Wraps a Prisma driver adapter factory (PrismaPGlite, PrismaPg...). */
  wrap<F extends object>(factory: F): F {
    const capture = this
    const wrapQueryable = <T extends object>(target: T): T =>
      new Proxy(target, {
        get(obj, prop) {
          const value = Reflect.get(obj, prop, obj)
          if (typeof value !== 'function') return value
          if (prop === 'queryRaw' || prop === 'executeRaw') {
            return (q: { sql: string; args: unknown[] }) => {
              capture.statements.push({ sql: inPostgresNotation(q.sql), rawSql: q.sql, args: [...q.args] })
              return (value as Queryable['queryRaw']).call(obj, q)
            }
          }
          if (prop === 'startTransaction' || prop === 'connect') {
            return async (...a: unknown[]) => wrapQueryable(await (value as (...x: unknown[]) => Promise<object>).apply(obj, a))
          }
          return (value as (...x: unknown[]) => unknown).bind(obj)
        },
      })
    return wrapQueryable(factory)
  }

  clear(): void {
    this.statements.length = 0
  }

  /** Statements whose SQL matches. */
  matching(pattern: RegExp): CapturedStatement[] {
    return this.statements.filter((s) => pattern.test(s.sql))
  }

  /** Everything sent, as searchable text: SQL, then each parameter (strings as they are, bytes as UTF-8, hex and base64). */
  text(): string {
    const parts: string[] = []
    const add = (v: unknown): void => {
      if (v === null || v === undefined) return
      if (typeof v === 'string') parts.push(v)
      else if (v instanceof Uint8Array) {
        const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
        parts.push(b.toString('utf8'), b.toString('hex'), b.toString('base64'))
      } else if (Array.isArray(v)) v.forEach(add)
      else if (typeof v === 'object') parts.push(JSON.stringify(v))
      else parts.push(String(v))
    }
    for (const s of this.statements) {
      parts.push(s.sql)
      s.args.forEach(add)
    }
    return parts.join('\n')
  }

  /** The given plaintexts (and their case-folded, trimmed forms) that appear in what was sent. */
  leaked(plaintexts: Iterable<string>): string[] {
    const text = this.text()
    const lower = text.toLowerCase()
    return [...plaintexts].filter((p) => {
      const forms = new Set([p, p.trim(), p.trim().toLowerCase()])
      return [...forms].some((f) => f.length > 0 && (text.includes(f) || lower.includes(f.toLowerCase())))
    })
  }
}

export interface CapturingTestDatabase extends TestDatabase {
  capture: SqlCapture
}

/**
 * Like createTestDatabase() (an in-process PGlite, or a private schema on DATABASE_URL), but the
 * Prisma client's driver adapter records every statement and its parameters.
 */
export async function createCapturingTestDatabase(): Promise<CapturingTestDatabase> {
  const capture = new SqlCapture()
  const db = await createTestDatabase({ wrapAdapter: (factory) => capture.wrap(factory) })
  return Object.assign(db, { capture })
}
