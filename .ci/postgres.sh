#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the test suite and prints its URL.
#   .ci/postgres.sh start [DIR] [PORT]   -> prints postgres://switchboard@127.0.0.1:PORT/switchboard
#   .ci/postgres.sh stop [DIR]
# Installs the distribution's server package when it is missing (apt-get, as root). initdb refuses
# to run as root, so as root the cluster belongs to the postgres user.
set -euo pipefail
action="${1:-start}"
dir="${2:-${TMPDIR:-/tmp}/switchboard-postgres}"
port="${3:-55432}"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$bindir" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$action" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres "$dir"
      as_owner "$bindir/initdb" -D "$dir" -U switchboard --auth=trust -E UTF8 >/dev/null
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=on" start >/dev/null
    fi
    as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U switchboard -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'switchboard'" | grep -q 1 ||
      as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U switchboard -d postgres -qc 'CREATE DATABASE switchboard' >/dev/null
    echo "postgres://switchboard@127.0.0.1:$port/switchboard"
    ;;
  stop)
    as_owner "$bindir/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
