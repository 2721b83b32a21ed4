/**
 * `npm run demo:typeorm`: the TypeORM story on this machine, no server and no cloud. An
 * in-memory SQLite (sql.js), a local master key, two entities with @Encrypted() fields, then
 * what the application reads next to what the table really holds, and the statements TypeORM
 * sent to the driver.
 */
import 'reflect-metadata'
import { Column, DataSource, Entity, Like, ManyToOne, OneToMany, PrimaryGeneratedColumn, type Logger } from 'typeorm'
import { LocalKeyProvider } from '../src'
import { BlindIndex, blindIndexValues, Encrypted, encryptDataSource } from '../src/typeorm'

@Entity({ name: 'customers' })
class Customer {
  @PrimaryGeneratedColumn() id!: number

  @Encrypted()
  @Column('text')
  email!: string

  @BlindIndex('email', { normalize: ['lowercase', 'trim'] })
  @Column('text', { name: 'email_index', unique: true, nullable: true })
  emailIndex?: string | null

  @Encrypted()
  @Column('text', { nullable: true })
  phone?: string | null

  @Column('text')
  name!: string

  @OneToMany(() => Note, (note) => note.customer, { cascade: true })
  notes?: Note[]
}

@Entity({ name: 'notes' })
class Note {
  @PrimaryGeneratedColumn() id!: number

  @Encrypted()
  @Column('text')
  body!: string

  @ManyToOne(() => Customer, (c) => c.notes)
  customer?: Customer
}

/** Records what TypeORM hands to the driver. */
class Statements implements Logger {
  readonly sent: Array<{ query: string; parameters: unknown[] }> = []
  logQuery(query: string, parameters?: unknown[]) {
    this.sent.push({ query, parameters: parameters ?? [] })
  }
  logQueryError() {}
  logQuerySlow() {}
  logSchemaBuild() {}
  logMigration() {}
  log() {}
}

function heading(text: string): void {
  console.log(`\n\x1b[1m${text}\x1b[0m`)
}

function shorten(value: unknown, width = 72): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length <= width ? text : `${text.slice(0, width - 25)}…${text.slice(-24)} (${text.length} chars)`
}

async function main(): Promise<void> {
  heading('1. A DataSource (sql.js, in memory) and a local master key')
  const statements = new Statements()
  const dataSource = new DataSource({ type: 'sqljs', entities: [Customer, Note], synchronize: true, logger: statements })
  await dataSource.initialize()
  const keys = process.env.KFE_LOCAL_MASTER_KEY
    ? LocalKeyProvider.fromEnv()
    : new LocalKeyProvider({ masterKey: LocalKeyProvider.generateMasterKey() })
  await encryptDataSource(dataSource, { keys })
  console.log('   await dataSource.initialize()')
  console.log('   await encryptDataSource(dataSource, { keys })')
  statements.sent.length = 0

  heading('2. The application saves entities, as it always did')
  const customers = dataSource.getRepository(Customer)
  const ada = customers.create({
    email: 'Ada@Example.com',
    phone: '+44 20 7946 0958',
    name: 'Ada',
    notes: [{ body: 'Prefers calls after 6pm.' } as Note],
  })
  await customers.save(ada)
  await customers.insert({ email: 'grace@example.com', phone: '+1 555 0100', name: 'Grace' })
  console.log(`   customers.save(...) → ada.email is still '${ada.email}' in the application`)

  heading('3. What the application reads: plaintext')
  const found = await customers.findOne({ where: { email: '  ADA@example.com' }, relations: { notes: true } })
  console.log(
    `   customers.findOne({ where: { email: '  ADA@example.com' } }) → ${found?.name}, ${found?.phone}, note: ${found?.notes?.[0]?.body}`,
  )
  console.log('   (equality on an encrypted field goes through its blind index, normalised: trim + lowercase)')
  const byQb = await customers
    .createQueryBuilder('c')
    .where('c.emailIndex IN (:...email)', { email: blindIndexValues(dataSource, Customer, 'email', 'grace@example.com') })
    .getOne()
  console.log(`   a QueryBuilder string condition with blindIndexValues(...) → ${byQb?.name}`)
  try {
    await customers.findBy({ email: Like('%ada%') })
  } catch (err) {
    console.log(`   customers.findBy({ email: Like('%ada%') }) → refused before any SQL: ${(err as { code: string }).code}`)
  }

  heading('4. What the table really holds (raw SQL): ciphertext')
  const [raw] = await dataSource.query('SELECT email, email_index, phone, name FROM customers ORDER BY id LIMIT 1')
  console.log(`   customers.email        ${shorten(raw.email)}`)
  console.log(`   customers.email_index  ${raw.email_index}`)
  console.log(`   customers.phone        ${shorten(raw.phone)}`)
  console.log(`   customers.name         ${raw.name}  (not encrypted)`)

  heading('5. What reached the driver: no plaintext')
  const sentText = JSON.stringify(statements.sent)
  for (const secret of ['Ada@Example.com', 'ada@example.com', '+44 20 7946 0958', 'Prefers calls', 'grace@example.com']) {
    console.log(`   ${secret.padEnd(24)} ${sentText.includes(secret) ? 'FOUND (a leak!)' : 'absent'}`)
  }
  console.log(`   ${'Ada (plain name column)'.padEnd(24)} ${sentText.includes('"Ada"') ? 'present, as expected' : 'absent?'}`)
  console.log(`   ${statements.sent.length} statements sent`)
  await dataSource.destroy()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
