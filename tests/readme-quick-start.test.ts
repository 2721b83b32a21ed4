import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The README quotes the example app (examples/prisma/) file for file, and
 * examples/run-example.sh builds and runs that app from the packed tarball: so the README's
 * quick start is tested. Here: every quoted block equals its file, and every file of the example
 * a user needs is quoted.
 */
const ROOT = join(__dirname, '..')
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const MARKER = /<!-- quick-start: (\S+) -->\n```[a-z]*\n([\s\S]*?)\n```\n/g
const quoted = [...readme.matchAll(MARKER)].map((m) => ({ path: m[1]!, text: m[2]! }))

const NEEDED = [
  'examples/prisma/package.json',
  'examples/prisma/tsconfig.json',
  'examples/prisma/prisma/schema.prisma',
  'examples/prisma/prisma.config.ts',
  'examples/prisma/prisma/migrations/20260101000000_init/migration.sql',
  'examples/prisma/src/main.ts',
  'examples/prisma/expected-output.txt',
  'examples/prisma/kfe.config.ts',
  'examples/prisma/kfe.config.aws.ts',
]

test('every file of the example is quoted once', () => {
  expect(quoted.map((q) => q.path).sort()).toEqual([...NEEDED].sort())
})

test.each(NEEDED)('the README block of %s is the file', (path) => {
  const block = quoted.find((q) => q.path === path)
  expect(block).toBeDefined()
  expect(block!.text).toBe(readFileSync(join(ROOT, path), 'utf8').replace(/\n+$/, ''))
})

test('the quick start uses one output path, ESM and nodenext, and the install lines a new project needs', () => {
  const start = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 5))
  expect(start).toContain('npm i kms-field-encryption @prisma/client @prisma/adapter-pg')
  expect(start).toContain('npm i -D prisma')
  expect(start).toMatch(/"type": "module"/)
  expect(start).toMatch(/"module": "nodenext"/)
  expect(start).toMatch(/"moduleResolution": "nodenext"/)
  // (The CLI's list of places it searches names the others, on purpose.)
  const lines = readme.split('\n').filter((l) => !l.includes('the first of'))
  const outputs = lines.flatMap((l) => [...l.matchAll(/\b(src|prisma)\/generated\/encryption\b/g)].map((m) => m[1]))
  expect(new Set(outputs)).toEqual(new Set(['src']))
  expect(start).toContain('provider = "node ./node_modules/kms-field-encryption/bin/kms-field-encryption"')
})
