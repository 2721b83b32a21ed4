import type { DataSource } from 'typeorm'
import type { EntityMetadata } from 'typeorm'
import { normalizationProblem } from '../blind-index/normalize'
import { SchemaAnnotationError } from '../errors'
import type { BlindIndexModel, EncryptedFieldModel, EncryptionModel, ModelDescription, RelationModel } from '../model/encryption-model'
import { encryptedColumnKind, isIndexColumn, isKeyHeaderColumn } from './column-kinds'
import { declarationsOf } from './decorators'

const PROVIDERS: Record<string, string> = {
  postgres: 'postgresql',
  cockroachdb: 'cockroachdb',
  mysql: 'mysql',
  mariadb: 'mysql',
  sqlite: 'sqlite',
  'better-sqlite3': 'sqlite',
  sqljs: 'sqlite',
  mssql: 'sqlserver',
}

/**
 * The encryption model of a DataSource's entities, in the shape `prisma generate` writes: the
 * models by entity name, with database table and column names after naming strategies. It is
 * what `encryptDataSource` runs on, and what `kfe.config.ts` hands to the migration commands.
 * Throws `SchemaAnnotationError` (`Entity.property: problem`) for a declaration it cannot honour.
 */
export function encryptionModelOf(dataSource: DataSource): EncryptionModel {
  if (!dataSource.isInitialized)
    throw new SchemaAnnotationError({}, 'the DataSource must be initialized first (await dataSource.initialize())')
  const driverType = String(dataSource.options.type)
  const models: Record<string, ModelDescription> = {}
  for (const metadata of dataSource.entityMetadatas) {
    if (metadata.tableType === 'view' || metadata.isJunction) continue
    models[metadata.name] = describeEntity(metadata, driverType)
  }
  return { version: 1, provider: PROVIDERS[driverType] ?? driverType, models }
}

function describeEntity(metadata: EntityMetadata, driverType: string): ModelDescription {
  const encryptedFields: Record<string, EncryptedFieldModel> = {}
  const blindIndexes: Record<string, BlindIndexModel> = {}
  const declarations = declarationsOf(metadata.target)
  const problem = (property: string, text: string) => new SchemaAnnotationError({ model: metadata.name, field: property }, text)

  for (const d of declarations) {
    if (d.kind !== 'encrypted') continue
    const column = metadata.ownColumns.find((c) => c.propertyName === d.property && !c.embeddedMetadata)
    if (!column)
      throw problem(d.property, '@Encrypted() must be on a column of the entity (columns of embedded entities are not supported)')
    if (column.isPrimary) throw problem(d.property, 'a primary key column cannot be encrypted')
    if (column.relationMetadata || column.referencedColumn) throw problem(d.property, 'a relation column cannot be encrypted')
    if (column.isGenerated || column.isVirtual || column.isVersion || column.isCreateDate || column.isUpdateDate || column.isDeleteDate) {
      throw problem(d.property, 'a generated or special column cannot be encrypted')
    }
    if (column.transformer) throw problem(d.property, 'an encrypted column cannot have a value transformer')
    const unique =
      metadata.uniques.some((u) => u.columns.includes(column)) || metadata.indices.some((i) => i.isUnique && i.columns.includes(column))
    if (unique)
      throw problem(
        d.property,
        'an encrypted column cannot be unique (equal values have different ciphertexts); make its @BlindIndex column unique',
      )
    const kind = encryptedColumnKind(column, driverType)
    if (typeof kind === 'string') throw problem(d.property, kind)
    encryptedFields[d.property] = {
      name: d.property,
      column: column.databaseName,
      type: kind.type,
      isList: kind.isList,
      isRequired: !column.isNullable,
    }
  }

  for (const d of declarations) {
    if (d.kind !== 'blindIndex') continue
    const column = metadata.ownColumns.find((c) => c.propertyName === d.property && !c.embeddedMetadata)
    if (!column) throw problem(d.property, '@BlindIndex() must be on a column of the entity')
    const source = encryptedFields[d.source]
    if (!source) throw problem(d.property, `its source '${d.source}' is not an @Encrypted() column of ${metadata.name}`)
    if (source.type !== 'String' || source.isList) throw problem(d.property, `its source '${d.source}' must be a single text value`)
    if (source.blindIndex) throw problem(d.property, `'${d.source}' already has the blind index '${source.blindIndex}'`)
    if (encryptedFields[d.property]) throw problem(d.property, 'a blind index column cannot itself be encrypted')
    if (!isIndexColumn(column)) throw problem(d.property, "a blind index column must be a text column ('text', or varchar of at least 64)")
    if (column.transformer) throw problem(d.property, 'a blind index column cannot have a value transformer')
    const normalizeProblem = normalizationProblem(d.normalize)
    if (normalizeProblem) throw problem(d.property, normalizeProblem)
    const unique =
      metadata.uniques.some((u) => u.columns.includes(column)) || metadata.indices.some((i) => i.isUnique && i.columns.includes(column))
    blindIndexes[d.property] = {
      name: d.property,
      column: column.databaseName,
      source: d.source,
      normalize: [...d.normalize],
      isUnique: unique,
    }
    encryptedFields[d.source] = { ...source, blindIndex: d.property }
  }

  const scopes = declarations.filter((d) => d.kind === 'scope')
  let scopeField: ModelDescription['scopeField']
  if (scopes.length > 1) throw problem(scopes[1]!.property, 'an entity has at most one @EncryptionScope() column')
  for (const d of scopes) {
    const column = metadata.ownColumns.find((c) => c.propertyName === d.property && !c.embeddedMetadata)
    if (!column) throw problem(d.property, '@EncryptionScope() must be on a column of the entity')
    if (encryptedFields[d.property]) throw problem(d.property, 'the scope column cannot be encrypted')
    if (blindIndexes[d.property]) throw problem(d.property, 'the scope column cannot be a blind index')
    if (column.isNullable) throw problem(d.property, 'the scope column cannot be nullable')
    if (column.transformer) throw problem(d.property, 'the scope column cannot have a value transformer')
    scopeField = { name: d.property, column: column.databaseName }
  }

  for (const d of declarations) {
    if (d.kind !== 'keyHeader') continue
    const fail = (text: string) => problem(d.property, `@KeyHeader('${d.source}'): ${text}`)
    const column = metadata.ownColumns.find((c) => c.propertyName === d.property && !c.embeddedMetadata)
    if (!column) throw fail('it must be on a column of the entity (columns of embedded entities are not supported)')
    if (scopeField?.name === d.property) throw fail('the @EncryptionScope() column cannot be a key header')
    if (encryptedFields[d.property]) throw fail('a column cannot be both @Encrypted() and a key header')
    if (blindIndexes[d.property]) throw fail('a column cannot be both a @BlindIndex() and a key header')
    const taken = Object.values(encryptedFields).find((f) => f.keyHeader?.name === d.property)
    if (taken) throw fail(`it is already the key header of '${taken.name}'`)
    const source = encryptedFields[d.source]
    if (!source) throw fail(`its source '${d.source}' is not an @Encrypted() column of ${metadata.name}`)
    if (source.isList) throw fail(`its source '${d.source}' is a list; key headers (stored format v2) are not for lists`)
    if (source.keyHeader) throw fail(`'${d.source}' already has the key header '${source.keyHeader.name}'`)
    if (column.isPrimary) throw fail('a key header column cannot be (part of) the primary key')
    const unique =
      metadata.uniques.some((u) => u.columns.includes(column)) || metadata.indices.some((i) => i.isUnique && i.columns.includes(column))
    if (unique) throw fail('a key header column cannot be unique (values share data keys, so key headers repeat across rows)')
    if (column.relationMetadata || column.referencedColumn) throw fail('a relation column cannot be a key header')
    if (column.isGenerated || column.isVirtual || column.isVersion || column.isCreateDate || column.isUpdateDate || column.isDeleteDate)
      throw fail('a generated or special column cannot be a key header (the adapter writes it)')
    if (column.default !== undefined) throw fail('a key header column cannot have a default (the adapter writes it)')
    if (column.transformer) throw fail('a key header column cannot have a value transformer')
    if (!isKeyHeaderColumn(column, driverType))
      throw fail("a key header column must be a text column ('text', or varchar of at least 1024)")
    if (!column.isNullable) throw fail(`a key header column must be nullable (it is null when '${d.source}' is null)`)
    encryptedFields[d.source] = { ...source, keyHeader: { name: d.property, column: column.databaseName } }
  }

  const relations: Record<string, RelationModel> = {}
  for (const r of metadata.relations) {
    relations[r.propertyName] = { name: r.propertyName, target: r.inverseEntityMetadata.name, isList: r.isOneToMany || r.isManyToMany }
  }
  return {
    name: metadata.name,
    table: metadata.tableName,
    primaryKey: metadata.primaryColumns.map((c) => c.propertyName),
    primaryKeyColumns: metadata.primaryColumns.map((c) => c.databaseName),
    encryptedFields,
    blindIndexes,
    relations,
    ...(scopeField ? { scopeField } : {}),
  }
}
