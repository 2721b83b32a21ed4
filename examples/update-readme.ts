/**
 * `npx tsx examples/update-readme.ts`: copies the example's files into the README blocks that
 * quote them (`<!-- quick-start: path -->` before a fenced block). tests/readme-quick-start.test.ts
 * fails when they differ; this puts them back in step after a change to the example.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = join(__dirname, '..')
const file = join(ROOT, 'README.md')
const readme = readFileSync(file, 'utf8')
const updated = readme.replace(
  /(<!-- quick-start: (\S+) -->\n```[a-z]*\n)[\s\S]*?(\n```\n)/g,
  (_all, head: string, path: string, tail: string) => {
    return `${head}${readFileSync(join(ROOT, path), 'utf8').replace(/\n+$/, '')}${tail}`
  },
)
if (updated !== readme) writeFileSync(file, updated)
console.log(
  updated === readme ? 'README.md: the quick start already quotes the example' : 'README.md: quick start blocks updated from examples/',
)
