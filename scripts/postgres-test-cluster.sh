#!/bin/sh
# A throwaway PostgreSQL cluster for the tests (docs/storage.md, "Testing against PostgreSQL").
#
#   postgres-test-cluster.sh start DIR   initdb in DIR (a fresh empty directory), start the server on a free
#                                        127.0.0.1 port, print its URL (with a generated password) on stdout
#   postgres-test-cluster.sh halt DIR    stop the server (fast shutdown: clients get 57P01), keep the data
#   postgres-test-cluster.sh resume DIR  start it again on the same port
#   postgres-test-cluster.sh stop DIR    stop the server if it runs and remove DIR (idempotent)
#
# The server binaries come from Debian's packages (/usr/lib/postgresql/*/bin, not PATH); when they are
# missing and we are root, `apt-get install -y postgresql` installs them. The server refuses to run as root,
# so as root everything runs as the `postgres` user. fsync stays on: the tests check durability.
set -eu

usage() {
  echo "usage: $0 start|halt|resume|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
command=$1
dir=$2

log() { echo "postgres-test-cluster: $*" >&2; }

find_bindir() {
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/postgres" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_binaries() {
  if bindir=$(find_bindir); then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL server binaries are missing and installing them needs root (apt-get install postgresql)"
    return 1
  fi
  log "installing PostgreSQL server binaries (apt-get install -y postgresql)..."
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d exit 101: the package's own default cluster is not started (no init system in CI either).
  policy_created=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  status=0
  apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; } || status=$?
  [ -z "$policy_created" ] || rm -f /usr/sbin/policy-rc.d
  [ "$status" -eq 0 ] || { log "apt-get install postgresql failed"; return 1; }
  bindir=$(find_bindir) || { log "no server binaries under /usr/lib/postgresql/*/bin after installing"; return 1; }
}

# Runs a server binary as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  node -e "const s = require('node:net').createServer(); s.listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); });"
}

start_server() {
  port=$(cat "$dir/port")
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' -c fsync=on -c synchronous_commit=on -c max_connections=200" \
    start >/dev/null
}

case "$command" in
  start)
    ensure_binaries
    [ -d "$dir" ] || mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || { log "$dir is not empty"; exit 1; }
    chmod 700 "$dir"
    password=$(node -e "console.log(require('node:crypto').randomBytes(18).toString('base64url'))")
    printf '%s\n' "$password" >"$dir/password"
    [ "$(id -u)" != 0 ] || chown -R postgres "$dir"
    # Loopback TCP needs the generated password (scram-sha-256); the unix socket in DIR is owner-only.
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$dir/password" \
      --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    echo "$bindir" >"$dir/bindir"
    # A port picked free can be taken before the server binds it: try a few.
    for attempt in 1 2 3; do
      free_port >"$dir/port"
      if start_server; then
        echo "postgres://postgres:$password@127.0.0.1:$(cat "$dir/port")/postgres"
        exit 0
      fi
      log "server did not start (attempt $attempt); log:"
      tail -n 5 "$dir/server.log" >&2 || true
    done
    exit 1
    ;;
  halt)
    bindir=$(cat "$dir/bindir")
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    ;;
  resume)
    bindir=$(cat "$dir/bindir")
    start_server
    ;;
  stop)
    if [ -f "$dir/bindir" ] && [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    usage
    ;;
esac
