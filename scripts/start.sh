#!/bin/sh
# `npm start`: the walk-through on the embedded defaults (installs and compiles first if needed).
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
exec node dist/src/demo/walkthrough.js
