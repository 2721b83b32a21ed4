import 'reflect-metadata'
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { BlindIndex, Encrypted, KeyHeader, encryptDataSource } from '../src/typeorm'
import { encryptedClient } from './support/encrypted-client'
import { testLocalKeys } from './support/keys'
import { createTestDatabase, type TestDatabase } from './support/test-database'

/**
 * Stored format version 2 across the ORMs: the Prisma test table `patients` (name, ssn and scan
 * with `@keyHeader` columns) and a TypeORM entity mapped onto it with `@KeyHeader`. With a
 * PostgreSQL DATABASE_URL both share the very table; otherwise Prisma runs on its test database
 * and TypeORM on sql.js, and rows are carried between them byte for byte (the same claim). Each
 * side reads cold (a new encryptor: the values open with the key headers beside them).
 */
const BINARY = /^postgres(ql)?:/.test(process.env.DATABASE_URL ?? '') ? 'bytea' : 'blob'

@Entity({ name: 'patients' })
class CrossPatient {
  @PrimaryGeneratedColumn() id!: number
  @Encrypted() @Column('text') name!: string
  @KeyHeader('name') @Column('text', { name: 'name_key', nullable: true }) nameKey?: string | null
  @Encrypted() @Column('text', { nullable: true }) ssn?: string | null
  @KeyHeader('ssn') @Column('text', { name: 'ssn_key', nullable: true }) ssnKey?: string | null
  @BlindIndex('ssn') @Column('text', { name: 'ssn_index', nullable: true }) ssnIndex?: string | null
  @Encrypted() @Column(BINARY, { nullable: true }) scan?: Buffer | null
  @KeyHeader('scan') @Column('text', { name: 'scan_key', nullable: true }) scanKey?: string | null
}

const keys = testLocalKeys()
const shared = Boolean(process.env.DATABASE_URL && /^postgres(ql)?:/.test(process.env.DATABASE_URL))
const COLUMNS = ['id', 'name', 'name_key', 'ssn', 'ssn_key', 'ssn_index', 'scan', 'scan_key']
let db: TestDatabase
const opened: DataSource[] = []

/** A TypeORM process on the table (a new encryptor each time); on sql.js, one database for the file. */
let sqljsBytes: Uint8Array | undefined
async function typeorm(): Promise<DataSource> {
  const ds = shared
    ? new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, schema: db.schema, entities: [CrossPatient], synchronize: false })
    : new DataSource({ type: 'sqljs', entities: [CrossPatient], synchronize: sqljsBytes === undefined, database: sqljsBytes })
  await encryptDataSource(await ds.initialize(), { keys })
  opened.push(ds)
  return ds
}
/** sql.js: the next `typeorm()` opens what `ds` holds now. */
const keep = (ds: DataSource) => {
  if (!shared) sqljsBytes = (ds.driver as unknown as { export(): Uint8Array }).export()
}
const typeormSql = (ds: DataSource, query: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> =>
  ds.query(shared ? query : query.replace(/\$\d+/g, '?'), params)

/** A carried column value: bytes as a Buffer (sql.js gives Uint8Array, which not every driver binds as bytes). */
const asParameter = (value: unknown) => (value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value) : value)

beforeAll(async () => {
  db = await createTestDatabase()
})
afterAll(async () => {
  for (const ds of opened) if (ds.isInitialized) await ds.destroy()
  await db.close()
})

test('a row written through Prisma reads cold through TypeORM, found by its blind index', async () => {
  const { prisma } = encryptedClient(db, { keys })
  const written = await prisma.patient.create({ data: { name: 'Prisma Patient', ssn: '900-00-0001', scan: Buffer.from('x-ray') } })
  const ds = await typeorm()
  if (!shared) {
    const [row] = await db.sql(`SELECT ${COLUMNS.join(', ')} FROM patients WHERE id = $1`, [written.id])
    expect(String(row!.name)).toMatch(/^\$kf2\$/)
    await typeormSql(
      ds,
      `INSERT INTO patients (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
      COLUMNS.map((c) => asParameter(row![c])),
    )
  }
  const read = await ds.getRepository(CrossPatient).findOneByOrFail({ ssn: '900-00-0001' })
  expect(read).toMatchObject({ id: written.id, name: 'Prisma Patient', ssn: '900-00-0001' })
  expect(read.scan).toEqual(Buffer.from('x-ray'))
  keep(ds)
})

test('a row written through TypeORM reads cold through Prisma', async () => {
  const ds = await typeorm()
  const repo = ds.getRepository(CrossPatient)
  const id = shared ? undefined : 200_000 + Math.floor(Math.random() * 1000)
  const written = await repo.save(repo.create({ id, name: 'TypeORM Patient', ssn: '900-00-0002', scan: Buffer.from('scan') }))
  if (!shared) {
    const [row] = await typeormSql(ds, `SELECT ${COLUMNS.join(', ')} FROM patients WHERE id = $1`, [written.id])
    await db.sql(
      `INSERT INTO patients (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
      COLUMNS.map((c) => asParameter(row![c])),
    )
  }
  const [stored] = await db.sql<{ name: string; name_key: string }>('SELECT name, name_key FROM patients WHERE id = $1', [written.id])
  expect(stored!.name).toMatch(/^\$kf2\$/)
  expect(stored!.name_key).toMatch(/^\$kfh\$/)
  const { prisma } = encryptedClient(db, { keys })
  const read = await prisma.patient.findFirst({ where: { ssn: '900-00-0002' } })
  expect(read).toMatchObject({ id: written.id, name: 'TypeORM Patient', ssn: '900-00-0002' })
  expect(Buffer.from(read!.scan!)).toEqual(Buffer.from('scan'))
})
