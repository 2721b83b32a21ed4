import { randomBytes } from 'node:crypto'
import { Pool } from 'pg'
import { DataSource, type Logger, type DataSourceOptions } from 'typeorm'
import { encryptDataSource, type TypeOrmEncryptionOptions } from '../../src/typeorm'
import { testLocalKeys } from './keys'

/** Every statement and its parameters, as TypeORM's query runner hands them to the driver. */
export class SqlCapture implements Logger {
  /** Statements since the last `clear()`. */
  readonly statements: Array<{ query: string; parameters: unknown[] }> = []
  /** Every statement since the DataSource was set up (`clear()` keeps them here). */
  readonly history: Array<{ query: string; parameters: unknown[] }> = []
  logQuery(query: string, parameters?: unknown[]): void {
    this.statements.push({ query, parameters: parameters ?? [] })
    this.history.push({ query, parameters: parameters ?? [] })
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
  /** Statements and parameters as one searchable text (Buffers as latin1 and hex, so bytes are found too). */
  text(which: 'recent' | 'all' = 'recent'): string {
    return (which === 'all' ? this.history : this.statements)
      .map(({ query, parameters }) =>
        [
          query,
          ...parameters.map((p) =>
            Buffer.isBuffer(p) || p instanceof Uint8Array
              ? `${Buffer.from(p).toString('latin1')} ${Buffer.from(p).toString('hex')}`
              : JSON.stringify(p),
          ),
        ].join('\n'),
      )
      .join('\n')
  }
  clear(): void {
    this.statements.length = 0
  }
}

export interface TypeOrmTestDatabase {
  kind: 'sqljs' | 'postgres'
  dataSource: DataSource
  capture: SqlCapture
  /** Raw SQL bypassing the adapter's hooks (on the driver's own connection). */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>
  close(): Promise<void>
}

/**
 * A fresh database for one TypeORM test file, schema synchronized from the entities: sql.js in
 * memory by default, a private schema on the server named by DATABASE_URL (a postgres URL).
 */
export async function createTypeOrmDatabase(
  entities: Function[],
  encryption: Partial<TypeOrmEncryptionOptions> | false = {},
  { log = true }: { log?: boolean } = {},
): Promise<TypeOrmTestDatabase> {
  const capture = new SqlCapture()
  const url = process.env.DATABASE_URL
  let options: DataSourceOptions
  let dropSchema: (() => Promise<void>) | undefined
  if (url && /^postgres(ql)?:/.test(url)) {
    const schema = `kfe_typeorm_${randomBytes(6).toString('hex')}`
    const admin = new Pool({ connectionString: url, max: 1 })
    await admin.query(`CREATE SCHEMA "${schema}"`)
    dropSchema = async () => {
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`)
      await admin.end()
    }
    // search_path too, so that the tests' raw SQL finds the tables unqualified.
    options = {
      type: 'postgres',
      url,
      schema,
      entities,
      synchronize: true,
      ...(log ? { logger: capture } : {}),
      extra: { options: `-c search_path="${schema}"` },
    }
  } else {
    options = { type: 'sqljs', entities, synchronize: true, ...(log ? { logger: capture } : {}) }
  }
  const dataSource = new DataSource(options)
  await dataSource.initialize()
  if (encryption !== false) {
    // The test keys unless the options bring their own encryptor (keys and an encryptor are never both given).
    const given = encryption.encryptor ? encryption : { keys: testLocalKeys(), ...encryption }
    await encryptDataSource(dataSource, given as TypeOrmEncryptionOptions)
  }
  capture.clear()
  capture.history.length = 0
  return {
    kind: options.type === 'postgres' ? 'postgres' : 'sqljs',
    dataSource,
    capture,
    async sql(query, params) {
      const runner = dataSource.createQueryRunner()
      try {
        const pg = options.type === 'postgres'
        return (await runner.query(pg ? query : query.replace(/\$\d+/g, '?'), params)) as never
      } finally {
        await runner.release()
      }
    },
    async close() {
      await dataSource.destroy()
      await dropSchema?.()
    },
  }
}
