#!/usr/bin/env bash
# The determinism check of the test suite: runs the README's test command N times in a row (default 3) while
# stress-ng keeps every core busy, and stops at the first failure. Not part of the test command (it takes a
# while); run it after changing tests or anything they wait on.
# Usage: scripts/stress-tests.sh [N]
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-3}
bash scripts/ensure-packages.sh stress-ng >/dev/null
logs=$(mktemp -d)
stress-ng --cpu "$(nproc)" --timeout 3h --quiet &
load=$!
trap 'kill $load 2>/dev/null' EXIT
for i in $(seq 1 "$n"); do
  started=$(date +%s)
  CI=true bash scripts/test.sh >"$logs/run$i.log" 2>&1
  rc=$?
  echo "run $i: exit $rc in $(( $(date +%s) - started )) s; $(grep -E '^(✔|✘) Test run with' "$logs/run$i.log" | tail -1); $(grep '^smoke:' "$logs/run$i.log" | tail -1) (log: $logs/run$i.log)"
  [ $rc -ne 0 ] && exit $rc
done
