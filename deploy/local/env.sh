# Shared settings of the local stack; sourced by the other scripts. Every value can be overridden
# from the environment so two checkouts on one machine do not collide.
# shellcheck shell=bash
CENSUS_ROOT=${CENSUS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CENSUS_LOCAL_DIR=${CENSUS_LOCAL_DIR:-$CENSUS_ROOT/.local}
CENSUS_KAFKA_VERSION=${CENSUS_KAFKA_VERSION:-4.1.1}
# Maven resolves the broker's jars here, outside git, once per machine.
CENSUS_KAFKA_HOME=${CENSUS_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/census/kafka-$CENSUS_KAFKA_VERSION}
CENSUS_KAFKA_PORT=${CENSUS_KAFKA_PORT:-19092}
CENSUS_KAFKA_CONTROLLER_PORT=${CENSUS_KAFKA_CONTROLLER_PORT:-19093}
CENSUS_KAFKA_DIR=${CENSUS_KAFKA_DIR:-$CENSUS_LOCAL_DIR/kafka}
CENSUS_KAFKA_HEAP=${CENSUS_KAFKA_HEAP:-768m}
CENSUS_PG_PORT=${CENSUS_PG_PORT:-25432}
CENSUS_PG_DIR=${CENSUS_PG_DIR:-$CENSUS_LOCAL_DIR/postgres}
CENSUS_PG_SUPERUSER=${CENSUS_PG_SUPERUSER:-census}
CENSUS_PG_DATABASE=${CENSUS_PG_DATABASE:-census}
CENSUS_START_TIMEOUT=${CENSUS_START_TIMEOUT:-90}

census_say() { printf '%s\n' "census-local: $*" >&2; }
census_die() { census_say "$*"; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1.
census_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Wait until "$@" succeeds, at most $CENSUS_START_TIMEOUT seconds; $1 names what we wait for.
census_wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + CENSUS_START_TIMEOUT))
  until "$@"; do
    if ((SECONDS >= deadline)); then census_say "$what not ready after ${CENSUS_START_TIMEOUT}s"; return 1; fi
    sleep 0.2
  done
}

# True when process $1 is alive: it exists and is not a zombie. `kill -0` alone is not enough: a
# process killed with -9 stays a zombie where nothing reaps orphans (a container's init without a
# reaper, some sandboxes), and kill -0 succeeds on a zombie.
census_alive() {
  local stat
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }  # the state is the field after the command name, which may hold spaces
  [[ ${stat%% *} != [ZX] ]]
}

# Prints the pid in pidfile $1 when that process is alive and its command line contains $2 (a
# recycled pid belongs to another program); fails otherwise.
census_pidfile_alive() {
  [[ -f $1 ]] || return 1
  local pid cmdline; pid=$(<"$1")
  census_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$2"* ]] || return 1
  echo "$pid"
}

# Wait until no process has pid $1 (a zombie counts as gone), at most $2 seconds.
census_wait_gone() {
  local deadline=$((SECONDS + $2))
  while census_alive "$1"; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.2
  done
}

# The local stack's CENSUS_INGEST_ID_SECRET: made once, on the first start of ingest, from 32 random
# bytes, and kept in the data directory (readable by its owner only) so keyed install ids stay the
# same across restarts. Deployments elsewhere set their own (docs/operations.md).
census_local_id_secret() {
  local file=$CENSUS_LOCAL_DIR/ingest-id-secret
  if [[ ! -s $file ]]; then
    mkdir -p "$CENSUS_LOCAL_DIR"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file.tmp" && mv "$file.tmp" "$file")
    census_say "generated CENSUS_INGEST_ID_SECRET in $file"
  fi
  cat "$file"
}
