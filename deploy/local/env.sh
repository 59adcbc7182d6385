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
CENSUS_PG_PORT=${CENSUS_PG_PORT:-55432}
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

# Wait until no process has pid $1, at most $2 seconds.
census_wait_gone() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.2
  done
}
