#!/usr/bin/env bash
# What an analyst sees: a few queries on the analyst views, run as the census_analyst role.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# The local stack's connection settings, unless the caller names a database of its own.
[[ -n ${CENSUS_PG_ANALYST_DSN:-} ]] || eval "$("$CENSUS_ROOT/deploy/local/stack.sh" env)"

q() {
  echo
  echo "== $1"
  psql -X -q -v ON_ERROR_STOP=1 -P pager=off -P footer=off "$CENSUS_PG_ANALYST_DSN" -c "$2"
}

q "Active installs today: DAU / WAU / MAU per product (dau_wau_mau)" "
SELECT product, dau, wau, mau FROM dau_wau_mau
 WHERE day = (SELECT max(day) FROM dau_wau_mau) ORDER BY dau DESC"

q "Top three versions per product today (active_installs_daily)" "
SELECT product, version, installs, pct FROM (
  SELECT product, version, sum(installs) AS installs,
         round(100.0 * sum(installs) / sum(sum(installs)) OVER (PARTITION BY product), 1) AS pct,
         row_number() OVER (PARTITION BY product ORDER BY sum(installs) DESC) AS rank
    FROM active_installs_daily WHERE day = (SELECT max(day) FROM active_installs_daily)
   GROUP BY product, version) ranked
 WHERE rank <= 3 ORDER BY product, installs DESC"

q "Platforms today" "
SELECT platform, arch, sum(installs) AS installs FROM active_installs_daily
 WHERE day = (SELECT max(day) FROM active_installs_daily)
 GROUP BY platform, arch ORDER BY installs DESC LIMIT 8"

q "Feature adoption today, Pulse (feature_adoption)" "
SELECT attr, value, installs, round(100 * share, 1) AS pct FROM feature_adoption
 WHERE product = 'pulse' AND day = (SELECT max(day) FROM feature_adoption)
   AND value = 'true' ORDER BY share DESC LIMIT 8"

q "Install failure rate per Proxmox script today (event_outcomes)" "
SELECT dimensions->>'nsapp' AS script,
       sum(events) AS runs,
       sum(events) FILTER (WHERE dimensions->>'status' = 'failed') AS failed,
       round(100.0 * sum(events) FILTER (WHERE dimensions->>'status' = 'failed') / sum(events), 1) AS failure_pct
  FROM event_outcomes
 WHERE product = 'proxmox-scripts' AND event = 'install' AND day = (SELECT max(day) FROM event_outcomes)
 GROUP BY 1 ORDER BY runs DESC LIMIT 10"

q "Count distributions today, Pulse VMs (count_distributions)" "
SELECT count_key, installs, sum, min, max,
       round(p50::numeric, 1) AS p50, round(p90::numeric, 1) AS p90, round(p99::numeric, 1) AS p99
  FROM count_distributions
 WHERE product = 'pulse' AND count_key IN ('vms', 'containers', 'pve_nodes')
   AND day = (SELECT max(day) FROM count_distributions)"

cat <<TXT

Metrics: ingest http://127.0.0.1:${CENSUS_INGEST_OPS_PORT:-9101}/metrics, aggregator http://127.0.0.1:${CENSUS_AGGREGATOR_OPS_PORT:-9102}/metrics, retention http://127.0.0.1:${CENSUS_RETENTION_OPS_PORT:-9103}/metrics
More queries: docs/analysts.md; a psql prompt as the analyst role: make psql
TXT
