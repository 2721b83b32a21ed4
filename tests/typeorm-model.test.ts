import 'reflect-metadata'
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { ConfigurationError, SchemaAnnotationError } from '../src'
import { BlindIndex, Encrypted, encryptDataSource, encryptionModelOf } from '../src/typeorm'
import { ENTITIES } from './support/typeorm-entities'
import { testLocalKeys } from './support/keys'
import { createTypeOrmDatabase } from './support/typeorm-data-source'

async function open(entities: Function[], namingStrategy?: DataSource['namingStrategy']): Promise<DataSource> {
  const ds = new DataSource({ type: 'sqljs', entities, synchronize: true, ...(namingStrategy ? { namingStrategy } : {}) })
  return ds.initialize()
}

test('encryptionModelOf describes the entities as the Prisma generator does (database table and column names)', async () => {
  const db = await createTypeOrmDatabase(ENTITIES, false)
  const model = encryptionModelOf(db.dataSource)
  expect(model.version).toBe(1)
  expect(model.provider).toBe(db.kind === 'postgres' ? 'postgresql' : 'sqlite')
  expect(model.models.User).toMatchObject({
    name: 'User',
    table: 'users',
    primaryKey: ['id'],
    primaryKeyColumns: ['id'],
    encryptedFields: {
      email: { name: 'email', column: 'email', type: 'String', isList: false, isRequired: true, blindIndex: 'emailIndex' },
      phone: { column: 'phone', isRequired: false },
      tags: { type: 'String', isList: true },
      avatar: { type: 'Bytes', isList: false },
    },
    blindIndexes: {
      emailIndex: { name: 'emailIndex', column: 'email_index', source: 'email', normalize: ['lowercase', 'trim'], isUnique: true },
    },
    relations: { posts: { target: 'Post', isList: true }, profile: { target: 'Profile', isList: false } },
  })
  expect(model.models.Profile!.encryptedFields.bio!.column).toBe('biography')
  await db.close()
})

test('naming strategies are followed: the AAD binds the database names', async () => {
  @Entity()
  class NamedThing {
    @PrimaryGeneratedColumn() id!: number
    @Encrypted() @Column('text') secretValue!: string
  }
  const { DefaultNamingStrategy } = await import('typeorm')
  class Snake extends DefaultNamingStrategy {
    override tableName(target: string, user?: string) {
      return user ?? `t_${target.toLowerCase()}`
    }
    override columnName(property: string, custom: string | undefined) {
      return custom ?? property.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    }
  }
  const ds = await open([NamedThing], new Snake())
  const m = encryptionModelOf(ds).models.NamedThing!
  expect([m.table, m.encryptedFields.secretValue!.column]).toEqual(['t_namedthing', 'secret_value'])
  await ds.destroy()
})

describe('declarations that cannot be honoured fail at set-up, naming Entity.property', () => {
  @Entity()
  class IntColumn {
    @PrimaryGeneratedColumn() id!: number
    @Encrypted() @Column('integer') n!: number
  }
  @Entity()
  class UniqueEncrypted {
    @PrimaryGeneratedColumn() id!: number
    @Encrypted() @Column('text', { unique: true }) email!: string
  }
  @Entity()
  class NoSource {
    @PrimaryGeneratedColumn() id!: number
    @BlindIndex('email') @Column('text') emailIndex!: string
  }
  @Entity()
  class PlainSource {
    @PrimaryGeneratedColumn() id!: number
    @Column('text') email!: string
    @BlindIndex('email') @Column('text') idx!: string
  }
  @Entity()
  class BadNormalize {
    @PrimaryGeneratedColumn() id!: number
    @Encrypted() @Column('text') email!: string
    @BlindIndex('email', { normalize: ['lowercase', 'uppercase'] }) @Column('text') idx!: string
  }
  @Entity()
  class Transformed {
    @PrimaryGeneratedColumn() id!: number
    @Encrypted() @Column('text', { transformer: { to: (v) => v, from: (v) => v } }) s!: string
  }
  @Entity()
  class NotAColumn {
    @PrimaryGeneratedColumn() id!: number
    @Encrypted() loose?: string
  }

  test.each([
    [IntColumn, 'IntColumn.n: column type', /cannot hold ciphertext/],
    [UniqueEncrypted, 'UniqueEncrypted.email: ', /cannot be unique/],
    [NoSource, 'NoSource.emailIndex: ', /not an @Encrypted\(\) column/],
    [PlainSource, 'PlainSource.idx: ', /not an @Encrypted\(\) column/],
    [BadNormalize, 'BadNormalize.idx: ', /lowercase and uppercase/],
    [Transformed, 'Transformed.s: ', /transformer/],
    [NotAColumn, 'NotAColumn.loose: ', /must be on a column/],
  ])('%p', async (entity, prefix, problem) => {
    const ds = await open([entity])
    const err = await encryptDataSource(ds, { keys: testLocalKeys() }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(SchemaAnnotationError)
    expect((err as Error).message.startsWith(prefix)).toBe(true)
    expect((err as Error).message).toMatch(problem)
    await ds.destroy()
  })
})

test('set-up needs an initialized DataSource and happens once', async () => {
  @Entity()
  class Once {
    @PrimaryGeneratedColumn() id!: number
    @Encrypted() @Column('text') s!: string
  }
  const fresh = new DataSource({ type: 'sqljs', entities: [Once] })
  await expect(encryptDataSource(fresh, { keys: testLocalKeys() })).rejects.toThrow(/initialize/)
  const ds = await open([Once])
  expect(await encryptDataSource(ds, { keys: testLocalKeys() })).toBe(ds)
  await expect(encryptDataSource(ds, { keys: testLocalKeys() })).rejects.toBeInstanceOf(ConfigurationError)
  await ds.destroy()
})
