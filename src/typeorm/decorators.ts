import type { BlindIndexNormalization } from '../model/encryption-model'

/** An entity class (what TypeORM's metadata calls `target`): a constructor, seen only as its prototype. */
export type EntityClass = { readonly prototype: object }

/** What a decorator declared on one property of an entity class. */
export type FieldDeclaration =
  | { kind: 'encrypted'; target: EntityClass; property: string }
  | { kind: 'blindIndex'; target: EntityClass; property: string; source: string; normalize: BlindIndexNormalization[] }
  | { kind: 'scope'; target: EntityClass; property: string }
  | { kind: 'keyHeader'; target: EntityClass; property: string; source: string }

export interface BlindIndexDecoratorOptions {
  /** Normalisations applied, in order, before hashing (as `@blindIndex(..., normalize: [...])` in Prisma). */
  normalize?: BlindIndexNormalization[]
}

const declarations: FieldDeclaration[] = []

function propertyName(key: string | symbol, decorator: string): string {
  if (typeof key !== 'string') throw new TypeError(`${decorator} needs a named property, not a symbol`)
  return key
}

/**
 * Marks a column as encrypted: every write stores its ciphertext, every entity read holds its
 * plaintext. Put it beside the column decorator, on a text column (or a list or binary column):
 *
 *   @Encrypted() @Column('text') email!: string
 */
export function Encrypted(): PropertyDecorator {
  return (prototype, key) => {
    declarations.push({ kind: 'encrypted', target: prototype.constructor, property: propertyName(key, '@Encrypted()') })
  }
}

/**
 * Marks a column as the blind index of the encrypted property `source`: it is computed on every
 * write of the source, and equality filters on the source are answered through it.
 *
 *   @BlindIndex('email', { normalize: ['lowercase', 'trim'] }) @Column('text', { unique: true, nullable: true }) emailIndex!: string | null
 */
export function BlindIndex(source: string, options: BlindIndexDecoratorOptions = {}): PropertyDecorator {
  return (prototype, key) => {
    declarations.push({
      kind: 'blindIndex',
      target: prototype.constructor,
      property: propertyName(key, '@BlindIndex()'),
      source,
      normalize: [...(options.normalize ?? [])],
    })
  }
}

/**
 * Marks a column as the key header of the encrypted property `source` (stored format version 2,
 * short values): the source's values are written short, and the encrypted data key that opens
 * them is written to this column, with the value, in the same statement (null with a null value).
 * The adapter writes it; a write that sets it by hand is refused. A nullable text column:
 *
 *   @KeyHeader('email') @Column('text', { name: 'email_key', nullable: true }) emailKey!: string | null
 */
export function KeyHeader(source: string): PropertyDecorator {
  return (prototype, key) => {
    declarations.push({ kind: 'keyHeader', target: prototype.constructor, property: propertyName(key, '@KeyHeader()'), source })
  }
}

/**
 * Marks the column whose value is the scope (tenant) of every encrypted value and blind index of
 * its row (row-scoped keys, preview): a non-nullable string column, one per entity.
 *
 *   @EncryptionScope() @Column('text', { name: 'tenant_id' }) tenantId!: string
 */
export function EncryptionScope(): PropertyDecorator {
  return (prototype, key) => {
    declarations.push({ kind: 'scope', target: prototype.constructor, property: propertyName(key, '@EncryptionScope()') })
  }
}

/** The declarations made on `target` or on a class it extends. */
export function declarationsOf(target: EntityClass | string): FieldDeclaration[] {
  if (typeof target === 'string') return []
  return declarations.filter((d) => d.target === target || d.target.prototype?.isPrototypeOf(target.prototype))
}
