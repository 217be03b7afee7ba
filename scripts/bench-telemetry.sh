#!/usr/bin/env bash
# What metrics and tracing cost (issue 19), side by side on the same machine and run:
#   before     - SKYPORT_BENCH_BEFORE, a build from before the domain metrics and tracing (HTTP metrics only)
#   off        - this build, domain metrics on, tracing off (the default)
#   sampled1   - this build, tracing on, 1% of traces recorded (SKYPORT_TRACE_SAMPLE=0.01)
#   sampled100 - this build, tracing on, every trace recorded
# Tracing exports to scripts/otlp_receiver.py on loopback (it decodes every batch; it runs on the same cores).
# For each: the open-loop offer benchmark (scripts/bench-load.sh offers RATE SECONDS: achieved rate, p50/p99/p99.9,
# broker CPU and RSS) and GET /uws/jobs/{id} with wrk (2 threads, 16 connections, 20 s: requests/s, p50, p99).
# Then, because single 20 s wrk runs of one binary differ by up to ~10% here, GET /uws/jobs/{id} again for ROUNDS
# rounds (default 3), alternating before, off and sampled1 within each round.
# Usage: SKYPORT_BENCH_BEFORE=/path/to/old/skyport scripts/bench-telemetry.sh [RATE] [SECONDS]   (default 500 120)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500}; secs=${2:-120}
before=${SKYPORT_BENCH_BEFORE:?set SKYPORT_BENCH_BEFORE to a skyport binary built before issue 19}
venv="${SKYPORT_PYVO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/pyvo-venv}"
bash scripts/ensure-packages.sh wrk curl python3
bash scripts/build-release.sh >/dev/null  # the generators, and the build measured unless SKYPORT_BENCH_BIN names another
after=$(realpath "${SKYPORT_BENCH_BIN:-.build/release/skyport}")
work=$(mktemp -d); receiver=""; pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$receiver" ] && kill "$receiver" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
otlp=$(free_port)
"$venv/bin/python" scripts/otlp_receiver.py "$otlp" "$work/spans.jsonl" & receiver=$!

variant() { # NAME -> BIN and environment
  case "$1" in
    before) echo "$before" ;;
    off) echo "$after" ;;
    sampled1) echo "$after SKYPORT_OTLP_ENDPOINT=http://127.0.0.1:$otlp SKYPORT_TRACE_SAMPLE=0.01" ;;
    sampled100) echo "$after SKYPORT_OTLP_ENDPOINT=http://127.0.0.1:$otlp SKYPORT_TRACE_SAMPLE=1" ;;
  esac
}

uws_get() { # BIN [ENV...]: GET /uws/jobs/{id} with wrk against a fresh broker
  local bin=$1; shift
  local port; port=$(free_port); rm -f "$work/uws.sqlite"*
  env SKYPORT_RATE_LIMIT=0 SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 "$@" "$bin" serve --db "$work/uws.sqlite" --port "$port" --log-level warning >"$work/uws.log" 2>&1 &
  pid=$!
  until curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.01; done
  local job; job=$(curl -s -o /dev/null -w '%{redirect_url}' -X POST "http://127.0.0.1:$port/uws/jobs" -H 'Authorization: Bearer bench-user' \
    --data-urlencode 'request={"executable": {"kind": "tap-query", "query": "SELECT 1"}}')
  local out; out=$(wrk -t2 -c16 -d20s --latency -H "Authorization: Bearer bench-user" "$job")
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") requests/s, p50 $(awk '$1=="50%" {print $2}' <<<"$out"), p99 $(awk '$1=="99%" {print $2}' <<<"$out") $(grep -o 'Non-2xx.*' <<<"$out" || true)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

for name in before off sampled1 sampled100; do
  read -r -a v <<<"$(variant "$name")"
  bin=${v[0]}; envs=("${v[@]:1}")
  echo "== $name"
  echo "offers $rate/s for ${secs}s: $(env "${envs[@]}" SKYPORT_BENCH_BIN="$bin" bash scripts/bench-load.sh offers "$rate" "$secs" 2>/dev/null | grep -v '^#' | tail -1)"
  echo "GET /uws/jobs/{id}: $(uws_get "$bin" "${envs[@]}")"
done
for round in $(seq 1 "${ROUNDS:-3}"); do
  line="GET /uws/jobs/{id}, round $round:"
  for name in before off sampled1; do
    read -r -a v <<<"$(variant "$name")"
    line+=" $name $(uws_get "${v[0]}" "${v[@]:1}" | cut -d' ' -f1)"
  done
  echo "$line"
done
echo "spans received: $(wc -l <"$work/spans.jsonl" 2>/dev/null || echo 0)"
