#!/usr/bin/env bash
# Skyport's GET /uws/jobs/{id} throughput beside the same operation on django-uws (its job document), on this
# machine, with wrk (2 threads, 16 connections, 10 s). django-uws must be running (scripts/peers.sh start django-uws).
# Usage: scripts/bench-uws.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-common.sh
eval "$(bash scripts/peers.sh start django-uws)"
# Stop django-uws at exit if this run started it (peers.sh stops only what it started), then the common cleanup.
trap 'bash scripts/peers.sh stop django-uws >/dev/null 2>&1 || true; cleanup' EXIT
start_broker
job=$(curl -s -o /dev/null -w '%{redirect_url}' -X POST "$base/uws/jobs" -H 'Authorization: Bearer bench-user' \
  --data-urlencode 'request={"executable": {"kind": "tap-query", "query": "SELECT 1"}}')
run() { # LABEL URL AUTH
  out=$(wrk -t2 -c16 -d10s --latency -H "Authorization: $3" "$2")
  echo "$1: $(awk '/Requests\/sec/ {print $2}' <<<"$out") requests/s, p50 $(awk '$1=="50%" {print $2}' <<<"$out"), p99 $(awk '$1=="99%" {print $2}' <<<"$out") $(grep -o 'Non-2xx.*' <<<"$out" || true)"
}
run "Skyport GET /uws/jobs/{id} (XML)" "$job" "Bearer bench-user"
basic="Basic $(printf '%s:%s' "$SKYPORT_TEST_DJANGO_UWS_USER" "$SKYPORT_TEST_DJANGO_UWS_PASSWORD" | base64)"
djob=$(curl -s -u "$SKYPORT_TEST_DJANGO_UWS_USER:$SKYPORT_TEST_DJANGO_UWS_PASSWORD" -H 'Content-Type: application/json' \
  -d '{"runId": "bench", "parameters": [{"key": "type", "value": "echo"}]}' "$SKYPORT_TEST_DJANGO_UWS_URL" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
run "django-uws GET /uws/jobs/{id}/ (JSON, Django runserver)" "$djob" "$basic"
