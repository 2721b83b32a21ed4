/**
 * jest.config.js, plus: on MySQL/MariaDB and SQLite (DATABASE_URL mysql:// or file:), the test
 * files listed in postgres-only-tests.js are not run (global-setup.ts prints them with the reason).
 * `npm test` uses this file; `npx jest <file>` uses jest.config.js and runs what it is given.
 */
const base = require('../../jest.config.js')
const postgresOnly = require('./postgres-only-tests.js')

const url = process.env.DATABASE_URL ?? ''
const elsewhere = /^mysql:\/\//.test(url) || /^file:/.test(url)

module.exports = {
  ...base,
  rootDir: require('node:path').join(__dirname, '..', '..'),
  testPathIgnorePatterns: [
    ...(base.testPathIgnorePatterns ?? ['/node_modules/']),
    ...(elsewhere ? postgresOnly.files.map((f) => `<rootDir>/${f.replace(/\./g, '\\.')}$`) : []),
  ],
}
