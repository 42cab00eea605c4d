#!/bin/sh
# The whole test suite: install, compile, lint, then node's test runner over dist/test.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
# Software PKCS#11 tokens for the HSM backend tests (docs/hsm.md "Testing"); the tests make their own tokens.
sh scripts/ensure-tokens.sh
# Headless Chromium for the console's end-to-end tests (test/console/browser.test.ts).
sh scripts/ensure-chromium.sh
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }

# The PostgreSQL backend's tests need a server: a throwaway cluster (scripts/postgres-test-cluster.sh),
# stopped and removed when this script ends, however it ends. DKE_TEST_POSTGRES_URL set: use that server.
if [ -z "${DKE_TEST_POSTGRES_URL:-}" ]; then
  pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/opendke-pg-XXXXXX")
  trap 'sh scripts/postgres-test-cluster.sh stop "$pg_dir"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if url=$(sh scripts/postgres-test-cluster.sh start "$pg_dir"); then
    DKE_TEST_POSTGRES_URL=$url
    export DKE_TEST_POSTGRES_URL
  elif [ "${CI:-}" = true ]; then
    echo "opendke: CI=true but the PostgreSQL test cluster did not start" >&2
    exit 1
  else
    echo "opendke: no PostgreSQL test cluster; the PostgreSQL tests will be skipped" >&2
  fi
fi

# Two files at a time: the machine has two cores and several suites start real servers.
node --test --test-concurrency=2 --test-reporter=spec dist/test/
