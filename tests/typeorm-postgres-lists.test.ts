import 'reflect-metadata'
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm'
import { Encrypted } from '../src/typeorm'
import { createTypeOrmDatabase } from './support/typeorm-data-source'

/** PostgreSQL `text[]` columns (array: true): each element encrypted, as Prisma's String[]. Needs DATABASE_URL. */
@Entity({ name: 'pg_lists' })
class PgList {
  @PrimaryGeneratedColumn() id!: number
  @Encrypted() @Column('text', { array: true, nullable: true }) tags?: string[] | null
}

const onServer = /^postgres(ql)?:/.test(process.env.DATABASE_URL ?? '')

;(onServer ? test : test.skip)('text[] round-trips with every element encrypted', async () => {
  const db = await createTypeOrmDatabase([PgList])
  try {
    const repo = db.dataSource.getRepository(PgList)
    const saved = await repo.save(repo.create({ tags: ['alpha', 'beta, with comma'] }))
    const [row] = await db.sql<{ tags: string[] }>('SELECT tags FROM pg_lists WHERE id = $1', [saved.id])
    expect(row!.tags).toHaveLength(2)
    expect(row!.tags.every((t) => t.startsWith('$kfe$'))).toBe(true)
    expect((await repo.findOneBy({ id: saved.id }))?.tags).toEqual(['alpha', 'beta, with comma'])
    expect(saved.tags).toEqual(['alpha', 'beta, with comma'])
  } finally {
    await db.close()
  }
})
