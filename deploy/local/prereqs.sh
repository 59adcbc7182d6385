#!/usr/bin/env bash
# Installs the Debian packages the local stack and the tests need, if any is missing:
# a JDK and Maven (Kafka), PostgreSQL, curl, Python's venv, promtool (Prometheus rule tests), and
# Chromium (the dashboard's browser test drives the system browser; nothing is downloaded for it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v curl >/dev/null || missing+=(curl)
command -v psql >/dev/null || missing+=(postgresql-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
((${#missing[@]})) || exit 0

if [[ $(id -u) != 0 ]]; then
  census_die "missing Debian packages: ${missing[*]} (install them: sudo apt-get install ${missing[*]})"
fi
census_say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
