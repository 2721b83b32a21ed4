import type { DMMF } from '@prisma/generator-helper'
import { IV_BYTES, TAG_BYTES } from '../cipher/aes-gcm'
import { BYTES_PREFIX, TEXT_PREFIX } from '../format/envelope-format'

/**
 * Per-database checks of the column type behind an encrypted or blind-index field: a stored value
 * is longer than its plaintext, and MySQL's default String column (VARCHAR(191)) holds no
 * encrypted value at all. What `prisma generate` cannot see (a column's collation) is in the README.
 *
 * Sizes follow the stored format (src/format/envelope-format.ts):
 *   header  = 38 + providerId + wrappedKey bytes, padded to a multiple of 3
 *   text    = 5 ("$kfe$") + 4·header/3 + ceil(4·(28 + n)/3) characters for n plaintext bytes
 *   bytes   = 4 (0x89 "KFE") + header + 28 + n bytes
 * Local key: providerId "local" (5), wrapped key 68 bytes -> header 111 -> text 153 + ceil(4·(28+n)/3).
 * AWS KMS: providerId "aws-kms" (7), a CiphertextBlob of about 184 bytes for a symmetric key;
 * sized here for up to 256 -> header 303 -> text 409 + ceil(4·(28+n)/3), bytes 335 + n.
 */
const FIXED_HEADER_BYTES = 1 + 2 + 1 + 2 + 32

export interface KeyProviderSizing {
  name: string
  providerIdBytes: number
  wrappedKeyBytes: number
}

export const LOCAL_SIZING: KeyProviderSizing = { name: 'the local key', providerIdBytes: 5, wrappedKeyBytes: 68 }
export const AWS_KMS_SIZING: KeyProviderSizing = { name: 'AWS KMS', providerIdBytes: 7, wrappedKeyBytes: 256 }

function headerBytes(p: KeyProviderSizing): number {
  return Math.ceil((FIXED_HEADER_BYTES + p.providerIdBytes + p.wrappedKeyBytes) / 3) * 3
}

/** Characters of the text form for `n` plaintext bytes (UTF-8). */
export function storedTextLength(n: number, p: KeyProviderSizing = LOCAL_SIZING): number {
  return TEXT_PREFIX.length + (headerBytes(p) / 3) * 4 + Math.ceil((4 * (IV_BYTES + n + TAG_BYTES)) / 3)
}

/** Bytes of the bytes form for `n` plaintext bytes. */
export function storedBytesLength(n: number, p: KeyProviderSizing = LOCAL_SIZING): number {
  return BYTES_PREFIX.length + headerBytes(p) + IV_BYTES + n + TAG_BYTES
}

/** The largest plaintext (bytes) whose text form fits in `chars` characters (negative: none fits). */
export function largestTextPlaintext(chars: number, p: KeyProviderSizing = LOCAL_SIZING): number {
  const body = chars - TEXT_PREFIX.length - (headerBytes(p) / 3) * 4
  return Math.floor((3 * body) / 4) - IV_BYTES - TAG_BYTES
}

/** A stored blind index: "v<version>:" and 43 base64url characters; versions up to 9999 in 48. */
export const BLIND_INDEX_MIN_CHARS = 48

const TEXT_TYPES: Record<string, number> = { TinyText: 255, Text: 65_535, MediumText: 16_777_215, LongText: 4_294_967_295 }
const BLOB_TYPES: Record<string, number> = { TinyBlob: 255, Blob: 65_535, MediumBlob: 16_777_215, LongBlob: 4_294_967_295 }
/** The smallest column accepted for an encrypted field: a short value must fit under AWS KMS too. */
const MIN_PLAINTEXT_BYTES = 1

/**
 * What is wrong with the column type of an encrypted String/Bytes field on this provider, or
 * undefined when it can hold values. The text names the fix.
 */
export function encryptedColumnProblem(field: DMMF.Field, provider: string): string | undefined {
  if (provider !== 'mysql' && provider !== 'postgresql' && provider !== 'cockroachdb') return undefined
  const [type, args] = field.nativeType ?? [undefined, []]
  const length = args[0] !== undefined ? Number(args[0]) : undefined
  const needText = storedTextLength(MIN_PLAINTEXT_BYTES, AWS_KMS_SIZING)
  const formula =
    'a stored value is 153 + ceil(4·(28+n)/3) characters for n plaintext bytes under the local key, 409 + ceil(4·(28+n)/3) under AWS KMS'
  if (field.type === 'String' && !field.isList) {
    if (provider === 'mysql' && type === undefined) {
      return `an encrypted String on MySQL needs a longer column than the default VARCHAR(191), which holds no encrypted value (${formula}); use @db.Text (or @db.MediumText, @db.LongText), or @db.VarChar(N) with N sized by that formula`
    }
    if (type !== undefined && type in TEXT_TYPES && TEXT_TYPES[type]! < needText) {
      return `@db.${type} holds ${TEXT_TYPES[type]} bytes, too few for an encrypted value (${formula}); use @db.Text`
    }
    if ((type === 'VarChar' || type === 'Char') && length !== undefined && Number.isFinite(length) && length < needText) {
      const fits = largestTextPlaintext(length)
      const holds =
        fits >= 0 ? `holds plaintexts of at most ${fits} bytes under the local key and none under AWS KMS` : 'holds no encrypted value'
      return `@db.${type}(${length}) ${holds} (${formula}); use @db.${provider === 'mysql' ? 'Text' : 'Text or no native type'}, or @db.VarChar(N) with N ≥ ${needText}`
    }
    return undefined
  }
  if (field.type === 'Bytes' && provider === 'mysql') {
    const needBytes = storedBytesLength(MIN_PLAINTEXT_BYTES, AWS_KMS_SIZING)
    const bytesFormula = 'a stored value is 143 + n bytes for n plaintext bytes under the local key, 335 + n under AWS KMS'
    if (type !== undefined && type in BLOB_TYPES && BLOB_TYPES[type]! < needBytes) {
      return `@db.${type} holds ${BLOB_TYPES[type]} bytes, too few for an encrypted value (${bytesFormula}); use @db.Blob (or @db.MediumBlob, @db.LongBlob)`
    }
    if ((type === 'VarBinary' || type === 'Binary') && length !== undefined && length < needBytes) {
      return `@db.${type}(${length}) is too small for an encrypted value (${bytesFormula}); use @db.Blob, or @db.VarBinary(N) with N ≥ ${needBytes}`
    }
  }
  return undefined
}

/**
 * The shortest column accepted for a `@keyHeader` field: a key header is "$kfh$" and the base64url
 * of 38 + providerId + wrappedKey bytes (docs/format-v2.md): 153 characters under the local key,
 * about 320 under AWS KMS (409 for a 256-byte CiphertextBlob); 1024 leaves room for larger blobs.
 */
export const KEY_HEADER_MIN_CHARS = 1024

/** What is wrong with the column type of a @keyHeader field on this provider, or undefined. */
export function keyHeaderColumnProblem(field: DMMF.Field, provider: string): string | undefined {
  if (provider !== 'mysql' && provider !== 'postgresql' && provider !== 'cockroachdb') return undefined
  const [type, args] = field.nativeType ?? [undefined, []]
  const length = args[0] !== undefined ? Number(args[0]) : undefined
  const size = `a key header is 153 characters under the local key and about 320 under AWS KMS; the column must hold at least ${KEY_HEADER_MIN_CHARS}`
  if (provider === 'mysql' && type === undefined) {
    return `a @keyHeader field on MySQL needs a longer column than the default VARCHAR(191) (${size}); use @db.Text, or @db.VarChar(N) with N ≥ ${KEY_HEADER_MIN_CHARS}`
  }
  if (type !== undefined && type in TEXT_TYPES && TEXT_TYPES[type]! < KEY_HEADER_MIN_CHARS) {
    return `@db.${type} holds ${TEXT_TYPES[type]} bytes, too few for a key header (${size}); use @db.Text`
  }
  if ((type === 'VarChar' || type === 'Char') && length !== undefined && Number.isFinite(length) && length < KEY_HEADER_MIN_CHARS) {
    return `@db.${type}(${length}) is too short for a key header (${size}); use @db.${provider === 'mysql' ? 'Text' : 'Text or no native type'}, or @db.VarChar(N) with N ≥ ${KEY_HEADER_MIN_CHARS}`
  }
  return undefined
}

/** What is wrong with the column type of a @blindIndex field, or undefined. */
export function blindIndexColumnProblem(field: DMMF.Field, provider: string): string | undefined {
  const [type, args] = field.nativeType ?? [undefined, []]
  const length = args[0] !== undefined ? Number(args[0]) : undefined
  if ((type === 'VarChar' || type === 'Char') && length !== undefined && length < BLIND_INDEX_MIN_CHARS) {
    const collation = provider === 'mysql' ? ' with a binary collation (utf8mb4_bin), see the README' : ''
    return `@db.${type}(${length}) is too short for a stored blind index ("v<version>:" and 43 characters); use @db.VarChar(64)${collation}`
  }
  return undefined
}
