import type { MigrationTestDatabase } from './migration-database'

/**
 * Plaintext rows, as an application wrote them before encryption was switched on, in every
 * shape the schema has: nullable and required text, a text list, bytes, mapped tables and
 * columns, single and composite primary keys, blind-indexed fields. Values are computed from
 * the row number, so a test can say what each row must decrypt to.
 */
export const seedValues = {
  email: (i: number) => ` User.${i}@Example.com`,
  phone: (i: number) => (i % 3 === 0 ? null : `+33 6 ${String(i).padStart(8, '0')}`),
  tags: (i: number) => (i % 5 === 0 ? [] : [`tag-${i}`, `shared`, `ünïcode-${i % 7}`]),
  avatar: (i: number) => (i % 2 === 0 ? Buffer.from([0x00, 0xff, i & 0xff, (i >> 8) & 0xff]) : null),
  bio: (i: number) => `bio of ${i}`,
  body: (i: number) => (i % 4 === 0 ? null : `body of post ${i}`),
  comment: (post: number, seq: number) => `comment ${post}/${seq}`,
  note: (i: number) => (i % 2 === 0 ? `note ${i}` : null),
  nickname: (owner: number, seq: number) => (seq === 2 ? null : `Nick ${owner}-${seq}`),
}

export interface SeedCounts {
  users: number
  posts: number
  commentsPerPost: number
  categories: number
  contactsPerUser: number
}

export const SMALL_SEED: SeedCounts = { users: 60, posts: 20, commentsPerPost: 3, categories: 5, contactsPerUser: 3 }

export async function seedPlaintext(db: MigrationTestDatabase, n: SeedCounts = SMALL_SEED): Promise<void> {
  await db.sql(
    `INSERT INTO users (id, email, phone, tags, avatar)
     SELECT g, ' User.' || g || '@Example.com',
            CASE WHEN g % 3 = 0 THEN NULL ELSE '+33 6 ' || lpad(g::text, 8, '0') END,
            CASE WHEN g % 5 = 0 THEN ARRAY[]::text[] ELSE ARRAY['tag-' || g, 'shared', 'ünïcode-' || (g % 7)] END,
            CASE WHEN g % 2 = 0 THEN decode('00ff' || lpad(to_hex(g & 255), 2, '0') || lpad(to_hex((g >> 8) & 255), 2, '0'), 'hex') END
       FROM generate_series(1, $1::int) g`,
    [n.users],
  )
  await db.sql(`SELECT setval(pg_get_serial_sequence('users', 'id'), $1::int)`, [n.users])
  await db.sql(`INSERT INTO profiles (id, biography, user_id) SELECT g, 'bio of ' || g, g FROM generate_series(1, $1::int) g`, [
    Math.min(n.users, 25),
  ])
  await db.sql(
    `INSERT INTO posts (id, title, body, author_id) SELECT g, 'title ' || g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'body of post ' || g END, 1 + (g % $2::int)
       FROM generate_series(1, $1::int) g`,
    [n.posts, n.users],
  )
  await db.sql(
    `INSERT INTO comments (post_id, seq, text) SELECT p, s, 'comment ' || p || '/' || s FROM generate_series(1, $1::int) p, generate_series(1, $2::int) s`,
    [n.posts, n.commentsPerPost],
  )
  await db.sql(
    `INSERT INTO "Category" (id, name, secret_note) SELECT g, 'category ' || g, CASE WHEN g % 2 = 0 THEN 'note ' || g END FROM generate_series(1, $1::int) g`,
    [n.categories],
  )
  await db.sql(
    `INSERT INTO contacts (owner_id, seq, nickname, nickname_plain)
     SELECT u, s, CASE WHEN s = 2 THEN NULL ELSE 'Nick ' || u || '-' || s END, CASE WHEN s = 2 THEN NULL ELSE 'Nick ' || u || '-' || s END
       FROM generate_series(1, $1::int) u, generate_series(1, $2::int) s`,
    [Math.min(n.users, 10), n.contactsPerUser],
  )
}
