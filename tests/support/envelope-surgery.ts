import { BYTES_PREFIX, TEXT_PREFIX } from '../../src/format/envelope-format'

/**
 * Takes a stored value apart into its header and body bytes (both forms) and puts it back
 * together, so tests can alter one chosen byte of a chosen part, as an attacker with write
 * access to the database would.
 */
export interface StoredParts {
  form: 'text' | 'bytes'
  header: Buffer
  body: Buffer
}

/** The parts of a value, by the documented layout (version 1). */
export type Region = 'version' | 'headerLength' | 'providerId' | 'wrappedKey' | 'commitment' | 'iv' | 'ciphertext' | 'tag'

export function takeApart(value: string | Uint8Array): StoredParts {
  if (typeof value === 'string') {
    if (!value.startsWith(TEXT_PREFIX)) throw new Error('not a stored text value')
    const all = value.slice(TEXT_PREFIX.length)
    const headerLength = Buffer.from(all.slice(0, 4), 'base64url').readUInt16BE(1)
    const headerChars = (headerLength / 3) * 4
    return {
      form: 'text',
      header: Buffer.from(all.slice(0, headerChars), 'base64url'),
      body: Buffer.from(all.slice(headerChars), 'base64url'),
    }
  }
  const buf = Buffer.from(value)
  if (!buf.subarray(0, 4).equals(BYTES_PREFIX)) throw new Error('not a stored bytes value')
  const headerLength = buf.readUInt16BE(5)
  return { form: 'bytes', header: buf.subarray(4, 4 + headerLength), body: buf.subarray(4 + headerLength) }
}

export function putTogether(parts: StoredParts): string | Buffer {
  return parts.form === 'text'
    ? TEXT_PREFIX + parts.header.toString('base64url') + parts.body.toString('base64url')
    : Buffer.concat([BYTES_PREFIX, parts.header, parts.body])
}

/** [start, end) of a region: in the header for header regions, in the body for iv/ciphertext/tag. */
export function regionOf(parts: StoredParts, region: Region): { in: 'header' | 'body'; start: number; end: number } {
  const idLength = parts.header.readUInt8(3)
  const wrappedAt = 4 + idLength + 2
  const wrappedLength = parts.header.readUInt16BE(4 + idLength)
  switch (region) {
    case 'version':
      return { in: 'header', start: 0, end: 1 }
    case 'headerLength':
      return { in: 'header', start: 1, end: 3 }
    case 'providerId':
      return { in: 'header', start: 4, end: 4 + idLength }
    case 'wrappedKey':
      return { in: 'header', start: wrappedAt, end: wrappedAt + wrappedLength }
    case 'commitment':
      return { in: 'header', start: wrappedAt + wrappedLength, end: wrappedAt + wrappedLength + 32 }
    case 'iv':
      return { in: 'body', start: 0, end: 12 }
    case 'ciphertext':
      return { in: 'body', start: 12, end: parts.body.length - 16 }
    case 'tag':
      return { in: 'body', start: parts.body.length - 16, end: parts.body.length }
  }
}

/** The value with one byte of `region` (at `offset` within it) XORed with `mask`. */
export function flipByte(value: string | Uint8Array, region: Region, offset = 0, mask = 0x01): string | Buffer {
  const parts = takeApart(value)
  const r = regionOf(parts, region)
  if (r.end - r.start <= offset) throw new Error(`region ${region} has only ${r.end - r.start} bytes`)
  const target = Buffer.from(r.in === 'header' ? parts.header : parts.body)
  target[r.start + offset]! ^= mask
  return putTogether(r.in === 'header' ? { ...parts, header: target } : { ...parts, body: target })
}
