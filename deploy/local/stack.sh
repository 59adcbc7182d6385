#!/usr/bin/env bash
# The whole local stack: Kafka, PostgreSQL and the Census services that exist in this checkout.
# usage: stack.sh up|down|status|env
set -uo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
source "$here/env.sh"

# Services start in this order and stop in the reverse one; a service whose module is not in this
# checkout yet is skipped.
services=(ingest aggregate retention dashboard)
declare -A modules=([ingest]=services.ingest.main [aggregate]=services.aggregator.main [retention]=services.retention.main [dashboard]=services.dashboard.main)

present() { [[ -f $CENSUS_ROOT/${modules[$1]//.//}.py ]]; }

env_lines() {
  cat <<ENV
export CENSUS_KAFKA_BOOTSTRAP=127.0.0.1:$CENSUS_KAFKA_PORT
export CENSUS_PG_DSN=postgresql://$CENSUS_PG_SUPERUSER@127.0.0.1:$CENSUS_PG_PORT/$CENSUS_PG_DATABASE
export CENSUS_PG_ANALYST_DSN=postgresql://census_analyst@127.0.0.1:$CENSUS_PG_PORT/$CENSUS_PG_DATABASE
export CENSUS_INGEST_URL=http://127.0.0.1:${CENSUS_INGEST_PORT:-8080}
# The dashboard reads as the read-only analyst role, never as the owner.
export CENSUS_DASHBOARD_PG_DSN=postgresql://census_analyst@127.0.0.1:$CENSUS_PG_PORT/$CENSUS_PG_DATABASE
export CENSUS_DASHBOARD_URL=http://127.0.0.1:${CENSUS_DASHBOARD_PORT:-8081}
# The simulated fleet of the demo sends from one address; a real fleet has many.
export CENSUS_INGEST_RATE_PER_S=${CENSUS_INGEST_RATE_PER_S:-0}
ENV
}

case ${1:-} in
  up)
    "$here/postgres.sh" start || exit 1
    "$here/kafka.sh" start || exit 1
    eval "$(env_lines)"
    if [[ -x $CENSUS_ROOT/.venv/bin/census ]]; then
      "$CENSUS_ROOT/.venv/bin/census" migrate || exit 1
    fi
    for s in "${services[@]}"; do
      if present "$s"; then "$here/service.sh" start "$s" || exit 1; fi
    done
    ;;
  down)
    rc=0
    for ((i = ${#services[@]} - 1; i >= 0; i--)); do "$here/service.sh" stop "${services[i]}" || rc=1; done
    "$here/kafka.sh" stop || rc=1
    "$here/postgres.sh" stop || rc=1
    exit $rc
    ;;
  status)
    "$here/postgres.sh" status
    "$here/kafka.sh" status
    for s in "${services[@]}"; do present "$s" && "$here/service.sh" status "$s"; done
    true
    ;;
  env) env_lines ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
