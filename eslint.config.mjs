// ESLint: typescript-eslint's recommended rules, plus the rule that keeps the layers one-way.
// A layer may import the layers listed before it, never those after it (see docs/ARCHITECTURE.md).
import tseslint from 'typescript-eslint'

/** Bottom to top. Each entry is a folder (or file) under src/. */
const LAYERS = [
  ['errors'],
  // The checks of numeric options (src/option-checks.ts), used from keys up.
  ['option-checks'],
  ['cipher'],
  ['format'],
  ['keys'],
  ['model'],
  ['engine'],
  ['blind-index'],
  // The outer layers: each stands on the core; none imports another at its own level.
  ['prisma', 'typeorm', 'generator', 'migration'],
  ['config'],
  ['cli'],
]

const ORMS = ['@prisma/*', '@prisma/**', 'typeorm', 'typeorm/**']
const CORE = LAYERS.slice(0, 8).flat()

function layerRules() {
  return LAYERS.flatMap((level, i) => {
    const above = LAYERS.slice(i + 1).flat()
    return level.map((name) => {
      const siblings = level.filter((other) => other !== name)
      const forbidden = [...above, ...siblings]
      const patterns = forbidden.map((other) => ({
        group: [`../${other}`, `../${other}/*`, `../../${other}`, `../../${other}/*`],
        message: `src/${name} is below src/${other}: imports point down only (docs/ARCHITECTURE.md).`,
      }))
      if (CORE.includes(name)) patterns.push({ group: ORMS, message: 'The core imports no ORM.' })
      return {
        files: [`src/${name}/**/*.ts`, `src/${name}.ts`],
        rules: { 'no-restricted-imports': ['error', { patterns }] },
      }
    })
  })
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/generated/**', 'coverage/**', 'examples/**/node_modules/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests load modules lazily (per database, per TypeORM line) and wrap driver objects.
    files: ['tests/**', '**/*.js'],
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-this-alias': 'off',
      '@typescript-eslint/no-unsafe-function-type': 'off',
    },
  },
  ...layerRules(),
)
