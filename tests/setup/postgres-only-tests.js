/**
 * Test files that seed and inspect with PostgreSQL's SQL (generate_series, arrays, FILTER, TRUNCATE
 * ... RESTART IDENTITY) and use the String[] field: they run on PGlite and PostgreSQL only. On
 * MySQL/MariaDB and SQLite, tests/migration-databases.test.ts runs the same guarantees (keyset
 * batches over composite keys, compare-and-set, --dry-run, --shard, status, decrypt, SIGKILL and
 * resume with a concurrent writer) through those databases' SqlDatabase.
 */
module.exports = {
  reason: 'PostgreSQL SQL in seeds and checks, and String[]; covered on this database by tests/migration-databases.test.ts',
  files: [
    'tests/migration-cli.test.ts',
    'tests/migration-cli-display.test.ts',
    'tests/migration-edge-values.test.ts',
    'tests/kms-failed-unwraps.test.ts',
    'tests/migration-kill-resume.test.ts',
    'tests/migration-operations.test.ts',
    'tests/migration-pfe.test.ts',
    'tests/migration-rotation.test.ts',
  ],
}
