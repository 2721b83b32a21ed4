// Two projects: every test file on the installed typeorm (1.x), and the TypeORM test files a
// second time on TypeORM 0.3 (the `typeorm-0.3` alias), so `npm test` runs both versions.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
]

// On MySQL/MariaDB and SQLite (DATABASE_URL mysql:// or file:), the test files listed in
// tests/setup/postgres-only-tests.js are not run (global-setup.ts prints them with the reason).
const postgresOnly = require('./tests/setup/postgres-only-tests.js')
const url = process.env.DATABASE_URL ?? ''
const elsewhere = /^mysql:\/\//.test(url) || /^file:/.test(url)

const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testPathIgnorePatterns: ['/node_modules/', ...(elsewhere ? postgresOnly.files.map((f) => `<rootDir>/${f.replace(/\./g, '\\.')}$`) : [])],
  transform: { '^.+\\.(t|j)s$': swc },
  testTimeout: 60000,
}

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60000,
  globalSetup: '<rootDir>/tests/setup/global-setup.ts',
  globalTeardown: '<rootDir>/tests/setup/global-teardown.ts',
  projects: [
    { ...shared, displayName: 'default', testMatch: ['**/*.test.ts'], globals: { KFE_TYPEORM_LINE: '1' } },
    {
      ...shared,
      displayName: 'typeorm-0.3',
      testMatch: ['**/typeorm-*.test.ts'],
      globals: { KFE_TYPEORM_LINE: '0.3' },
      moduleNameMapper: { '^typeorm$': 'typeorm-0.3', '^typeorm/(.*)$': 'typeorm-0.3/$1' },
    },
  ],
}
