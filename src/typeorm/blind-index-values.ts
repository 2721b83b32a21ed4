import type { DataSource, EntityTarget } from 'typeorm'
import { ConfigurationError, InvalidFieldValueError, ScopeRequiredError } from '../errors'
import { checkScope } from '../keys/scope-keys'
import { encryptionOf } from './encrypt-data-source'

/**
 * The blind-index values to bind for an equality on an encrypted property in a query the adapter
 * cannot rewrite (a QueryBuilder string condition): one per configured index version, current first
 * (the DataSource's scope's indexes when it is scoped; for a row-scoped entity, those of `rowScope`, required).
 *
 *   qb.where('user.emailIndex IN (:...email)', { email: blindIndexValues(dataSource, User, 'email', 'Ann@Example.com') })
 */
export function blindIndexValues<E>(
  dataSource: DataSource,
  entity: EntityTarget<E>,
  property: keyof E & string,
  plaintext: string,
  rowScope?: string,
): string[] {
  const { model, blindIndexer, scope: clientScope } = encryptionOf(dataSource)
  const name = dataSource.getMetadata(entity).name
  const indexName = model.models[name]?.encryptedFields[property]?.blindIndex
  const field = indexName ? blindIndexer?.indexNamed(name, indexName) : undefined
  if (!field) throw new ConfigurationError(`${name}.${property}: not an encrypted property with a @BlindIndex`)
  if (typeof plaintext !== 'string') throw new InvalidFieldValueError({ model: name, field: property }, 'a string', typeof plaintext)
  const scopeField = model.models[name]!.scopeField
  if (scopeField && rowScope === undefined)
    throw new ScopeRequiredError(
      { model: name, field: property },
      `blindIndexValues needs the row scope (${scopeField.name}) as its last argument`,
    )
  const scope = scopeField ? checkScope(rowScope, { model: name, field: scopeField.name }) : clientScope
  return blindIndexer!.candidates(field, plaintext, scope)
}
