#!/usr/bin/env bash
# Three replicas on one PostgreSQL schema behind a real HAProxy (ops/haproxy/skyport.cfg): scripts/replica_check.py
# says what it checks. Uses SKYPORT_TEST_POSTGRES_URL when set (the test command's cluster), else starts its own.
# Usage: scripts/replica-check.sh [PATH-TO-SKYPORT]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/skyport}
bash scripts/ensure-packages.sh haproxy postgresql >/dev/null
work=$(mktemp -d)
chmod 755 "$work"
own_pg=""
cleanup() { [ -z "$own_pg" ] || bash scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
if [ -z "${SKYPORT_TEST_POSTGRES_URL:-}" ]; then
  eval "$(bash scripts/postgres.sh start "$work/pg")"
  own_pg=1
fi
psql "${SKYPORT_TEST_POSTGRES_URL%%\?*}" -qc "DROP SCHEMA IF EXISTS replicas CASCADE" >/dev/null
python3 scripts/replica_check.py "$bin" "$SKYPORT_TEST_POSTGRES_URL" "$work" || {
  for r in r1 r2 r3; do echo "--- $r log (last lines)" >&2; tail -8 "$work/$r.log" >&2 || true; done
  exit 1
}
