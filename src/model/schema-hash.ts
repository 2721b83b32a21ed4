import { createHash } from 'node:crypto'

/**
 * The hash of a Prisma schema's text, written into the generated encryption model, so that a
 * client generated from another schema (a stale encryption model) can be told apart at start-up.
 */
export function schemaHashOf(schemaText: string): string {
  return `sha256:${createHash('sha256').update(schemaText, 'utf8').digest('hex')}`
}
