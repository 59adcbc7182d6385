#!/usr/bin/env bash
# `make demo`: with the stack up, drive a simulated fleet and show what an analyst sees.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
eval "$("$CENSUS_ROOT/deploy/local/stack.sh" env)"
census=$CENSUS_ROOT/.venv/bin/census

if "$census" fleet --help >/dev/null 2>&1 && curl -fsS -o /dev/null "http://127.0.0.1:${CENSUS_INGEST_OPS_PORT:-9101}/readyz"; then
  "$census" fleet --url "$CENSUS_INGEST_URL" --duration "${CENSUS_DEMO_SECONDS:-60}"
  if [[ -x $CENSUS_ROOT/deploy/local/report.sh ]]; then "$CENSUS_ROOT/deploy/local/report.sh"; fi
else
  echo
  echo "The fleet simulator and the services are not all part of this build yet;"
  echo "the stack is up and the schema is applied:"
fi
echo
"$CENSUS_ROOT/deploy/local/stack.sh" status
cat <<TXT

PostgreSQL: $CENSUS_PG_DSN   (make psql: the analyst role)
Kafka:      $CENSUS_KAFKA_BOOTSTRAP
Tables:     $(psql -X -tA "$CENSUS_PG_DSN" -c "SELECT string_agg(table_name, ', ' ORDER BY table_name) FROM census_partitioned_tables")
The stack keeps running; stop it with: make down
TXT
