/**
 * Entry point of the `kms-field-encryption` binary. Prisma runs it as a generator (and then sets
 * PRISMA_GENERATOR_INVOCATION); otherwise it is the command-line tool.
 */
if (process.env.PRISMA_GENERATOR_INVOCATION) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('../generator/generator-handler').runGenerator()
} else {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./program')
    .runProgram(process.argv)
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err))
      process.exitCode = 1
    })
}
