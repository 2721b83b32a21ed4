/**
 * What the TypeORM adapter costs, against the same workload on plain TypeORM, in the same run.
 *
 *   npx tsx bench/typeorm-roundtrip.bench.ts [--check]                (sql.js in memory)
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test npx tsx bench/typeorm-roundtrip.bench.ts
 *   (BENCH_ROUNDS=n: rounds, default 7; --check: exit 1 on a missed target)
 *
 * Two DataSources with the same table: `plain` (no decorators, plaintext stored) and `encrypted`
 * (email and phone `@Encrypted()`, email with a `@BlindIndex`, LocalKeyProvider, warm data-key
 * cache). The plain side writes a unique value of the index's size into the index column, so
 * both ask the database for the same work. Interleaved round by round; medians.
 *   save: 1,000 sequential `repository.save(entity)` of new rows (2 values encrypted, 1 HMAC each);
 *   find: one `repository.find` of 10,000 rows by an id range (20,000 values decrypted).
 */
import 'reflect-metadata'
import { randomBytes } from 'node:crypto'
import { Between, Column, Entity, PrimaryGeneratedColumn, type Repository } from 'typeorm'
import { fieldContext } from '../src/cipher/field-context'
import { EnvelopeEncryptor } from '../src/engine/envelope-encryptor'
import { LocalKeyProvider } from '../src/keys/local-key-provider'
import { BlindIndex, Encrypted } from '../src/typeorm'
import { createTypeOrmDatabase, type TypeOrmTestDatabase } from '../tests/support/typeorm-data-source'
import { clock, describeMachine, envInt, exitOnMiss, interleave, printRatioTable, timeOnce, type RatioRow } from './support/measure'

const ROUNDS = envInt('BENCH_ROUNDS', 7)
const SAVES = 1000
const ROWS = 10_000
const SAVE_TARGET = 1.15
const FIND_TARGET = 1.5

@Entity({ name: 'bench_users' })
class PlainUser {
  @PrimaryGeneratedColumn() id!: number
  @Column('text') email!: string
  @Column('text', { name: 'email_index', unique: true, nullable: true }) emailIndex?: string | null
  @Column('text', { nullable: true }) phone?: string | null
  @Column('text', { nullable: true }) name?: string | null
}

@Entity({ name: 'bench_users' })
class EncryptedUser {
  @PrimaryGeneratedColumn() id!: number
  @Encrypted() @Column('text') email!: string
  @BlindIndex('email', { normalize: ['lowercase', 'trim'] })
  @Column('text', { name: 'email_index', unique: true, nullable: true })
  emailIndex?: string | null
  @Encrypted() @Column('text', { nullable: true }) phone?: string | null
  @Column('text', { nullable: true }) name?: string | null
}

type Side = 'plain' | 'encrypted'
const SIDES: readonly Side[] = ['plain', 'encrypted']
type Data = { email: string; phone: string; name: string; emailIndex?: string }

let serial = 0
const run = randomBytes(3).toString('hex')
function data(count: number, side: Side): Data[] {
  return Array.from({ length: count }, () => {
    const n = serial++
    const email = `u${run}.${String(n).padStart(7, '0')}@mail.com`
    const d: Data = { email, phone: `+44 20 ${String(n).padStart(9, '0')}`, name: 'bench' }
    if (side === 'plain') d.emailIndex = `v1:${email.padEnd(43, '=')}`
    return d
  })
}

async function main(): Promise<void> {
  if (process.env.DATABASE_URL && clock.name === 'cpu') throw new Error('BENCH_CLOCK=cpu cannot see the work of a PostgreSQL server')
  const keys = new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  const encryptor = new EnvelopeEncryptor({ keys })
  const dbs: Record<Side, TypeOrmTestDatabase> = {
    plain: await createTypeOrmDatabase([PlainUser], false, { log: false }),
    encrypted: await createTypeOrmDatabase([EncryptedUser], { encryptor }, { log: false }),
  }
  try {
    const repo: Record<Side, Repository<PlainUser | EncryptedUser>> = {
      plain: dbs.plain.dataSource.getRepository(PlainUser),
      encrypted: dbs.encrypted.dataSource.getRepository(EncryptedUser),
    }
    // Sanity: the encrypted side really stores ciphertext and reads plaintext.
    const [probe] = data(1, 'encrypted')
    const saved = await repo.encrypted.save(repo.encrypted.create(probe!))
    const [stored] = await dbs.encrypted.sql<{ email: string }>('SELECT email FROM bench_users WHERE id = $1', [saved.id])
    if (!stored!.email.startsWith('$kfe$') || (await repo.encrypted.findOneBy({ email: probe!.email }))?.phone !== probe!.phone)
      throw new Error('bad round trip')

    const rows: RatioRow[] = []
    const saveAll = (side: Side, list: Data[]) => async () => {
      for (const d of list) await repo[side].save(repo[side].create(d))
    }
    for (const side of SIDES) await saveAll(side, data(200, side))() // warm-up
    const saves = await interleave(ROUNDS, SIDES, (side) => timeOnce(saveAll(side, data(SAVES, side))))
    rows.push({
      name: `${SAVES} sequential save: encrypted vs plain`,
      unit: 'ms',
      baseline: saves.plain,
      subject: saves.encrypted,
      target: SAVE_TARGET,
    })

    const ranges = {} as Record<Side, [number, number]>
    for (const side of SIDES) {
      const list = data(ROWS, side)
      const before = (await repo[side].maximum('id')) ?? 0
      for (let i = 0; i < list.length; i += 500) await repo[side].insert(list.slice(i, i + 500))
      ranges[side] = [before + 1, (await repo[side].maximum('id'))!]
    }
    // A third reader, for the breakdown: the encrypted rows read with listeners off (a query builder with callListeners(false)) (stored
    // envelopes, not decrypted): what the bigger stored values alone cost through the driver.
    // A fourth, "core": those envelopes, then the core's decryptMany over the 20,000 values by
    // hand (no adapter): the floor of decrypting this find, and what the adapter adds on top.
    type Reader = Side | 'envelopes' | 'core'
    const ctx = {
      email: fieldContext('EncryptedUser', 'email', 'bench_users', 'email'),
      phone: fieldContext('EncryptedUser', 'phone', 'bench_users', 'phone'),
    }
    const findAll = (reader: Reader) => async () => {
      const side: Side = reader === 'plain' ? 'plain' : 'encrypted'
      const raw = reader === 'envelopes' || reader === 'core'
      const found = raw
        ? await repo[side]
            .createQueryBuilder('u')
            .where({ id: Between(...ranges[side]) })
            .orderBy('u.id')
            .callListeners(false)
            .getMany()
        : await repo[side].find({ where: { id: Between(...ranges[side]) }, order: { id: 'ASC' } })
      if (reader === 'core') {
        const items = found.flatMap((u) => [
          { value: u.email, ctx: ctx.email },
          { value: u.phone, ctx: ctx.phone },
        ])
        const plains = await encryptor.decryptMany(items)
        found.forEach((u, i) => ((u.email = plains[2 * i] as string), (u.phone = plains[2 * i + 1] as string)))
      }
      if (found.length !== ROWS || found[0]!.email.startsWith('$kfe$') !== (reader === 'envelopes'))
        throw new Error(`${reader}: find returned wrong rows`)
    }
    const readers: Reader[] = [...SIDES, 'envelopes', 'core']
    for (const reader of readers) await findAll(reader)() // warm-up
    const finds = await interleave(ROUNDS, readers, (reader) => timeOnce(findAll(reader)))
    rows.push({
      name: `find of ${ROWS} rows: encrypted vs plain`,
      unit: 'ms',
      baseline: finds.plain,
      subject: finds.encrypted,
      target: FIND_TARGET,
    })
    rows.push({ name: `find of ${ROWS} rows: envelopes undecrypted vs plain`, unit: 'ms', baseline: finds.plain, subject: finds.envelopes })
    rows.push({
      name: `find of ${ROWS} rows: core decryptMany by hand vs plain (floor)`,
      unit: 'ms',
      baseline: finds.plain,
      subject: finds.core,
    })
    rows.push({
      name: `find of ${ROWS} rows: encrypted vs core by hand (adapter)`,
      unit: 'ms',
      baseline: finds.core,
      subject: finds.encrypted,
    })

    console.log(describeMachine(`${dbs.plain.kind}, ${ROUNDS} rounds`))
    exitOnMiss(
      printRatioTable(
        `TypeORM on ${dbs.plain.kind}: 2 encrypted fields (email with a blind index)`,
        { baseline: 'plain', subject: 'encrypted' },
        rows,
      ),
    )
  } finally {
    await dbs.plain.close()
    await dbs.encrypted.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
