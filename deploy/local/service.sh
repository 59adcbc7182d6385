#!/usr/bin/env bash
# Runs one Census service of the local stack in the background.
# usage: service.sh start|stop|status NAME   (NAME: ingest, aggregate, retention, dashboard)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

action=${1:-}; name=${2:-}
[[ -n $name ]] || { echo "usage: $0 start|stop|status NAME" >&2; exit 2; }
census=$CENSUS_ROOT/.venv/bin/census
dir=$CENSUS_LOCAL_DIR/services
pidfile=$dir/$name.pid
logfile=$dir/$name.log
case $name in
  ingest) ops_port=${CENSUS_INGEST_OPS_PORT:-9101} ;;
  aggregate) ops_port=${CENSUS_AGGREGATOR_OPS_PORT:-9102} ;;
  retention) ops_port=${CENSUS_RETENTION_OPS_PORT:-9103} ;;
  dashboard) ops_port=${CENSUS_DASHBOARD_OPS_PORT:-9104} ;;
  *) census_die "unknown service '$name' (ingest, aggregate, retention, dashboard)" ;;
esac

running_pid() { census_pidfile_alive "$pidfile" "$census $name"; }

ready() { curl -fs -o /dev/null "http://127.0.0.1:$ops_port/readyz"; }

start() {
  if pid=$(running_pid); then census_say "$name already running (pid $pid)"; return 0; fi
  [[ -x $census ]] || census_die "$census not found: run 'make install' first"
  mkdir -p "$dir"
  # The connection settings of the local stack, unless the caller set its own.
  eval "$("$CENSUS_ROOT/deploy/local/stack.sh" env)"
  if [[ $name == ingest && -z ${CENSUS_INGEST_ID_SECRET:-} ]]; then
    CENSUS_INGEST_ID_SECRET=$(census_local_id_secret) || exit 1
    export CENSUS_INGEST_ID_SECRET
  fi
  setsid nohup "$census" "$name" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  census_say "starting $name (pid $(<"$pidfile")), log $logfile"
  if ! census_wait_for "$name" ready; then
    tail -n 20 "$logfile" >&2
    stop
    exit 1
  fi
  census_say "$name ready (ops http://127.0.0.1:$ops_port/metrics)"
}

stop() {
  local pid
  if ! pid=$(running_pid); then rm -f "$pidfile"; return 0; fi
  census_say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! census_wait_gone "$pid" 30; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
}

status() {
  if pid=$(running_pid); then echo "$name: running (pid $pid), ops port $ops_port"; else echo "$name: stopped"; return 1; fi
}

case $action in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status NAME" >&2; exit 2 ;;
esac
