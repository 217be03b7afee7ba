#!/usr/bin/env bash
# Load benchmark of the facility registry on a release build: registers N facilities (default 1000),
# then runs wrk against GET /facilities/{id} and GET /facilities, and reports requests/s, p50/p99
# latency, start-up time and resident memory. Loopback only; bounded in time.
# Usage: scripts/bench-facilities.sh [N] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; secs=${2:-10}
source scripts/bench-common.sh

t0=$(date +%s.%N)
start_broker
t1=$(date +%s.%N)
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
echo "start-up to first /health answer: $(python3 -c "print(f'{($t1-$t0)*1000:.0f} ms')")"
echo "idle RSS (empty store): $(rss)"

python3 - "$base" "$token" "$n" <<'PY'
import json, sys, urllib.request
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kinds = ["tap-query", "jupyter-notebook", "binder-notebook", "docker-container"]
for i in range(n):
    doc = {"id": f"ivo://bench.example/facility-{i:05d}", "name": f"Facility {i}",
           "endpoints": [{"kind": "uws", "url": f"http://127.0.0.1:1/f{i}/async"}],
           "accepts": [kinds[i % 4], kinds[(i + 1) % 4]],
           "limits": {"cores": 4 + i % 60, "memory": 8 + i % 120, "duration": "PT12H"},
           "capacity": {"cores": 64 + i % 60, "memory": 256 + i % 120},
           "data": {"rses": [f"RSE_{i % 37}"]}}
    req = urllib.request.Request(base + "/facilities", data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    urllib.request.urlopen(req).read()
PY
echo "RSS with $n facilities: $(rss)"

run() { # LABEL URL
  local out; out=$(wrk -t2 -c64 -d"${secs}s" --latency "$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errs; errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  echo "$1: ${rps} requests/s, p50 ${p50}, p99 ${p99} ${errs:+($errs)}"
}
run "GET /facilities/{id}" "$base/facilities/ivo%3A%2F%2Fbench.example%2Ffacility-00500"
echo "RSS after single GETs: $(rss)"
run "GET /facilities ($n)" "$base/facilities"
run "GET /facilities?accepts=tap-query" "$base/facilities?accepts=tap-query"
echo "RSS after list GETs: $(rss)"
