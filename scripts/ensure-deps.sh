#!/bin/sh
# Installs the project's npm dependencies when they are missing or stale, then compiles TypeScript.
# Shared by `npm start`, `npm test` and `npm run bench` so each works on a fresh clone.
set -eu
cd "$(dirname "$0")/.."
if [ -L node_modules ]; then
  # A node_modules shared through a symlink (a git worktree using another checkout's) is never reinstalled
  # from here: `npm ci` empties the link's target, under every other checkout that uses it.
  if [ ! -d node_modules/.bin ]; then
    echo "opendke: node_modules links to $(readlink node_modules), which has no packages installed; install them there" >&2
    exit 1
  fi
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "opendke: installing npm dependencies (npm ci)..." >&2
  # Native addons (better-sqlite3) build from source with node-gyp: no prebuilt-binary downloads.
  npm_config_build_from_source=true npm ci --no-audit --no-fund >&2
fi
npx tsc -p tsconfig.json
# The console's pages (web/console → dist/console, docs/console.md): built here, never fetched at run time.
npx vite build --config web/console/vite.config.ts
