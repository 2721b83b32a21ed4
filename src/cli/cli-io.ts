import { createInterface } from 'node:readline/promises'

/** Where the command-line tool reads and writes: the process, or a test's own streams. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  cwd: string
  /** Asks a yes/no question; undefined when no one can answer (no terminal). */
  confirm?: (question: string) => Promise<boolean>
  /** Stop on SIGINT/SIGTERM: finish the batches in flight, print the summary, exit 130. */
  handleSignals: boolean
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    confirm: process.stdin.isTTY ? askOnTerminal : undefined,
    handleSignals: true,
  }
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await rl.question(question)
    return answer.trim().toLowerCase() === 'yes'
  } finally {
    rl.close()
  }
}
