#!/usr/bin/env bash
# `make demo`: with the stack up, drive a simulated fleet and show what an analyst sees.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
eval "$("$CENSUS_ROOT/deploy/local/stack.sh" env)"
census=$CENSUS_ROOT/.venv/bin/census
truth=$CENSUS_LOCAL_DIR/demo-truth.jsonl
seconds=${CENSUS_DEMO_SECONDS:-60}
installs=${CENSUS_DEMO_INSTALLS:-3000}
history_days=${CENSUS_DEMO_HISTORY_DAYS:-60}

for port in "${CENSUS_INGEST_OPS_PORT:-9101}" "${CENSUS_AGGREGATOR_OPS_PORT:-9102}"; do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || census_die "a service on ops port $port is not ready; see make status"
done

# Every ping counted so far, on any day (the owner's DSN: a plain sum over the analyst view).
counted_all() {
  psql -X -tA "$CENSUS_PG_DSN" -c "SELECT coalesce(sum(pings), 0) FROM active_installs_daily"
}

# History first, so every chart has a trend: the same fleet's past days, produced by the simulator
# straight to Kafka with back-dated receive times (ingest never takes a client's clock), counted
# by the aggregator like live pings. Skipped when this database already holds past days.
past=$(psql -X -tA "$CENSUS_PG_DSN" -c "SELECT count(*) FROM dau_wau_mau WHERE day < current_date")
if ((history_days > 0 && past == 0)); then
  echo "Filling ${history_days} days of history through Kafka and the aggregator..."
  before=$(counted_all)
  out=$("$census" fleet --history-days "$history_days" --installs "$installs") || census_die "census fleet --history-days failed"
  produced=$(awk '/^history:/ {print $2}' <<<"$out")
  deadline=$((SECONDS + 600))
  until (($(counted_all) - before >= produced)); do
    ((SECONDS < deadline)) || { echo "history: only $(($(counted_all) - before)) of $produced records counted after 600s" >&2; break; }
    sleep 1
  done
  echo "history: $produced records produced, $(($(counted_all) - before)) counted."
fi
live_before=$(counted_all)

echo "Sending pings from a simulated fleet for ${seconds}s (census fleet --help for the knobs)..."
"$census" fleet --url "$CENSUS_INGEST_URL" --installs "$installs" \
  --rate "${CENSUS_DEMO_RATE:-400}" --concurrency 32 --duration "$seconds" --truth "$truth" || true
acked=$(wc -l <"$truth")

# The aggregator flushes at least every second; wait until every acknowledged ping is counted.
counted() { echo $(($(counted_all) - live_before)); }
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
echo "Dashboard (${history_days} days of history, then the live fleet): $CENSUS_DASHBOARD_URL/"
echo "The stack keeps running (make status); stop it with: make down"
