import { Command } from 'commander'
import { LocalKeyProvider } from '../keys/local-key-provider'

/** The command-line tool. */
export async function runProgram(argv: string[]): Promise<void> {
  const program = new Command('kms-field-encryption').description('Field-level encryption for Prisma: keys and migrations')
  program
    .command('keygen')
    .description('print a fresh local master key (base64)')
    .action(() => {
      console.log(LocalKeyProvider.generateMasterKey())
    })
  await program.parseAsync(argv)
}
