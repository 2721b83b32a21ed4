import { PassThrough } from 'node:stream'
import type { CliIo } from '../../src/cli/cli-io'
import { runProgram } from '../../src/cli/program'

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

export interface CliRunOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Answer to the confirmation question; undefined: no terminal to ask on. */
  answer?: string
  /** Pretend stdout is a terminal (progress bars). */
  tty?: boolean
  /** Width of that pretend terminal (default 160). */
  columns?: number
}

/** Runs the command-line tool in this process, with its output captured. */
export async function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun & { questions: string[] }> {
  const stdout = capture(options.tty ?? false, options.columns)
  const stderr = capture(false)
  const questions: string[] = []
  const io: CliIo = {
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    ...(options.answer !== undefined
      ? {
          confirm: async (q: string) => {
            questions.push(q)
            return options.answer!.trim().toLowerCase() === 'yes'
          },
        }
      : {}),
    handleSignals: false,
  }
  const code = await runProgram(['node', 'kms-field-encryption', ...args], io)
  return { code, stdout: stdout.text(), stderr: stderr.text(), questions }
}

function capture(tty: boolean, columns = 160): { stream: PassThrough & { isTTY?: boolean; columns?: number }; text(): string } {
  const stream = new PassThrough() as PassThrough & {
    isTTY?: boolean
    columns?: number
    cursorTo?: unknown
    clearLine?: unknown
    moveCursor?: unknown
  }
  let out = ''
  stream.on('data', (c: Buffer) => (out += c.toString()))
  if (tty) {
    stream.isTTY = true
    stream.columns = columns
    stream.cursorTo = (_x: number, _y?: number, cb?: () => void) => (cb?.(), true)
    stream.moveCursor = (_dx: number, _dy: number, cb?: () => void) => (cb?.(), true)
    stream.clearLine = (_dir: number, cb?: () => void) => (cb?.(), true)
  }
  return { stream, text: () => out }
}
