import { encryptionModel as postgresModel } from '../../prisma/generated/encryption'
import { encryptionModel as mysqlModel } from '../../prisma/generated/mysql/encryption'
import { encryptionModel as sqliteModel } from '../../prisma/generated/sqlite/encryption'
import { testDatabaseKind } from './test-database-kind'

/**
 * The generated encryption model of the schema the suite's database runs (prisma/schema.prisma,
 * prisma/mysql or prisma/sqlite): each carries the hash of its own schema, which the extension
 * checks against the Prisma client's. Typed as the PostgreSQL one (the others lack only `User.tags`).
 */
export const encryptionModel: typeof postgresModel = ((): typeof postgresModel => {
  switch (testDatabaseKind()) {
    case 'mysql':
      return mysqlModel as unknown as typeof postgresModel
    case 'sqlite':
      return sqliteModel as unknown as typeof postgresModel
    default:
      return postgresModel
  }
})()

/**
 * A model without its row-scoped models (TenantNote, @encryptionScope), for migration runs over
 * every model without scope keys (which the migration refuses for a row-scoped model):
 * tests/row-scope-migration.test.ts covers those models.
 */
export function withoutRowScopedModels<M extends typeof postgresModel>(model: M): M {
  const models = Object.fromEntries(Object.entries(model.models).filter(([, d]) => !('scopeField' in d && d.scopeField)))
  return { ...model, models } as M
}
