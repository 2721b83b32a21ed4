import type { EncryptionModel } from '../model/encryption-model'

/**
 * Typed unique lookups by an encrypted field, written next to the encryption model.
 *
 * Prisma's `WhereUniqueInput` lists only unique columns (the blind index, not the encrypted field
 * it indexes), so `findUnique({ where: { email } })` does not type-check although the extension
 * rewrites it to the unique index. For each field with a `@unique` blind index this emits
 * `uniqueBy.<Model>.<field>(delegate, value)`, which returns `{ field: value }` typed as that
 * delegate's own unique-where type: no cast in application code, and no import of the generated
 * Prisma client (its path and module form vary), since the type is read from the delegate passed.
 *
 *   await prisma.user.findUnique({ where: uniqueBy.User.email(prisma.user, 'ada@example.com') })
 */
export function renderUniqueLookups(model: EncryptionModel): string {
  const models = Object.values(model.models)
    .map((m) => ({
      name: m.name,
      fields: Object.values(m.blindIndexes)
        .filter((b) => b.isUnique)
        .map((b) => b.source),
    }))
    .filter((m) => m.fields.length > 0)
  const lines = [
    "/** The `where` type of a Prisma model delegate's `findUnique` (`prisma.user` → `Prisma.UserWhereUniqueInput`). */",
    'export type UniqueWhereOf<D> = D extends { findUnique(args: infer A): unknown } ? (A extends { where: infer W } ? W : never) : never',
    '',
    'type UniqueDelegate = { findUnique(args: never): unknown }',
    '',
    '/**',
    ' * Unique lookups by an encrypted field with a `@unique` blind index, typed for the delegate given:',
    ' * `prisma.user.findUnique({ where: uniqueBy.User.email(prisma.user, email) })` (also update, delete,',
    ' * upsert, connect). The extension rewrites `{ email }` to the blind index.',
    ' */',
    'export const uniqueBy = {',
  ]
  for (const m of models) {
    lines.push(`  ${JSON.stringify(m.name)}: {`)
    for (const f of m.fields) {
      lines.push(
        `    ${JSON.stringify(f)}: <D extends UniqueDelegate>(_delegate: D, value: string): UniqueWhereOf<D> => ({ ${JSON.stringify(f)}: value }) as UniqueWhereOf<D>,`,
      )
    }
    lines.push('  },')
  }
  lines.push('} as const', '')
  return lines.join('\n')
}
