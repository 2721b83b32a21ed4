import 'reflect-metadata'
import { Column, DataSource, Entity, InsertQueryBuilder, PrimaryGeneratedColumn } from 'typeorm'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { UnsupportedEncryptedFieldQueryError } from '../src/errors'
import { Encrypted, KeyHeader, encryptDataSource } from '../src/typeorm'
import { testLocalKeys } from './support/keys'

/**
 * Review of stored format version 2 through TypeORM (sql.js): an INSERT whose conflict clause the
 * adapter cannot see. TypeORM 0.3's `onConflict(statement)` (raw SQL, removed in 1.x) comes before
 * `orUpdate` in the statement: a `DO UPDATE SET name = EXCLUDED.name` there overwrites a short
 * value without its key header (the row keeps the old one: the value no longer opens once the
 * cache is cold), a blind-indexed value without its index, a row-scoped row of another scope.
 */
@Entity({ name: 'review_short_patients' })
class ReviewPatient {
  @PrimaryGeneratedColumn() id!: number
  @Column('varchar', { length: 64, unique: true }) code!: string
  @Encrypted() @Column('text') name!: string
  @KeyHeader('name') @Column('text', { name: 'name_key', nullable: true }) nameKey?: string | null
}

type RawConflict = { onConflict(statement: string): RawConflict; execute(): Promise<unknown> }
const hasRawOnConflict = typeof (InsertQueryBuilder.prototype as unknown as Partial<RawConflict>).onConflict === 'function'

let ds: DataSource
let encryptor: EnvelopeEncryptor

beforeAll(async () => {
  // A new data key for every value: a rewrite of name has another key header.
  encryptor = new EnvelopeEncryptor({ keys: testLocalKeys(), cache: { maxUses: 1 } })
  ds = await encryptDataSource(await new DataSource({ type: 'sqljs', entities: [ReviewPatient], synchronize: true }).initialize(), {
    encryptor,
  })
})
afterAll(async () => {
  if (ds?.isInitialized) await ds.destroy()
})

const rawUpsert = (name: string, statement: string) =>
  (ds.createQueryBuilder().insert().into(ReviewPatient).values({ code: 'c1', name }) as unknown as RawConflict)
    .onConflict(statement)
    .execute()

;(hasRawOnConflict ? test : test.skip)(
  'a raw onConflict DO UPDATE of an entity with encrypted columns is refused; the row stays readable cold',
  async () => {
    await ds.getRepository(ReviewPatient).insert({ code: 'c1', name: 'first' })
    await expect(rawUpsert('second', `("code") DO UPDATE SET "name" = EXCLUDED."name"`)).rejects.toThrow(
      UnsupportedEncryptedFieldQueryError,
    )
    encryptor.clearCache() // cold: each value opens only with its row's key header
    await expect(ds.getRepository(ReviewPatient).findOneByOrFail({ code: 'c1' })).resolves.toMatchObject({ name: 'first' })
    // DO NOTHING overwrites nothing: allowed.
    await expect(rawUpsert('third', `("code") DO NOTHING`)).resolves.toBeDefined()
    encryptor.clearCache()
    await expect(ds.getRepository(ReviewPatient).findOneByOrFail({ code: 'c1' })).resolves.toMatchObject({ name: 'first' })
  },
)
