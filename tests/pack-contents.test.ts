import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, posix } from 'node:path'

/**
 * What `npm pack` ships: the licence, the compiled library with its types, the binary, source
 * maps that resolve (their sources are embedded: `inlineSources`), and nothing else (no tests,
 * sources, schemas, secrets). dist/ is built by `pretest`; the list comes from npm itself.
 */
const ROOT = join(__dirname, '..')

interface PackedFile {
  path: string
  size: number
  mode: number
}

let files: PackedFile[]

beforeAll(() => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  files = (JSON.parse(out) as Array<{ files: PackedFile[] }>)[0]!.files
}, 60_000)

test('ships LICENSE (MIT), the entry point, its types and the executable binary', () => {
  const paths = new Set(files.map((f) => f.path))
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    main: string
    types: string
    bin: Record<string, string>
    license: string
  }
  for (const p of [
    'LICENSE',
    'README.md',
    'package.json',
    pkg.main,
    pkg.types,
    'dist/cli/main.js',
    'dist/generator/generator-handler.js',
  ]) {
    expect(paths).toContain(p)
  }
  expect(pkg.license).toBe('MIT')
  expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} kms-field-encryption contributors\n/)
  for (const bin of Object.values(pkg.bin)) {
    const entry = files.find((f) => f.path === posix.normalize(bin))
    expect(entry).toBeDefined()
    expect(entry!.mode & 0o111).not.toBe(0)
  }
})

test('ships no tests, sources, schemas, benchmarks, environment files or keys', () => {
  const unwanted = files.filter(
    (f) =>
      /^(tests|src|prisma|demo|bench|examples|docs|native|\.ci|node_modules)\//.test(f.path) ||
      /(^|\/)\.env(\.|$)/.test(f.path) ||
      /\.(pem|key|p12|pfx|tgz)$/.test(f.path) ||
      /(^|\/)kfe\.config\./.test(f.path) ||
      /\.test\.(t|j)s$/.test(f.path),
  )
  expect(unwanted.map((f) => f.path)).toEqual([])
  // Every packed file is one of the few kinds a compiled library needs.
  const odd = files.filter(
    (f) =>
      !/^dist\/.*\.(js|d\.ts|js\.map)$/.test(f.path) &&
      !['LICENSE', 'README.md', 'package.json', 'bin/kms-field-encryption', 'prebuilds/linux-x64/node.napi.glibc.node'].includes(f.path),
  )
  expect(odd.map((f) => f.path)).toEqual([])
})

test('ships the prebuilt AES-GCM addon, and nothing npm would compile or run at install', () => {
  const addon = files.find((f) => f.path === 'prebuilds/linux-x64/node.napi.glibc.node')
  expect(addon).toBeDefined()
  // An ELF shared object, not a pointer or placeholder.
  expect(readFileSync(join(ROOT, addon!.path)).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))
  // npm runs node-gyp at install when binding.gyp is at the package root: it lives under native/.
  expect(existsSync(join(ROOT, 'binding.gyp'))).toBe(false)
  expect(files.filter((f) => /(^|\/)binding\.gyp$|\.(c|cc|h)$/.test(f.path))).toEqual([])
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; gypfile?: boolean }
  for (const hook of ['preinstall', 'install', 'postinstall']) expect(pkg.scripts[hook]).toBeUndefined()
  expect(pkg.gypfile).toBeUndefined()
})

test('every source map resolves: each source is embedded or shipped', () => {
  const paths = new Set(files.map((f) => f.path))
  const maps = files.filter((f) => f.path.endsWith('.js.map'))
  expect(maps.length).toBeGreaterThan(10)
  const unresolved: string[] = []
  for (const m of maps) {
    const map = JSON.parse(readFileSync(join(ROOT, m.path), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> }
    expect(paths).toContain(m.path.replace(/\.map$/, ''))
    map.sources.forEach((source, i) => {
      const shipped = paths.has(posix.normalize(posix.join(posix.dirname(m.path), source)))
      const embedded = typeof map.sourcesContent?.[i] === 'string' && map.sourcesContent[i]!.length > 0
      if (!shipped && !embedded) unresolved.push(`${m.path} → ${source}`)
    })
    // The embedded text is the real source, not a placeholder (compared when the source has not
    // been edited since the build).
    const first = map.sources[0]!
    const original = join(dirname(join(ROOT, m.path)), first)
    if (existsSync(original) && statSync(original).mtimeMs <= statSync(join(ROOT, m.path)).mtimeMs) {
      expect(map.sourcesContent?.[0]).toBe(readFileSync(original, 'utf8'))
    }
  }
  expect(unresolved).toEqual([])
})
