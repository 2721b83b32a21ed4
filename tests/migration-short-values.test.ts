/**
 * The migration over fields with a key header (stored format version 2, "short values"): every
 * read of such a column reads its key header, every write of a value writes its key header in
 * the same UPDATE, and the compare-and-set compares it. Its own table (short_notes), made here
 * per dialect, and a hand-written encryption model: this file runs on every database.
 */
import type { KMSClient } from '@aws-sdk/client-kms'
import { CreateKeyCommand } from '@aws-sdk/client-kms'
import { ConfigurationError, EnvelopeEncryptor, fieldContext, LocalKeyProvider, localScopeKeys, type LocalScopeKeys } from '../src'
import { AwsKmsKeyProvider } from '../src/keys/aws-kms-key-provider'
import type { KeyProvider } from '../src/keys/key-provider'
import type { EncryptedFieldModel, EncryptionModel, ModelDescription } from '../src/model/encryption-model'
import { recomputeBlindIndexes } from '../src/migration/recompute-blind-indexes'
import { decryptColumns, encryptColumns, encryptionStatus, rotateColumns } from '../src/migration/run-migration'
import type { CasWrite, SqlDatabase } from '../src/migration/sql-database'
import { databaseScopeKeyStore } from '../src/migration/sql-scope-key-store'
import { kmsClientFor, KmsTestServer } from './support/kms-test-server'
import { createMigrationDatabase, type MigrationTestDatabase } from './support/migration-database'

let db: MigrationTestDatabase

const field = (name: string, column: string, type: 'String' | 'Bytes', extra: Partial<EncryptedFieldModel> = {}): EncryptedFieldModel => ({
  name,
  column,
  type,
  isList: false,
  isRequired: false,
  ...extra,
})

/** ShortNote with a key header on each encrypted field (format version 2). */
const SHORT_NOTE: ModelDescription = {
  name: 'ShortNote',
  table: 'short_notes',
  primaryKey: ['id'],
  primaryKeyColumns: ['id'],
  encryptedFields: {
    body: field('body', 'body', 'String', { keyHeader: { name: 'bodyKey', column: 'body_key' } }),
    email: field('email', 'email', 'String', { blindIndex: 'emailIndex', keyHeader: { name: 'emailKey', column: 'email_key' } }),
    photo: field('photo', 'photo', 'Bytes', { keyHeader: { name: 'photoKey', column: 'photo_key' } }),
  },
  blindIndexes: {
    emailIndex: { name: 'emailIndex', column: 'email_index', source: 'email', normalize: ['trim', 'lowercase'], isUnique: false },
  },
  relations: {},
}
const modelOf = (d: ModelDescription): EncryptionModel => ({ version: 1, provider: 'postgresql', models: { ShortNote: d } })
const shortModel = modelOf(SHORT_NOTE)

/** The same fields without key headers (format version 1): the model before `@keyHeader`, or after it was removed. */
const v1Model = modelOf({
  ...SHORT_NOTE,
  encryptedFields: Object.fromEntries(Object.entries(SHORT_NOTE.encryptedFields).map(([name, { keyHeader: _dropped, ...f }]) => [name, f])),
})
/** The key-header columns of `v1Model`'s fields, once theirs. */
const FORMER_KEY_HEADERS = { 'ShortNote.body': 'body_key', 'ShortNote.email': 'email_key', 'ShortNote.photo': 'photo_key' }

/** ShortNote row-scoped by tenant_id. */
const scopedModel = modelOf({ ...SHORT_NOTE, scopeField: { name: 'tenantId', column: 'tenant_id' } })

const ctx = {
  body: fieldContext('ShortNote', 'body', 'short_notes', 'body', 'text', true),
  email: fieldContext('ShortNote', 'email', 'short_notes', 'email', 'text', true),
  photo: fieldContext('ShortNote', 'photo', 'short_notes', 'photo', 'bytes', true),
}

type Row = {
  id: number
  tenant_id: string | null
  body: string | null
  body_key: string | null
  email: string | null
  email_key: string | null
  email_index: string | null
  photo: Uint8Array | null
  photo_key: string | null
}

const ROWS = [1, 2, 3, 4, 5, 6].map((id) => ({
  id,
  tenant: id % 2 === 0 ? 'even' : 'odd',
  body: id === 6 ? null : `body ${id}`,
  email: id === 5 ? null : ` User.${id}@Example.com`,
  photo: id % 2 === 0 ? Buffer.from([id, id, id, 0]) : null,
}))

const rows = async (): Promise<Row[]> =>
  (await db.sql<Row>('SELECT * FROM short_notes ORDER BY id')).map((r) => ({ ...r, id: Number(r.id) }))

function createTable(kind: MigrationTestDatabase['kind']): string {
  const [int, bytes, index] =
    kind === 'mysql' ? ['INT', 'BLOB', 'VARCHAR(191)'] : kind === 'sqlite' ? ['INTEGER', 'BLOB', 'TEXT'] : ['integer', 'bytea', 'text']
  return `CREATE TABLE short_notes (id ${int} PRIMARY KEY, tenant_id ${index}, body TEXT, body_key TEXT, email TEXT, email_key TEXT,
    email_index ${index}, photo ${bytes}, photo_key TEXT)`
}

const server = new KmsTestServer()
let kms: KMSClient

beforeAll(async () => {
  db = await createMigrationDatabase()
  await db.sql('DROP TABLE IF EXISTS short_notes')
  await db.sql(createTable(db.kind))
  kms = kmsClientFor((await server.start()).endpoint)
})
afterAll(async () => {
  kms.destroy()
  await server.stop()
  await db.close()
})
beforeEach(async () => {
  await db.sql('DELETE FROM short_notes')
  await db.sql('DELETE FROM kfe_scope_keys')
  for (const r of ROWS) {
    await db.sql('INSERT INTO short_notes (id, tenant_id, body, email, photo) VALUES ($1, $2, $3, $4, $5)', [
      r.id,
      r.tenant,
      r.body,
      r.email,
      r.photo,
    ])
  }
})

const masters = new WeakMap<LocalKeyProvider, ReturnType<typeof LocalKeyProvider.generateMasterKey>>()
/** A fresh local provider (its master key the current one), with the master keys of `previous` as previous keys. */
function newLocal(previous: LocalKeyProvider[] = []): LocalKeyProvider {
  const masterKey = LocalKeyProvider.generateMasterKey()
  const p = new LocalKeyProvider({ masterKey, previousKeys: previous.map((q) => masters.get(q)!) })
  masters.set(p, masterKey)
  return p
}

const settings = (model: EncryptionModel, keys: KeyProvider, extra: Record<string, unknown> = {}) => ({
  model,
  keys,
  database: db.database,
  ...extra,
})

/** Every value of a row, opened by a fresh encryptor (cold cache: each short value needs its key header). */
async function opened(keys: KeyProvider, r: Row): Promise<{ body: unknown; email: unknown; photo: unknown }> {
  const e = new EnvelopeEncryptor({ keys })
  return {
    body: r.body === null ? null : await e.decrypt(r.body, ctx.body, undefined, r.body_key),
    email: r.email === null ? null : await e.decrypt(r.email, ctx.email, undefined, r.email_key),
    photo: r.photo === null ? null : Buffer.from((await e.decrypt(r.photo, ctx.photo, undefined, r.photo_key)) as Uint8Array),
  }
}

const expectedOf = (id: number) => {
  const r = ROWS[id - 1]!
  return { body: r.body, email: r.email, photo: r.photo }
}

const isShortText = (v: unknown) => typeof v === 'string' && v.startsWith('$kf2$')
const isShortBytes = (v: unknown) => v instanceof Uint8Array && Buffer.from(v).subarray(0, 4).toString('latin1') === '\x89KF2'
const isKeyHeader = (v: unknown) => typeof v === 'string' && v.startsWith('$kfh$')

const counts = (summary: { columns: Array<{ field: string; counts: Record<string, number> }> }) =>
  Object.fromEntries(summary.columns.map((c) => [c.field, c.counts]))

describe('encrypt', () => {
  test('plaintext becomes short values, each written with its key header; blind indexes filled; a rerun writes nothing', async () => {
    const keys = newLocal()
    const summary = await encryptColumns(settings(shortModel, keys))
    expect(summary.ok).toBe(true)
    expect(counts(summary)).toEqual({ body: { encrypted: 5 }, email: { encrypted: 5 }, photo: { encrypted: 3 } })
    for (const r of await rows()) {
      expect(r.body === null ? r.body_key === null : isShortText(r.body) && isKeyHeader(r.body_key)).toBe(true)
      expect(r.email === null ? r.email_key === null : isShortText(r.email) && isKeyHeader(r.email_key)).toBe(true)
      expect(r.photo === null ? r.photo_key === null : isShortBytes(r.photo) && isKeyHeader(r.photo_key)).toBe(true)
      if (r.email !== null) expect(r.email_index).toMatch(/^v1:/)
      if (r.body !== null) expect(r.body).toHaveLength(5 + 12 + 46) // 6 bytes of plaintext: prefix, key id, iv + ciphertext + tag
      expect(await opened(keys, r)).toEqual(expectedOf(r.id))
    }

    const status = await encryptionStatus(settings(shortModel, keys))
    expect(status.complete).toBe(true)
    expect(status.columns.map((c) => [c.field, c.current, c.older, c.unreadable])).toEqual([
      ['body', 5, 0, 0],
      ['email', 5, 0, 0],
      ['photo', 3, 0, 0],
    ])

    const before = await db.checksum('short_notes', 'id')
    const again = await encryptColumns(settings(shortModel, keys))
    expect(again.written).toBe(0)
    expect(again.columns.every((c) => c.rows === 0)).toBe(true)
    expect(await db.checksum('short_notes', 'id')).toBe(before)
  })

  test('values already encrypted, version 1 or 2, are not sealed again; a malformed short value or a key header in the value column fails its row', async () => {
    const keys = newLocal()
    await encryptColumns(settings(v1Model, keys, { fields: ['ShortNote.body'] })) // body: version 1
    await encryptColumns(settings(shortModel, keys, { fields: ['ShortNote.email'] })) // email: version 2
    const header = (await rows())[0]!.email_key!
    await db.sql(`UPDATE short_notes SET email = 'plain 4', email_key = NULL, email_index = NULL WHERE id = 4`)
    await db.sql(`UPDATE short_notes SET email = '$kf2$short' WHERE id = 2`)
    await db.sql(`UPDATE short_notes SET email = $1 WHERE id = 3`, [header])
    const before = await rows()

    const summary = await encryptColumns(settings(shortModel, keys, { fields: ['ShortNote.body', 'ShortNote.email'] }))
    // body's version 1 values are encrypted already: encrypt leaves them to rotate.
    expect(counts(summary).body).toEqual({})
    expect(counts(summary).email).toEqual({ encrypted: 1 })
    expect(summary.columns[1]!.failures.map((f) => [f.reason, f.count])).toEqual([['KFE_MALFORMED_CIPHERTEXT', 2]])
    const after = await rows()
    for (const id of [1, 2, 3, 5, 6]) expect(after[id - 1]).toEqual(before[id - 1])
    expect(isShortText(after[3]!.email) && isKeyHeader(after[3]!.email_key)).toBe(true)
    expect(await new EnvelopeEncryptor({ keys }).decrypt(after[3]!.email, ctx.email, undefined, after[3]!.email_key)).toBe('plain 4')
  })

  test('the compare-and-set compares the key header: a row whose header changed after it was read is read again', async () => {
    const keys = newLocal()
    let raced = 0
    const racy: SqlDatabase = Object.create(db.database)
    racy.compareAndSet = async (target, writes: readonly CasWrite[]) => {
      if (raced++ === 0) await db.sql(`UPDATE short_notes SET body_key = 'written meanwhile' WHERE id = $1`, [Number(writes[0]!.key[0])])
      return db.database.compareAndSet(target, writes)
    }
    const summary = await encryptColumns(settings(shortModel, keys, { database: racy, fields: ['ShortNote.body'] }))
    expect(summary.columns[0]!.conflicts).toBe(1)
    expect(summary.columns[0]!.counts).toEqual({ encrypted: 5 })
    const first = (await rows())[0]!
    expect(isKeyHeader(first.body_key)).toBe(true)
    expect(await new EnvelopeEncryptor({ keys }).decrypt(first.body, ctx.body, undefined, first.body_key)).toBe('body 1')
  })
})

describe('status', () => {
  test('counts short values current, older (not in the field’s form) or failed (no key header: KFE_KEY_HEADER_MISSING)', async () => {
    const keys = newLocal()
    await encryptColumns(settings(shortModel, keys, { fields: ['ShortNote.body', 'ShortNote.photo'] }))
    await encryptColumns(settings(v1Model, keys, { fields: ['ShortNote.email'] }))
    await db.sql(`UPDATE short_notes SET body_key = NULL WHERE id = 1`)
    await db.sql(`UPDATE short_notes SET body_key = '' WHERE id = 2`)
    // Row 3's body with another data key's header: the pairing check refuses it.
    const other = await new EnvelopeEncryptor({ keys }).encryptManyWithKeyHeaders([{ value: 'x', ctx: ctx.body }])
    await db.sql(`UPDATE short_notes SET body_key = $1 WHERE id = 3`, [other.keyHeaders[0]])

    const report = await encryptionStatus(settings(shortModel, keys))
    const col = (f: string) => report.columns.find((c) => c.field === f)!
    expect(col('body')).toMatchObject({ rows: 6, null: 1, current: 2, older: 0, unreadable: 3 })
    expect(
      col('body')
        .unreadableReasons.map((f) => [f.reason, f.count])
        .sort(),
    ).toEqual([
      ['KFE_DECRYPTION_FAILED', 1],
      ['KFE_KEY_HEADER_MISSING', 2],
    ])
    // Version 1 values of a field that now has a key header: older (rotate moves them).
    expect(col('email')).toMatchObject({ current: 0, older: 5, unreadable: 0 })
    expect(col('photo')).toMatchObject({ current: 3, older: 0, unreadable: 0 })
    expect(report.complete).toBe(false)

    // Short values of a field without a key header in the model: unreadable, unless its former column is named.
    const v1 = await encryptionStatus(settings(v1Model, keys, { fields: ['ShortNote.photo'] }))
    expect(v1.columns[0]).toMatchObject({ current: 0, older: 0, unreadable: 3 })
    expect(v1.columns[0]!.unreadableReasons.map((f) => f.reason)).toEqual(['KFE_KEY_HEADER_MISSING'])
    const named = await encryptionStatus(settings(v1Model, keys, { fields: ['ShortNote.photo'], formerKeyHeaders: FORMER_KEY_HEADERS }))
    expect(named.columns[0]).toMatchObject({ current: 0, older: 3, unreadable: 0 })
  })
})

describe('rotate', () => {
  test('moves version 1 values of a field with a key header to short values, each with its key header; a rerun writes nothing', async () => {
    const keys = newLocal()
    await encryptColumns(settings(v1Model, keys))
    const summary = await rotateColumns(settings(shortModel, keys))
    expect(summary.ok).toBe(true)
    expect(counts(summary)).toEqual({ body: { reencrypted: 5 }, email: { reencrypted: 5 }, photo: { reencrypted: 3 } })
    for (const r of await rows()) {
      if (r.body !== null) expect(isShortText(r.body) && isKeyHeader(r.body_key)).toBe(true)
      if (r.photo !== null) expect(isShortBytes(r.photo) && isKeyHeader(r.photo_key)).toBe(true)
      expect(await opened(keys, r)).toEqual(expectedOf(r.id))
    }
    expect((await encryptionStatus(settings(shortModel, keys))).complete).toBe(true)
    const before = await db.checksum('short_notes', 'id')
    expect((await rotateColumns(settings(shortModel, keys))).written).toBe(0)
    expect(await db.checksum('short_notes', 'id')).toBe(before)
  })

  test('re-keys short values whose data key is under an older master key: new values, new key headers', async () => {
    const old = newLocal()
    await encryptColumns(settings(shortModel, old))
    const before = await rows()
    const keys = newLocal([old])
    const summary = await rotateColumns(settings(shortModel, keys))
    expect(counts(summary)).toEqual({ body: { reencrypted: 5 }, email: { reencrypted: 5 }, photo: { reencrypted: 3 } })
    const after = await rows()
    for (const r of after) {
      const was = before[r.id - 1]!
      if (r.body !== null) expect([isShortText(r.body), r.body !== was.body, r.body_key !== was.body_key]).toEqual([true, true, true])
      if (r.body !== null) expect(await opened(old, r).catch(() => 'not with the old key')).toBe('not with the old key')
      expect(await opened(keys, r)).toEqual(expectedOf(r.id))
    }
    expect((await encryptionStatus(settings(shortModel, keys))).complete).toBe(true)
  })

  test('a field whose key header was removed: short values move back to version 1 and the former key-header column is set to NULL', async () => {
    const keys = newLocal()
    await encryptColumns(settings(shortModel, keys))
    // Without the former column the short values cannot be read: their rows fail, untouched.
    const blind = await rotateColumns(settings(v1Model, keys))
    expect(blind.columns.map((c) => [c.field, c.failed, c.failures.map((f) => f.reason)])).toEqual([
      ['body', 5, ['KFE_KEY_HEADER_MISSING']],
      ['email', 5, ['KFE_KEY_HEADER_MISSING']],
      ['photo', 3, ['KFE_KEY_HEADER_MISSING']],
    ])
    const summary = await rotateColumns(settings(v1Model, keys, { formerKeyHeaders: FORMER_KEY_HEADERS }))
    expect(summary.ok).toBe(true)
    expect(counts(summary)).toEqual({ body: { reencrypted: 5 }, email: { reencrypted: 5 }, photo: { reencrypted: 3 } })
    const v1 = new EnvelopeEncryptor({ keys })
    for (const r of await rows()) {
      expect([r.body_key, r.email_key, r.photo_key]).toEqual([null, null, null])
      if (r.body !== null) expect(r.body.startsWith('$kfe$')).toBe(true)
      if (r.photo !== null) expect(Buffer.from(r.photo).subarray(0, 4).toString('latin1')).toBe('\x89KFE')
      if (r.email !== null)
        expect(await v1.decrypt(r.email, fieldContext('ShortNote', 'email', 'short_notes', 'email'))).toBe(expectedOf(r.id).email)
    }
    expect((await encryptionStatus(settings(v1Model, keys))).complete).toBe(true)
    expect((await rotateColumns(settings(v1Model, keys, { formerKeyHeaders: FORMER_KEY_HEADERS }))).written).toBe(0)
  })

  test('KMS re-wraps a short value’s data key: only the key-header column is rewritten, the values keep their bytes', async () => {
    const a = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
    const b = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
    const onA = new AwsKmsKeyProvider({ keyId: a, client: kms })
    await encryptColumns(settings(shortModel, onA, { fields: ['ShortNote.body', 'ShortNote.photo'] }))
    const before = await rows()
    const onB = new AwsKmsKeyProvider({ keyId: b, acceptedKeyIds: [a], client: kms })
    const summary = await rotateColumns(settings(shortModel, onB, { fields: ['ShortNote.body', 'ShortNote.photo'] }))
    expect(counts(summary)).toEqual({ body: { rewrapped: 5 }, photo: { rewrapped: 3 } })
    const after = await rows()
    for (const r of after) {
      const was = before[r.id - 1]!
      expect(r.body).toEqual(was.body)
      expect(r.photo === null ? null : Buffer.from(r.photo)).toEqual(was.photo === null ? null : Buffer.from(was.photo))
      if (r.body !== null) expect(isKeyHeader(r.body_key) && r.body_key !== was.body_key).toBe(true)
      if (r.photo !== null) expect(isKeyHeader(r.photo_key) && r.photo_key !== was.photo_key).toBe(true)
    }
    // Readable with key B alone.
    const onlyB = new EnvelopeEncryptor({ keys: new AwsKmsKeyProvider({ keyId: b, client: kms }) })
    expect(await onlyB.decrypt(after[0]!.body, ctx.body, undefined, after[0]!.body_key)).toBe('body 1')
    expect(Buffer.from((await onlyB.decrypt(after[1]!.photo, ctx.photo, undefined, after[1]!.photo_key)) as Uint8Array)).toEqual(
      ROWS[1]!.photo,
    )
    expect((await rotateColumns(settings(shortModel, onB, { fields: ['ShortNote.body', 'ShortNote.photo'] }))).written).toBe(0)
  })
})

describe('decrypt', () => {
  test('short values back to plaintext, the key-header column set to NULL in the same write; a rerun writes nothing', async () => {
    const keys = newLocal()
    await encryptColumns(settings(shortModel, keys))
    const summary = await decryptColumns(settings(shortModel, keys))
    expect(summary.ok).toBe(true)
    expect(counts(summary)).toEqual({ body: { decrypted: 5 }, email: { decrypted: 5 }, photo: { decrypted: 3 } })
    for (const r of await rows()) {
      const want = expectedOf(r.id)
      expect([r.body, r.email, r.photo === null ? null : Buffer.from(r.photo)]).toEqual([want.body, want.email, want.photo])
      expect([r.body_key, r.email_key, r.photo_key]).toEqual([null, null, null])
    }
    const before = await db.checksum('short_notes', 'id')
    expect((await decryptColumns(settings(shortModel, keys))).written).toBe(0)
    expect(await db.checksum('short_notes', 'id')).toBe(before)
  })

  test('a short value without its key header fails its row, left as it is (even when its data key is known from another row)', async () => {
    const keys = newLocal()
    await encryptColumns(settings(shortModel, keys, { fields: ['ShortNote.body'] }))
    // Rows 1 and 2 share a data key (one batch): row 1 opens it, row 2 still needs its own header.
    expect((await rows())[0]!.body_key).toBe((await rows())[1]!.body_key)
    await db.sql(`UPDATE short_notes SET body_key = NULL WHERE id = 2`)
    const summary = await decryptColumns(settings(shortModel, keys, { fields: ['ShortNote.body'] }))
    expect(summary.columns[0]!.counts).toEqual({ decrypted: 4 })
    expect(summary.columns[0]!.failures.map((f) => [f.reason, f.count])).toEqual([['KFE_KEY_HEADER_MISSING', 1]])
    expect(isShortText((await rows())[1]!.body)).toBe(true)
  })
})

describe('recomputeBlindIndexes', () => {
  test('reads short values with their key headers', async () => {
    const keys = newLocal()
    await encryptColumns(settings(shortModel, keys, { fields: ['ShortNote.email'] }))
    const indexes = (await rows()).map((r) => r.email_index)
    await db.sql('UPDATE short_notes SET email_index = NULL')
    const result = await recomputeBlindIndexes({ model: shortModel, modelName: 'ShortNote', keys, database: db.database })
    expect(result).toMatchObject({ updated: 5 })
    expect((await rows()).map((r) => r.email_index)).toEqual(indexes)
  })
})

describe('row-scoped', () => {
  let scopeKeys: LocalScopeKeys
  let keys: LocalKeyProvider
  beforeEach(() => {
    keys = newLocal()
    scopeKeys = localScopeKeys({ master: keys, store: databaseScopeKeyStore(db.database) })
  })

  test('each row sealed under its own tenant, in the short form; the scope checks hold; decrypt returns the plaintext', async () => {
    const run = { model: scopedModel, keys, scopeKeys, database: db.database }
    const summary = await encryptColumns(run)
    expect(summary.ok).toBe(true)
    const sealed = await rows()
    // Two tenants, two data keys: the key headers of odd and even rows differ.
    expect(sealed[0]!.body_key).toBe(sealed[2]!.body_key)
    expect(sealed[0]!.body_key).not.toBe(sealed[1]!.body_key)
    expect(sealed.every((r) => r.body === null || isShortText(r.body))).toBe(true)
    const status = await encryptionStatus(run)
    expect(status.complete).toBe(true)
    expect((await rotateColumns(run)).written).toBe(0)

    // A row moved to another tenant is not that tenant's: its values fail (the scope is in the AAD).
    await db.sql(`UPDATE short_notes SET tenant_id = 'even' WHERE id = 1`)
    const moved = await encryptionStatus(run)
    expect(moved.columns.find((c) => c.field === 'body')!.unreadable).toBe(1)
    await db.sql(`UPDATE short_notes SET tenant_id = 'odd' WHERE id = 1`)

    const decrypted = await decryptColumns(run)
    expect(decrypted.ok).toBe(true)
    for (const r of await rows()) {
      expect(r.body).toBe(expectedOf(r.id).body)
      expect(r.body_key).toBeNull()
    }
  })
})

describe('configuration', () => {
  test('a key-header column shared by two fields, or on a list field, is refused before anything is read', async () => {
    const keys = newLocal()
    const before = await db.checksum('short_notes', 'id')
    const shared = modelOf({
      ...SHORT_NOTE,
      encryptedFields: {
        ...SHORT_NOTE.encryptedFields,
        email: { ...SHORT_NOTE.encryptedFields.email!, keyHeader: { name: 'bodyKey', column: 'body_key' } },
      },
    })
    await expect(encryptColumns(settings(shared, keys))).rejects.toThrow(/share the key-header column "body_key"/)
    const list = modelOf({
      ...SHORT_NOTE,
      encryptedFields: { ...SHORT_NOTE.encryptedFields, body: { ...SHORT_NOTE.encryptedFields.body!, isList: true } },
    })
    await expect(encryptColumns(settings(list, keys))).rejects.toThrow(ConfigurationError)
    await expect(rotateColumns(settings(shortModel, keys, { formerKeyHeaders: { 'ShortNote.body': 'body_key' } }))).rejects.toThrow(
      /has a key header in the model/,
    )
    expect(await db.checksum('short_notes', 'id')).toBe(before)
  })
})
