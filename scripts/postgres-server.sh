#!/usr/bin/env bash
# Starts Debian's PostgreSQL on loopback for tests, in a directory of its own, and waits until it
# answers. Prints the connection URL (user postgres, no password: trust on loopback only).
# Usage: scripts/postgres-server.sh DIR PORT        Stop it with: scripts/postgres-server.sh stop DIR
# PostgreSQL refuses to run as root: as root, the cluster belongs to Debian's `postgres` user.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "${1:-}" = stop ]; then
    as_owner "$bin/pg_ctl" -D "$(realpath -m "$2")/data" -m fast stop >/dev/null 2>&1 || true
    exit 0
fi
dir=$(realpath -m "${1:?data directory}")
port=${2:-15432}
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
fi
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200" >/dev/null
echo "postgres://postgres@127.0.0.1:$port/postgres"
