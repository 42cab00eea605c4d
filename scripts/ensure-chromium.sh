#!/bin/sh
# Installs Debian's Chromium for the console's browser tests (docs/console.md "Tests") when it is missing.
# Needs root and apt-get; without them it says so and the browser tests skip (or fail, under CI=true).
set -eu

[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "opendke: chromium missing; install it as root with apt-get (the console browser tests will skip)" >&2
  exit 0
fi
echo "opendke: installing chromium for the console browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || true
if ! apt-get install -y -qq --no-install-recommends chromium >&2; then
  echo "opendke: could not install chromium; the console browser tests will skip (or fail under CI=true)" >&2
fi
