#!/usr/bin/env bash
# PostgreSQL from Debian's packages, as a cluster in a project-local data directory.
# usage: postgres.sh start|stop|status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# As root the cluster is owned by 'postgres', which must reach the data directory; a checkout in a
# private home directory gets its cluster under /var/tmp instead, keyed by the checkout's path.
if [[ $(id -u) == 0 ]] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$CENSUS_ROOT"; then
  CENSUS_PG_DIR=/var/tmp/census-pg-$(printf '%s' "$CENSUS_PG_DIR" | md5sum | cut -c1-12)
fi
data=$CENSUS_PG_DIR/data
rundir=$CENSUS_PG_DIR/run
logfile=$CENSUS_PG_DIR/postgres.log

find_bindir() {
  local d
  if command -v pg_config >/dev/null && [[ -x $(pg_config --bindir)/initdb ]]; then pg_config --bindir; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x $d/initdb && -x $d/postgres ]] && { echo "$d"; return; }
  done
  return 1
}
bindir=$(find_bindir) || census_die "PostgreSQL server binaries not found: install them (apt-get install postgresql)"

# initdb and postgres refuse to run as root; as root we run them as the 'postgres' system user.
as_owner() {
  if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || census_die "running as root needs the 'postgres' system user (apt-get install postgresql)"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() { [[ -f $data/postmaster.pid ]] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

ready() { "$bindir/pg_isready" -q -h 127.0.0.1 -p "$CENSUS_PG_PORT" -U "$CENSUS_PG_SUPERUSER" -d postgres; }

psql_super() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$CENSUS_PG_PORT" -U "$CENSUS_PG_SUPERUSER" "$@"; }

init_cluster() {
  census_say "initialising a PostgreSQL cluster in $data"
  mkdir -p "$CENSUS_PG_DIR"
  [[ $(id -u) == 0 ]] && chown postgres: "$CENSUS_PG_DIR"
  as_owner "$bindir/initdb" -D "$data" -U "$CENSUS_PG_SUPERUSER" --auth=trust -E UTF8 --locale=C.UTF-8 >"$CENSUS_PG_DIR/initdb.log" 2>&1 \
    || { cat "$CENSUS_PG_DIR/initdb.log" >&2; census_die "initdb failed"; }
  # A development cluster: loopback only, trust auth, no fsync (a machine crash may lose it; tests do
  # not crash machines). Everything else is PostgreSQL's default.
  as_owner tee -a "$data/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$rundir'
fsync = off
full_page_writes = off
max_connections = 200
shared_buffers = 256MB
max_locks_per_transaction = 256
log_min_messages = warning
CONF
}

start() {
  if running; then census_say "postgres already running on 127.0.0.1:$CENSUS_PG_PORT"; return 0; fi
  [[ -f $data/PG_VERSION ]] || init_cluster
  if census_port_open "$CENSUS_PG_PORT"; then census_die "port $CENSUS_PG_PORT is taken by another process: set CENSUS_PG_PORT"; fi
  mkdir -p "$rundir"
  [[ $(id -u) == 0 ]] && chown postgres: "$rundir" "$CENSUS_PG_DIR"
  census_say "starting postgres, log $logfile"
  as_owner "$bindir/pg_ctl" -D "$data" -l "$logfile" -o "-p $CENSUS_PG_PORT" -w -t "$CENSUS_START_TIMEOUT" start >/dev/null \
    || { tail -n 20 "$logfile" >&2; census_die "postgres did not start"; }
  census_wait_for "postgres" ready
  if [[ -z $(psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$CENSUS_PG_DATABASE'") ]]; then
    psql_super -d postgres -c "CREATE DATABASE \"$CENSUS_PG_DATABASE\""
  fi
  census_say "postgres ready on 127.0.0.1:$CENSUS_PG_PORT (database $CENSUS_PG_DATABASE)"
}

stop() {
  running || return 0
  census_say "stopping postgres"
  as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null \
    || as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null
}

status() {
  if running; then echo "postgres: running on 127.0.0.1:$CENSUS_PG_PORT"; else echo "postgres: stopped"; return 1; fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  bindir) echo "$bindir" ;;
  *) echo "usage: $0 start|stop|status|bindir" >&2; exit 2 ;;
esac
