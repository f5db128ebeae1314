#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server: Debian's postgresql, a fresh data
# directory under /tmp, loopback only, on LATCH_PG_PORT (default 55432). The command sees
# LATCH_PG_URL (a superuser URL of the `postgres` database); tests create their own
# databases in it. The server and its directory are removed afterwards, whatever happens.
#   bash tests/support/with-postgres.sh cargo test -p latch-relay
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/postgres" ] || { echo "PostgreSQL server not installed (bash tests/support/setup.sh installs it)" >&2; exit 1; }
port=${LATCH_PG_PORT:-55432}
dir=$(mktemp -d /tmp/latch-pg.XXXXXX)
chown postgres "$dir" 2>/dev/null || true
# PostgreSQL refuses to run as root: run it as the postgres user the package created.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
# Sized for the load benchmark: enough connections for several relay instances.
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o \
  "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c shared_buffers=256MB" start >/dev/null \
  || { cat "$dir/log" >&2; exit 1; }
export LATCH_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "with-postgres: $("$bin/postgres" --version) on 127.0.0.1:$port" >&2
"$@"
