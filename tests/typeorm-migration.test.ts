import 'reflect-metadata'
import { PGlite } from '@electric-sql/pglite'
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { encryptColumns, encryptionStatus, pgliteDatabase } from '../src'
import { BlindIndex, Encrypted, encryptDataSource, encryptionModelOf } from '../src/typeorm'
import { testLocalKeys } from './support/keys'

/**
 * Existing rows of a TypeORM application: the migration functions run on the model built from the
 * entities (`encryptionModelOf`), here on PGlite; the rows they encrypted are then carried byte for
 * byte to a TypeORM DataSource (sql.js) and read there, found by their blind index.
 */
@Entity({ name: 'mig_users' })
class MigUser {
  @PrimaryGeneratedColumn() id!: number
  @Encrypted() @Column('text') email!: string
  @BlindIndex('email', { normalize: ['lowercase'] }) @Column('text', { name: 'email_index', nullable: true }) emailIndex?: string | null
  @Encrypted() @Column('text', { nullable: true }) phone?: string | null
}

test('encryptColumns encrypts plaintext rows described by TypeORM entities; TypeORM then reads them', async () => {
  const keys = testLocalKeys()
  const ds = await new DataSource({ type: 'sqljs', entities: [MigUser], synchronize: true }).initialize()
  const model = encryptionModelOf(ds)
  const pg = new PGlite()
  try {
    await pg.exec('CREATE TABLE mig_users (id SERIAL PRIMARY KEY, email TEXT NOT NULL, email_index TEXT, phone TEXT)')
    await pg.exec("INSERT INTO mig_users (email, phone) VALUES ('Old@Example.com', '111'), ('second@example.com', NULL)")
    const summary = await encryptColumns({ model, keys, database: pgliteDatabase(pg) })
    expect(summary.columns.some((c) => c.table === 'mig_users')).toBe(true)
    const status = await encryptionStatus({ model, keys, database: pgliteDatabase(pg) })
    expect(JSON.stringify(status)).not.toMatch(/"plaintext":[1-9]/)

    const rows = (await pg.query<Record<string, unknown>>('SELECT id, email, email_index, phone FROM mig_users ORDER BY id')).rows
    expect(rows.every((r) => String(r.email).startsWith('$kfe$'))).toBe(true)
    for (const r of rows)
      await ds.query('INSERT INTO mig_users (id, email, email_index, phone) VALUES (?, ?, ?, ?)', [r.id, r.email, r.email_index, r.phone])
    await encryptDataSource(ds, { keys })
    const found = await ds.getRepository(MigUser).findOneBy({ email: 'old@example.com' })
    expect(found).toMatchObject({ email: 'Old@Example.com', phone: '111' })
  } finally {
    await ds.destroy()
    await pg.close()
  }
})
