#!/bin/sh
# The whole test suite: install, compile, lint, then node's test runner over dist/test.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
# Software PKCS#11 tokens for the HSM backend tests (docs/hsm.md "Testing"); the tests make their own tokens.
sh scripts/ensure-tokens.sh
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
# Two files at a time: the machine has two cores and several suites start real servers.
exec node --test --test-concurrency=2 --test-reporter=spec dist/test/
