import type { DataSource, EntityTarget } from 'typeorm'
import { ConfigurationError, InvalidFieldValueError } from '../errors'
import { encryptionOf } from './encrypt-data-source'

/**
 * The blind-index values to bind for an equality on an encrypted property in a query the adapter
 * cannot rewrite (a QueryBuilder string condition): one per configured index version, current first
 * (the DataSource's scope's indexes when it is scoped).
 *
 *   qb.where('user.emailIndex IN (:...email)', { email: blindIndexValues(dataSource, User, 'email', 'Ann@Example.com') })
 */
export function blindIndexValues<E>(
  dataSource: DataSource,
  entity: EntityTarget<E>,
  property: keyof E & string,
  plaintext: string,
): string[] {
  const { model, blindIndexer, scope } = encryptionOf(dataSource)
  const name = dataSource.getMetadata(entity).name
  const indexName = model.models[name]?.encryptedFields[property]?.blindIndex
  const field = indexName ? blindIndexer?.indexNamed(name, indexName) : undefined
  if (!field) throw new ConfigurationError(`${name}.${property}: not an encrypted property with a @BlindIndex`)
  if (typeof plaintext !== 'string') throw new InvalidFieldValueError({ model: name, field: property }, 'a string', typeof plaintext)
  return blindIndexer!.candidates(field, plaintext, scope)
}
