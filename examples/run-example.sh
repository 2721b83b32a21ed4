#!/usr/bin/env bash
# The README's quick start, run as a new user would: the package as published (npm pack), installed
# into a clean folder with the files of examples/prisma/, `prisma generate` (called by path, with
# node_modules/.bin off PATH), a type check with the example's tsconfig (nodenext), and a run of
# src/main.ts with tsx whose output is checked. Exits non-zero on any difference.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXAMPLE="$ROOT/examples/prisma"
started=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kfe-example-XXXXXX")"
[ -n "${KFE_KEEP_EXAMPLE:-}" ] && echo "keeping $WORK" || trap '(rm -rf "$WORK" >/dev/null 2>&1 &)' EXIT  # removed in the background: 200 packages take a while

step() { printf '== [%3ss] %s\n' "$((SECONDS - started))" "$*"; }

step "npm pack (build unless dist/ is newer than every source, then pack)"
if [ ! -f "$ROOT/dist/index.js" ] || [ -n "$(find "$ROOT/src" "$ROOT/tsconfig.build.json" -newer "$ROOT/dist/index.js" -print -quit)" ]; then
  (cd "$ROOT" && npm run --silent build)
fi
TARBALL="$WORK/$(cd "$ROOT" && npm pack --ignore-scripts --json --pack-destination "$WORK" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].filename))')"
test -f "$TARBALL"

step "a clean folder with the example's files"
APP="$WORK/app"
mkdir "$APP"
(cd "$EXAMPLE" && tar --exclude=node_modules --exclude=src/generated -cf - .) | (cd "$APP" && tar -xf -)

step "npm install (the example's dependencies, kms-field-encryption from the tarball)"
(cd "$APP" && npm install --no-audit --no-fund --loglevel=error "$TARBALL")

# Prisma 7 only needs a schema engine for migrate/db commands; generate checks that one exists.
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$(command -v node)}"
# PATH without any node_modules/.bin: the generator is found by its node-path provider alone.
BARE_PATH="$(dirname "$(command -v node)"):/usr/local/bin:/usr/bin:/bin"

step "prisma generate (./node_modules/.bin/prisma, node_modules/.bin not on PATH)"
(cd "$APP" && env PATH="$BARE_PATH" ./node_modules/.bin/prisma generate)
test -f "$APP/src/generated/encryption/index.ts"

step "tsc --noEmit (module/moduleResolution nodenext, exactOptionalPropertyTypes)"
(cd "$APP" && env PATH="$BARE_PATH" ./node_modules/.bin/tsc --noEmit -p .)

step "npx kms-field-encryption --version and keygen"
version="$(cd "$APP" && npx --no-install kms-field-encryption --version)"
expected="$(node -p "require('$ROOT/package.json').version")"
[ "$version" = "$expected" ] || { echo "--version printed '$version', expected '$expected'" >&2; exit 1; }
KFE_LOCAL_MASTER_KEY="$(cd "$APP" && npx --no-install kms-field-encryption keygen 2>/dev/null)"
export KFE_LOCAL_MASTER_KEY

step "npx tsx src/main.ts"
output="$(cd "$APP" && env -u DATABASE_URL npx --no-install tsx src/main.ts)"
printf '%s\n' "$output" | sed 's/^/   | /'
expected_output="$(cat "$EXAMPLE/expected-output.txt")"
if [ "$output" != "$expected_output" ]; then
  echo "the example's output differs from examples/prisma/expected-output.txt (quoted in the README):" >&2
  diff <(printf '%s\n' "$expected_output") <(printf '%s\n' "$output") >&2 || true
  exit 1
fi

step "the CLI on 500 plaintext rows, with kfe.config.ts: encrypt, then status --check"
PGDATA_DIR="$WORK/pgdata"
(cd "$APP" && node --input-type=module -e "
import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
const db = new PGlite(process.argv[1])
await db.exec(readFileSync('prisma/migrations/20260101000000_init/migration.sql', 'utf8'))
await db.exec(\"INSERT INTO \\\"User\\\" (email, name) SELECT 'old' || g || '@example.com', 'Old' FROM generate_series(1, 500) g\")
await db.close()
" "$PGDATA_DIR")
cli() { (cd "$APP" && env DATABASE_URL="pglite:$PGDATA_DIR" npx --no-install kms-field-encryption "$@"); }
cli encrypt --no-progress | tail -n 2
cli status --check --no-progress | tail -n 1

step "done: the quick start works from the packed tarball"
