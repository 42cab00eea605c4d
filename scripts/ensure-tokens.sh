#!/bin/sh
# Installs the software PKCS#11 tokens the HSM backend tests run against (docs/hsm.md "Testing"), from
# Debian's packages, when they are missing: NSS's softoken (libnss3) with certutil/modutil (libnss3-tools),
# and SoftHSM2 (softhsm2). The tokens themselves are created by the tests, in temporary directories they
# remove (test/support/tokens.ts).
# Needs root and apt-get; without them it says so and the token tests skip (or fail, under CI=true).
set -eu

missing=""
command -v certutil >/dev/null 2>&1 || missing="$missing libnss3-tools"
command -v softhsm2-util >/dev/null 2>&1 || missing="$missing softhsm2"
[ -n "$(find /usr/lib -name libsoftokn3.so 2>/dev/null | head -n 1)" ] || missing="$missing libnss3"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "opendke: PKCS#11 test tokens missing ($missing); install them as root with apt-get" >&2
  exit 0
fi
echo "opendke: installing PKCS#11 test tokens:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; an old list can name versions no longer on the mirror.
apt-get update -qq >&2 || true
# shellcheck disable=SC2086 # the list is meant to split into package names
if ! apt-get install -y -qq --no-install-recommends $missing >&2; then
  echo "opendke: could not install$missing; the PKCS#11 token tests will skip (or fail under CI=true)" >&2
fi
