import 'reflect-metadata'
import { Column, DataSource, Entity, ManyToOne, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { KeyHeaderMissingError, KeyHeaderWriteError, SchemaAnnotationError } from '../src/errors'
import { BlindIndex, Encrypted, EncryptionScope, KeyHeader, encryptDataSource, encryptionModelOf } from '../src/typeorm'
import { testLocalKeys } from './support/keys'
import { SqlCapture } from './support/typeorm-data-source'
import { privateTypeOrmDatabase } from './support/typeorm-private-database'

/**
 * Stored format version 2 (short values) through TypeORM: `@KeyHeader('name')` on a nullable text
 * column makes `name` short (`$kf2$`), with its key header (`$kfh$`, the encrypted data key) written
 * beside it in the same statement. sql.js by default; with DATABASE_URL, a private schema
 * (PostgreSQL) or database (MySQL/MariaDB), or a better-sqlite3 file (file:). Runs on TypeORM 1.x
 * and 0.3 (two Jest projects). Its own entities: the shared ones stay as other tests know them.
 */
const url = process.env.DATABASE_URL
const postgres = Boolean(url && /^postgres(ql)?:/.test(url))
const BINARY = postgres ? 'bytea' : 'blob'

@Entity({ name: 'short_patients' })
class ShortPatient {
  @PrimaryGeneratedColumn() id!: number
  @Column('varchar', { length: 64, unique: true, nullable: true }) code?: string | null
  @Encrypted() @Column('text') name!: string
  @KeyHeader('name') @Column('text', { name: 'name_key', nullable: true }) nameKey?: string | null
  @Encrypted() @Column('text', { nullable: true }) ssn?: string | null
  @KeyHeader('ssn') @Column('text', { name: 'ssn_key', nullable: true }) ssnKey?: string | null
  @BlindIndex('ssn') @Column('varchar', { name: 'ssn_index', length: 128, nullable: true }) ssnIndex?: string | null
  @Encrypted() @Column(BINARY, { nullable: true }) scan?: Buffer | null
  @KeyHeader('scan') @Column('text', { name: 'scan_key', nullable: true }) scanKey?: string | null
  /** Format version 1 (no key header): both forms in one row. */
  @Encrypted() @Column('text', { nullable: true }) note?: string | null
}

@Entity({ name: 'short_visits' })
class ShortVisit {
  @PrimaryGeneratedColumn() id!: number
  @Column('text') reason!: string
  @ManyToOne(() => ShortPatient, { nullable: true, onDelete: 'CASCADE' }) patient?: ShortPatient | null
}

const entities = [ShortPatient, ShortVisit]
const keys = testLocalKeys()
const capture = new SqlCapture()
let options: DataSourceOptions
let cleanup: (() => Promise<void>) | undefined
let ds: DataSource
let encryptor: EnvelopeEncryptor
const opened: DataSource[] = []

/** Raw SQL on `on`'s database (sql.js: each DataSource has its own copy; the servers: one database). */
function sql<T = Record<string, unknown>>(query: string, params: unknown[] = [], on: DataSource = ds): Promise<T[]> {
  return on.query(postgres ? query : query.replace(/\$\d+/g, '?'), params)
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e,
  )
}

/**
 * Another process on the same database as `from`: a new DataSource and encryptor (an empty
 * data-key cache). On sql.js, a copy of `from`'s database.
 */
async function coldDataSource(
  from: DataSource = ds,
): Promise<{ cold: DataSource; coldEncryptor: EnvelopeEncryptor; coldCapture: SqlCapture }> {
  const coldCapture = new SqlCapture()
  const base: DataSourceOptions =
    options.type === 'sqljs' ? { ...options, database: (from.driver as unknown as { export(): Uint8Array }).export() } : options
  const coldEncryptor = new EnvelopeEncryptor({ keys })
  const cold = await encryptDataSource(await new DataSource({ ...base, synchronize: false, logger: coldCapture }).initialize(), {
    encryptor: coldEncryptor,
  })
  opened.push(cold)
  return { cold, coldEncryptor, coldCapture }
}

async function row(id: number, on: DataSource = ds): Promise<Record<string, unknown>> {
  const [found] = await sql('SELECT * FROM short_patients WHERE id = $1', [id], on)
  return found!
}

const keyIdOf = (value: unknown) => String(value).slice(5, 17)

beforeAll(async () => {
  if (url) {
    let plain: DataSource
    ;({ options, plain, cleanup } = await privateTypeOrmDatabase('short', entities))
    await plain.destroy()
  } else {
    options = { type: 'sqljs', entities, synchronize: true }
  }
  encryptor = new EnvelopeEncryptor({ keys })
  ds = await encryptDataSource(await new DataSource({ ...options, logger: capture }).initialize(), { encryptor })
})

afterAll(async () => {
  for (const d of [...opened, ds]) if (d?.isInitialized) await d.destroy()
  await cleanup?.()
})

describe('the model', () => {
  test('@KeyHeader names the key-header column of its source', async () => {
    const d = await new DataSource({ ...options, synchronize: false }).initialize()
    const model = encryptionModelOf(d).models.ShortPatient!
    await d.destroy()
    expect(model.encryptedFields.name!.keyHeader).toEqual({ name: 'nameKey', column: 'name_key' })
    expect(model.encryptedFields.ssn!.keyHeader).toEqual({ name: 'ssnKey', column: 'ssn_key' })
    expect(model.encryptedFields.scan!.keyHeader).toEqual({ name: 'scanKey', column: 'scan_key' })
    expect(model.encryptedFields.note!.keyHeader).toBeUndefined()
  })

  /** The refusal `encryptionModelOf` gives for one entity class (sql.js, nothing synchronized). */
  async function refusal(entity: Function): Promise<string> {
    const d = await new DataSource({ type: 'sqljs', entities: [entity] }).initialize()
    try {
      encryptionModelOf(d)
      throw new Error('expected a SchemaAnnotationError')
    } catch (err) {
      expect(err).toBeInstanceOf(SchemaAnnotationError)
      return (err as Error).message
    } finally {
      await d.destroy()
    }
  }

  test('every declaration it cannot honour is refused, naming its cause', async () => {
    @Entity({ name: 'bad_source' })
    class NotEncrypted {
      @PrimaryGeneratedColumn() id!: number
      @Column('text') name!: string
      @KeyHeader('name') @Column('text', { nullable: true }) nameKey?: string | null
    }
    expect(await refusal(NotEncrypted)).toMatch(
      /NotEncrypted\.nameKey: @KeyHeader\('name'\): its source 'name' is not an @Encrypted\(\) column/,
    )

    @Entity({ name: 'bad_list' })
    class ListSource {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('simple-array') tags!: string[]
      @KeyHeader('tags') @Column('text', { nullable: true }) tagsKey?: string | null
    }
    expect(await refusal(ListSource)).toMatch(/not for lists/)

    @Entity({ name: 'bad_two' })
    class TwoHeaders {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @KeyHeader('name') @Column('text', { nullable: true }) a?: string | null
      @KeyHeader('name') @Column('text', { nullable: true }) b?: string | null
    }
    expect(await refusal(TwoHeaders)).toMatch(/'name' already has the key header 'a'/)

    @Entity({ name: 'bad_shared' })
    class OneForTwo {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @Encrypted() @Column('text') ssn!: string
      @KeyHeader('name') @KeyHeader('ssn') @Column('text', { nullable: true }) key?: string | null
    }
    expect(await refusal(OneForTwo)).toMatch(/already the key header of/)

    @Entity({ name: 'bad_required' })
    class Required {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @KeyHeader('name') @Column('text') nameKey!: string
    }
    expect(await refusal(Required)).toMatch(/must be nullable/)

    @Entity({ name: 'bad_unique' })
    class Unique {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @KeyHeader('name') @Column('text', { nullable: true, unique: true }) nameKey?: string | null
    }
    expect(await refusal(Unique)).toMatch(/cannot be unique/)

    @Entity({ name: 'bad_primary' })
    class Primary {
      @KeyHeader('name') @Column('text', { primary: true }) nameKey!: string
      @Encrypted() @Column('text') name!: string
    }
    expect(await refusal(Primary)).toMatch(/primary key/)

    @Entity({ name: 'bad_default' })
    class WithDefault {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @KeyHeader('name') @Column('text', { nullable: true, default: 'x' }) nameKey?: string | null
    }
    expect(await refusal(WithDefault)).toMatch(/cannot have a default/)

    @Entity({ name: 'bad_short' })
    class ShortColumn {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @KeyHeader('name') @Column('varchar', { length: 255, nullable: true }) nameKey?: string | null
    }
    expect(await refusal(ShortColumn)).toMatch(/must be a text column/)

    @Entity({ name: 'bad_number' })
    class NumberColumn {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @KeyHeader('name') @Column('integer', { nullable: true }) nameKey?: number | null
    }
    expect(await refusal(NumberColumn)).toMatch(/must be a text column/)

    @Entity({ name: 'bad_encrypted' })
    class EncryptedHeader {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @Encrypted() @KeyHeader('name') @Column('text', { nullable: true }) nameKey?: string | null
    }
    expect(await refusal(EncryptedHeader)).toMatch(/both @Encrypted\(\) and a key header/)

    @Entity({ name: 'bad_index' })
    class IndexHeader {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @BlindIndex('name') @KeyHeader('name') @Column('text', { nullable: true }) nameKey?: string | null
    }
    expect(await refusal(IndexHeader)).toMatch(/both a @BlindIndex\(\) and a key header/)

    @Entity({ name: 'bad_scope' })
    class ScopeHeader {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @EncryptionScope() @KeyHeader('name') @Column('text') tenant!: string
    }
    expect(await refusal(ScopeHeader)).toMatch(/@EncryptionScope\(\) column cannot be a key header/)

    @Entity({ name: 'bad_generated' })
    class GeneratedHeader {
      @PrimaryGeneratedColumn() id!: number
      @Encrypted() @Column('text') name!: string
      @KeyHeader('name')
      @Column('text', { nullable: true, transformer: { to: (v: unknown) => v, from: (v: unknown) => v } })
      nameKey?: string | null
    }
    expect(await refusal(GeneratedHeader)).toMatch(/value transformer/)
  })
})

describe('writes', () => {
  test('save() writes each short value with its key header in one INSERT; a null value has a null header', async () => {
    capture.clear()
    const saved = await ds
      .getRepository(ShortPatient)
      .save(Object.assign(new ShortPatient(), { name: 'Ada Lovelace', ssn: null, scan: Buffer.from([1, 2, 3]), note: 'v1 note' }))
    const inserts = capture.statements.filter((s) => /^INSERT/i.test(s.query))
    expect(inserts).toHaveLength(1)
    const stored = await row(saved.id)
    expect(String(stored.name)).toMatch(/^\$kf2\$/)
    expect(String(stored.name_key)).toMatch(/^\$kfh\$/)
    expect(inserts[0]!.parameters).toEqual(expect.arrayContaining([stored.name, stored.name_key, stored.scan_key]))
    expect(stored.ssn).toBeNull()
    expect(stored.ssn_key).toBeNull()
    expect(stored.ssn_index).toBeNull()
    expect(Buffer.from(stored.scan as Uint8Array).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x4b, 0x46, 0x32]))
    expect(String(stored.scan_key)).toMatch(/^\$kfh\$/)
    expect(String(stored.note)).toMatch(/^\$kfe\$/)
    // The caller's object: plaintexts, and the key headers written (the row's).
    expect(saved.name).toBe('Ada Lovelace')
    expect(saved.scan).toEqual(Buffer.from([1, 2, 3]))
    expect(saved.nameKey).toBe(stored.name_key)
    expect(saved.ssnKey).toBeNull()
    // This process reads its own short values back from the cache.
    const again = await ds.getRepository(ShortPatient).findOneByOrFail({ id: saved.id })
    expect(again).toMatchObject({ name: 'Ada Lovelace', ssn: null, note: 'v1 note', nameKey: stored.name_key })
  })

  test('insert(), the query builder insert and update() write the key header with the value, in the same statement', async () => {
    const repo = ds.getRepository(ShortPatient)
    capture.clear()
    const result = await repo.insert({ name: 'Grace', ssn: '123-45-6789' })
    const id = Number(result.identifiers[0]!.id)
    let stored = await row(id)
    expect(String(stored.ssn)).toMatch(/^\$kf2\$/)
    expect(String(stored.ssn_key)).toMatch(/^\$kfh\$/)
    expect(String(stored.ssn_index)).toMatch(/^v1:/)
    expect(capture.statements.filter((s) => /^INSERT/i.test(s.query))[0]!.parameters).toEqual(
      expect.arrayContaining([stored.name, stored.name_key, stored.ssn, stored.ssn_key]),
    )

    await ds.createQueryBuilder().insert().into(ShortPatient).values({ code: 'qb-insert', name: 'Hopper' }).execute()
    const [qbRow] = await sql('SELECT * FROM short_patients WHERE code = $1', ['qb-insert'])
    expect(String(qbRow!.name)).toMatch(/^\$kf2\$/)
    expect(String(qbRow!.name_key)).toMatch(/^\$kfh\$/)

    capture.clear()
    await repo.update({ id }, { ssn: '987-65-4321' })
    const updates = capture.statements.filter((s) => /^UPDATE/i.test(s.query))
    expect(updates).toHaveLength(1)
    expect(updates[0]!.query).toMatch(/ssn_key/)
    const after = await row(id)
    expect(after.ssn).not.toBe(stored.ssn)
    expect(String(after.ssn_key)).toMatch(/^\$kfh\$/)
    expect(after.name).toBe(stored.name)
    expect(after.name_key).toBe(stored.name_key)

    await ds.createQueryBuilder().update(ShortPatient).set({ ssn: null }).where({ id }).execute()
    stored = await row(id)
    expect(stored.ssn).toBeNull()
    expect(stored.ssn_key).toBeNull()
    expect(stored.ssn_index).toBeNull()
    expect(await repo.findOneByOrFail({ id })).toMatchObject({ name: 'Grace', ssn: null })
  })

  test('upsert() and orUpdate() overwrite the key header with the value', async () => {
    const repo = ds.getRepository(ShortPatient)
    await repo.upsert({ code: 'up-1', name: 'first' }, ['code'])
    const orUpdate = (on: DataSource, name: string) =>
      on.createQueryBuilder().insert().into(ShortPatient).values({ code: 'up-2', name }).orUpdate(['name'], ['code']).execute()
    await orUpdate(ds, 'qb first')
    const firsts = await sql('SELECT * FROM short_patients WHERE code IN ($1, $2) ORDER BY code', ['up-1', 'up-2'])
    expect(String(firsts[0]!.name_key)).toMatch(/^\$kfh\$/)
    // A new process: its data key (and so its key header) is another.
    const { cold, coldCapture } = await coldDataSource()
    coldCapture.clear()
    await cold.getRepository(ShortPatient).upsert({ code: 'up-1', name: 'second' }, ['code'])
    await orUpdate(cold, 'qb second')
    expect(coldCapture.statements.filter((s) => /^INSERT/i.test(s.query)).every((s) => /name_key/.test(s.query))).toBe(true)
    const seconds = await sql('SELECT * FROM short_patients WHERE code IN ($1, $2) ORDER BY code', ['up-1', 'up-2'], cold)
    for (const i of [0, 1]) {
      expect(seconds[i]!.name_key).not.toBe(firsts[i]!.name_key)
      expect(keyIdOf(seconds[i]!.name)).not.toBe(keyIdOf(firsts[i]!.name))
    }
    // Read by a third process: each value opens with the key header beside it.
    const { cold: third } = await coldDataSource(cold)
    const found = await third.getRepository(ShortPatient).find({ where: [{ code: 'up-1' }, { code: 'up-2' }], order: { code: 'ASC' } })
    expect(found.map((p) => p.name)).toEqual(['second', 'qb second'])
  })
})

describe('key headers are never written by hand', () => {
  test('insert, update, query builder and save() setting a key header are refused; nothing is written', async () => {
    const repo = ds.getRepository(ShortPatient)
    const saved = await repo.save(Object.assign(new ShortPatient(), { name: 'refusals', ssn: '111-11-1111' }))
    const before = await row(saved.id)
    const count = async () => Number((await sql<{ n: unknown }>('SELECT COUNT(*) AS n FROM short_patients'))[0]!.n)
    const rows = await count()

    for (const attempt of [
      () => repo.insert({ name: 'x', nameKey: String(before.name_key) }),
      () => repo.save(Object.assign(new ShortPatient(), { name: 'x', nameKey: '$kfh$forged' })),
      () => repo.update({ id: saved.id }, { nameKey: null }),
      () => repo.update({ id: saved.id }, { ssn: 'new', ssnKey: String(before.name_key) }),
      () => ds.createQueryBuilder().update(ShortPatient).set({ scanKey: '$kfh$x' }).where({ id: saved.id }).execute(),
      () => repo.upsert({ code: 'refused', name: 'x', nameKey: '$kfh$x' }, ['code']),
    ]) {
      const err = await rejection(attempt())
      expect(err).toBeInstanceOf(KeyHeaderWriteError)
      expect((err as KeyHeaderWriteError).code).toBe('KFE_KEY_HEADER_WRITE')
      expect((err as Error).message).not.toMatch(/\$kfh\$/)
    }
    expect(await count()).toBe(rows)
    expect(await row(saved.id)).toEqual(before)

    // A loaded entity whose key header is changed (the values of a row share its data key, so its
    // key headers are alike: another header is a forged one).
    const loaded = await repo.findOneByOrFail({ id: saved.id })
    expect(loaded.nameKey).toBe(loaded.ssnKey)
    loaded.nameKey = '$kfh$AAAA'
    const err = await rejection(repo.save(loaded))
    expect(err).toBeInstanceOf(KeyHeaderWriteError)
    expect(err).toMatchObject({ model: 'ShortPatient', field: 'nameKey', source: 'name' })
    expect(loaded.name).toBe('refusals')
    expect(await row(saved.id)).toEqual(before)
  })

  test('save() of a loaded entity: unchanged, it writes nothing; changed, value and key header go together', async () => {
    const repo = ds.getRepository(ShortPatient)
    const saved = await repo.save(Object.assign(new ShortPatient(), { name: 'loaded', ssn: '222-22-2222' }))
    const before = await row(saved.id)
    const { cold, coldCapture } = await coldDataSource()
    const coldRepo = cold.getRepository(ShortPatient)
    const loaded = await coldRepo.findOneByOrFail({ id: saved.id })
    expect(loaded.nameKey).toBe(before.name_key)
    coldCapture.clear()
    await coldRepo.save(loaded)
    expect(coldCapture.statements.filter((s) => /^UPDATE/i.test(s.query))).toHaveLength(0)
    expect(await row(saved.id, cold)).toEqual(before)

    loaded.name = 'renamed'
    await coldRepo.save(loaded)
    const updates = coldCapture.statements.filter((s) => /^UPDATE/i.test(s.query))
    expect(updates).toHaveLength(1)
    expect(updates[0]!.query).toMatch(/name_key/)
    const after = await row(saved.id, cold)
    expect(after.name).not.toBe(before.name)
    expect(after.name_key).not.toBe(before.name_key)
    expect(after.ssn).toBe(before.ssn)
    expect(after.ssn_key).toBe(before.ssn_key)
    expect(loaded).toMatchObject({ name: 'renamed', nameKey: after.name_key, ssnKey: before.ssn_key })

    // A copy of a loaded entity (spread) saves too: its key headers are the stored row's.
    await coldRepo.save({ ...loaded, ssn: '333-33-3333' })
    const third = await coldDataSource(cold)
    expect(await third.cold.getRepository(ShortPatient).findOneByOrFail({ id: saved.id })).toMatchObject({
      name: 'renamed',
      ssn: '333-33-3333',
    })
  })

  test('save() of an entity loaded and saved in this process', async () => {
    const repo = ds.getRepository(ShortPatient)
    const saved = await repo.save(Object.assign(new ShortPatient(), { name: 'here', ssn: '444-44-4444' }))
    const loaded = await repo.findOneByOrFail({ id: saved.id })
    loaded.ssn = null
    await repo.save(loaded)
    expect(loaded.ssnKey).toBeNull()
    loaded.ssn = '555-55-5555'
    await repo.save(loaded)
    // `saved` still holds the first ssn: saved, it writes that value back, with its own key header.
    saved.name = 'here again'
    await repo.save(saved)
    const { cold } = await coldDataSource()
    expect(await cold.getRepository(ShortPatient).findOneByOrFail({ id: saved.id })).toMatchObject({
      name: 'here again',
      ssn: '444-44-4444',
    })
  })
})

describe('reads', () => {
  test('a cold process reads each value with its key header', async () => {
    const repo = ds.getRepository(ShortPatient)
    const saved = await repo.save(
      Object.assign(new ShortPatient(), { name: 'cold read', ssn: '666-66-6666', scan: Buffer.from('scan'), note: 'n' }),
    )
    const { cold, coldEncryptor } = await coldDataSource()
    const found = await cold.getRepository(ShortPatient).findOneByOrFail({ id: saved.id })
    expect(found).toMatchObject({ name: 'cold read', ssn: '666-66-6666', note: 'n' })
    expect(found.scan).toEqual(Buffer.from('scan'))
    expect(String(found.nameKey)).toMatch(/^\$kfh\$/)
    expect(coldEncryptor.stats().dataKeysUnwrapped).toBeGreaterThan(0)
    // The blind index finds it (equality on the short-form source).
    expect((await cold.getRepository(ShortPatient).findOneByOrFail({ ssn: '666-66-6666' })).id).toBe(saved.id)
  })

  test('a select without the key header gets it added, and the entity shows only what was selected', async () => {
    const repo = ds.getRepository(ShortPatient)
    const saved = await repo.save(Object.assign(new ShortPatient(), { name: 'selected', ssn: '777-77-7777' }))
    await ds.getRepository(ShortVisit).save({ reason: 'check-up', patient: saved })
    const { cold, coldCapture } = await coldDataSource()
    const coldRepo = cold.getRepository(ShortPatient)

    coldCapture.clear()
    const viaFind = await coldRepo.findOneOrFail({ where: { id: saved.id }, select: { id: true, name: true } })
    expect(viaFind).toEqual(Object.assign(new ShortPatient(), { id: saved.id, name: 'selected' }))
    expect(coldCapture.text()).toMatch(/name_key/)
    expect(coldCapture.text()).not.toMatch(/ssn_key/)

    const qb = coldRepo.createQueryBuilder('p').select(['p.id', 'p.ssn']).where('p.id = :id', { id: saved.id })
    for (let i = 0; i < 2; i++) {
      const [viaBuilder] = await qb.getMany()
      expect(viaBuilder).toEqual(Object.assign(new ShortPatient(), { id: saved.id, ssn: '777-77-7777' }))
    }
    expect(qb.expressionMap.selects.map((s) => s.selection)).toEqual(['p.id', 'p.ssn'])

    // A joined entity's selection too.
    const visit = await cold.getRepository(ShortVisit).findOneOrFail({
      where: { patient: { id: saved.id } },
      relations: { patient: true },
      select: { id: true, reason: true, patient: { id: true, name: true } },
    })
    expect(visit.patient).toEqual(Object.assign(new ShortPatient(), { id: saved.id, name: 'selected' }))
    const joined = await cold
      .getRepository(ShortVisit)
      .createQueryBuilder('v')
      .leftJoin('v.patient', 'p')
      .select(['v.id', 'p.id', 'p.name'])
      .where('p.id = :id', { id: saved.id })
      .getOneOrFail()
    expect(joined.patient).toEqual(Object.assign(new ShortPatient(), { id: saved.id, name: 'selected' }))

    // A loaded entity without its key header property saves as one with it.
    viaFind.name = 'selected, renamed'
    await coldRepo.save(viaFind)
    const third = await coldDataSource(cold)
    expect((await third.cold.getRepository(ShortPatient).findOneByOrFail({ id: saved.id })).name).toBe('selected, renamed')
  })

  test('a short value whose key header is lost cannot be read cold (KeyHeaderMissingError)', async () => {
    const saved = await ds.getRepository(ShortPatient).save(Object.assign(new ShortPatient(), { name: 'lost header' }))
    await sql('UPDATE short_patients SET name_key = NULL WHERE id = $1', [saved.id])
    // Warm: this process has the data key.
    expect((await ds.getRepository(ShortPatient).findOneByOrFail({ id: saved.id })).name).toBe('lost header')
    const { cold } = await coldDataSource()
    expect(await rejection(cold.getRepository(ShortPatient).findOneByOrFail({ id: saved.id }))).toBeInstanceOf(KeyHeaderMissingError)
  })

  test('version 1 values in a short-form column still read, stay as they are when unchanged, become short when changed', async () => {
    const v1 = await encryptor.encrypt('old value', fieldContext('ShortPatient', 'name', 'short_patients', 'name', 'text'))
    expect(String(v1)).toMatch(/^\$kfe\$/)
    await sql('INSERT INTO short_patients (code, name) VALUES ($1, $2)', ['v1-row', v1])
    const { cold } = await coldDataSource()
    const coldRepo = cold.getRepository(ShortPatient)
    const found = await coldRepo.findOneByOrFail({ code: 'v1-row' })
    expect(found).toMatchObject({ name: 'old value', nameKey: null })
    await coldRepo.save(found)
    let [stored] = await sql('SELECT * FROM short_patients WHERE code = $1', ['v1-row'], cold)
    expect(stored!.name).toBe(v1)
    expect(stored!.name_key).toBeNull()
    found.name = 'new value'
    await coldRepo.save(found)
    ;[stored] = await sql('SELECT * FROM short_patients WHERE code = $1', ['v1-row'], cold)
    expect(String(stored!.name)).toMatch(/^\$kf2\$/)
    expect(String(stored!.name_key)).toMatch(/^\$kfh\$/)
  })
})
