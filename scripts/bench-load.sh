#!/usr/bin/env bash
# Sustained open-loop load on POST /requests (issue 13): for each RATE, a fresh release broker on SQLite with 100
# facilities (scripts/bench_facilities.py) and the default offer lifetime (300 s, so that outstanding offers reach
# steady state only after 5 minutes) gets requests at exactly that rate for SECONDS (default 300) from
# `skyport bench load` (open loop: request i is sent at start + i/RATE, latency counts from that scheduled time,
# 64 keep-alive connections). Reports achieved rate, p50/p99/p99.9/max, failures, the broker's CPU (cores, averaged
# over the run) and its RSS at the end.
# MIX: `offers` (every request can be offered), `no50` (half the requests ask for more cores than any facility
# allows: a NO set with 100 reasons each).
# Usage: scripts/bench-load.sh [MIX] [RATES] [SECONDS]     e.g. scripts/bench-load.sh offers "100 300 1000" 300
set -euo pipefail
cd "$(dirname "$0")/.."
mix=${1:-offers}; rates=${2:-"100 300 1000"}; secs=${3:-300}
source scripts/bench-common.sh
python3 - "$mix" >"$work/bodies.jsonl" <<'PY'
import json, sys
mix = sys.argv[1]
executables = [{"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},
               {"kind": "docker-container", "image": {"locations": ["registry.example.org/astro/tool:1.0"]}},
               {"kind": "tap-query", "query": "SELECT TOP 10 * FROM ivoa.obscore"},
               {"kind": "binder-notebook", "repository": "https://github.com/example/analysis"}]
for i in range(64):
    no = mix == "no50" and i % 2 == 1
    cores = {"min": 64, "max": 64} if no else {"min": 1 + i % 4, "max": 4 + i % 4}
    print(json.dumps({"executable": executables[i % 4], "compute": {"cores": cores, "memory": {"min": 1 + i % 8, "max": 8}},
                      "schedule": {"requested": {"duration": "PT1H"}}}))
PY
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
for rate in $rates; do
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  rm -f "$work"/db.sqlite*
  token=$("$bin" operator add bench --db "$work/db.sqlite")
  start_broker SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0
  python3 - "$base" "$token" <<'PY'
import http.client, sys, urllib.parse
sys.path.insert(0, "scripts"); import bench_facilities
u = urllib.parse.urlparse(sys.argv[1])
bench_facilities.register(http.client.HTTPConnection(u.hostname, u.port, timeout=30), sys.argv[2], 100)
PY
  before=$(cpu); t0=$(date +%s.%N)
  line=$("$bin" bench load --url "$base/requests" --bodies "$work/bodies.jsonl" --rate "$rate" --duration "$secs" \
    --connections 64 --expect 303 --label "$mix at $rate/s for ${secs}s")
  after=$(cpu); t1=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")
  cores=$(python3 -c "print(f'{($after - $before) / $hz / ($t1 - $t0):.2f}')")
  echo "$line; broker CPU $cores cores, RSS $rss"
done
