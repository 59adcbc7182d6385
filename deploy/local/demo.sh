#!/usr/bin/env bash
# `make demo`: with the stack up, drive a simulated fleet and show what an analyst sees.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
eval "$("$CENSUS_ROOT/deploy/local/stack.sh" env)"
census=$CENSUS_ROOT/.venv/bin/census
truth=$CENSUS_LOCAL_DIR/demo-truth.jsonl
seconds=${CENSUS_DEMO_SECONDS:-60}

for port in "${CENSUS_INGEST_OPS_PORT:-9101}" "${CENSUS_AGGREGATOR_OPS_PORT:-9102}"; do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || census_die "a service on ops port $port is not ready; see make status"
done

echo "Sending pings from a simulated fleet for ${seconds}s (census fleet --help for the knobs)..."
"$census" fleet --url "$CENSUS_INGEST_URL" --installs "${CENSUS_DEMO_INSTALLS:-3000}" \
  --rate "${CENSUS_DEMO_RATE:-400}" --concurrency 32 --duration "$seconds" --truth "$truth" || true
acked=$(wc -l <"$truth")

# The aggregator flushes at least every second; wait until every acknowledged ping is counted.
counted() {
  psql -X -tA "$CENSUS_PG_ANALYST_DSN" -c \
    "SELECT coalesce(sum(pings), 0) FROM active_installs_daily WHERE day >= current_date - 1"
}
deadline=$((SECONDS + 60))
until (($(counted) >= acked)); do
  ((SECONDS < deadline)) || { echo "only $(counted) of $acked pings are visible after 60s" >&2; break; }
  sleep 0.5
done
echo "$acked pings acknowledged by ingest; $(counted) counted in active_installs_daily."

"$CENSUS_ROOT/deploy/local/report.sh"
echo
"$CENSUS_ROOT/deploy/local/stack.sh" status
echo
echo "The stack keeps running (make status); stop it with: make down"
