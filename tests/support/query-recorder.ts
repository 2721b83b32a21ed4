import { Prisma } from '@prisma/client/extension'

/** The recorder's extension name: `fieldEncryption({ allowQueryExtensionsAfter: [RECORDER_NAME] })` lets it sit after. */
export const RECORDER_NAME = 'test-query-recorder'

export interface RecordedQuery {
  model: string | undefined
  operation: string
  /** The arguments as they left the encryption extension, serialised (Buffers as JSON). */
  args: string
}

/**
 * A Prisma extension that records every query reaching it. Added after `fieldEncryption`
 * (`client.$extends(fieldEncryption(...)).$extends(recorder.extension)`) it sits between the
 * encryption extension and the database: it sees what is really sent, or that nothing was.
 */
export class QueryRecorder {
  readonly queries: RecordedQuery[] = []

  readonly extension = Prisma.defineExtension({
    name: RECORDER_NAME,
    query: {
      $allModels: {
        $allOperations: ({ model, operation, args, query }) => {
          this.queries.push({ model, operation, args: JSON.stringify(args ?? {}) })
          return query(args)
        },
      },
    },
  })

  clear(): void {
    this.queries.length = 0
  }

  /** Every recorded argument text, for searching plaintext in. */
  text(): string {
    return this.queries.map((q) => q.args).join('\n')
  }
}
