#!/bin/sh
# The benchmark suite (docs/benchmarks.md): install and compile, make sure the peer tools are there, then run
# dist/bench/run.js with the given options, e.g. `npm run bench -- --size 64M --quick`.
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh

# Peers the file benchmark compares against, and GNU time for peak RSS. Installed only when missing and
# only as root (Debian packages); otherwise their rows are skipped and say so.
missing=""
command -v age >/dev/null 2>&1 || missing="$missing age"
command -v gpg >/dev/null 2>&1 || missing="$missing gnupg"
[ -x /usr/bin/time ] || missing="$missing time"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "opendke bench: installing$missing (apt-get)..." >&2
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if ! { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2; }; then
      echo "opendke bench: could not install$missing; their rows are skipped" >&2
    fi
  else
    echo "opendke bench: missing$missing (install them as root, e.g. apt-get install$missing); their rows are skipped" >&2
  fi
fi

exec node dist/bench/run.js "$@"
