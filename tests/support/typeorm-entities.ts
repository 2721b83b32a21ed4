import 'reflect-metadata'
import { Column, Entity, JoinColumn, ManyToOne, OneToMany, OneToOne, PrimaryGeneratedColumn } from 'typeorm'
import { BlindIndex, Encrypted, EncryptionScope } from '../../src/typeorm'

const BINARY = /^postgres(ql)?:/.test(process.env.DATABASE_URL ?? '') ? 'bytea' : 'blob'

/** The TypeORM test entities: table and column names as in prisma/schema.prisma where they overlap. */
@Entity({ name: 'users' })
export class User {
  @PrimaryGeneratedColumn()
  id!: number

  @Encrypted()
  @Column('text')
  email!: string

  @BlindIndex('email', { normalize: ['lowercase', 'trim'] })
  @Column('text', { name: 'email_index', unique: true, nullable: true })
  emailIndex?: string | null

  @Encrypted()
  @Column('text', { nullable: true })
  phone?: string | null

  /** A plain column: the positive control of the SQL capture. */
  @Column('text', { nullable: true })
  name?: string | null

  /** The plaintext twin of `email`, for the filter-equivalence property (tests only). */
  @Column('text', { name: 'email_twin', nullable: true })
  emailTwin?: string | null

  @Encrypted()
  @Column('simple-array', { nullable: true })
  tags?: string[] | null

  @Encrypted()
  @Column({ type: BINARY, nullable: true })
  avatar?: Buffer | null

  @OneToMany(() => Post, (post) => post.author, { cascade: true })
  posts?: Post[]

  @OneToOne(() => Profile, (profile) => profile.user, { cascade: true, eager: true })
  profile?: Profile | null
}

@Entity({ name: 'profiles' })
export class Profile {
  @PrimaryGeneratedColumn()
  id!: number

  @Encrypted()
  @Column('text', { name: 'biography' })
  bio!: string

  @OneToOne(() => User, (user) => user.profile, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User
}

@Entity({ name: 'posts' })
export class Post {
  @PrimaryGeneratedColumn()
  id!: number

  @Column('text')
  title!: string

  @Encrypted()
  @Column('text', { nullable: true })
  body?: string | null

  @ManyToOne(() => User, (user) => user.posts, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'author_id' })
  author?: User
}

export const ENTITIES = [User, Profile, Post]

/** Row-scoped keys (issue 13): every encrypted value and blind index of a row is bound to its `tenantId`. The table of prisma's TenantNote. */
@Entity({ name: 'tenant_notes' })
export class TenantNote {
  @PrimaryGeneratedColumn()
  id!: number

  @EncryptionScope()
  @Column('varchar', { name: 'tenant_id', length: 191 })
  tenantId!: string

  @Encrypted()
  @Column('text', { nullable: true })
  body?: string | null

  @Encrypted()
  @Column('text', { nullable: true })
  email?: string | null

  @BlindIndex('email', { normalize: ['lowercase', 'trim'] })
  @Column('text', { name: 'email_index', nullable: true })
  emailIndex?: string | null

  @ManyToOne(() => User, { onDelete: 'CASCADE', nullable: true })
  @JoinColumn({ name: 'author_id' })
  author?: User | null
}
