#!/usr/bin/env bash
# Benchmark of the web pages (issue 17: every page under 100 KB, rendered in under 10 ms with 1,000 facilities) on a
# release build: registers N facilities (default 1000; a quarter run TAP queries, the rest are rejected with a reason),
# makes an offer set and a session, then sends each page open loop (`skyport bench load`: requests at a fixed rate,
# latency from the scheduled send time) for SECONDS, and reports the page's size, p50/p99 latency and the RSS.
# Loopback only; bounded in time.
# Usage: scripts/bench-ui.sh [N] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; rate=${2:-100}; secs=${3:-60}
source scripts/bench-common.sh
# The generator is always this checkout's release build (SKYPORT_BENCH_BIN may be a build without `bench load`).
generator=.build/release/skyport
[ -n "${SKYPORT_BENCH_BIN:-}" ] && bash scripts/build-release.sh >/dev/null
start_broker SKYPORT_HEALTH_PERIOD=0
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }

python3 - "$base" "$token" "$n" <<'PY'
import json, sys, urllib.request
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kinds = ["tap-query", "jupyter-notebook", "binder-notebook", "docker-container"]
for i in range(n):
    doc = {"id": f"ivo://bench.example/facility-{i:05d}", "name": f"Facility {i}",
           "description": f"Benchmark facility number {i}, one of {n}",
           "endpoints": [{"kind": "uws", "url": f"http://127.0.0.1:1/f{i}/async"}],
           "accepts": [kinds[i % 4]],
           "limits": {"cores": 4 + i % 60, "memory": 8 + i % 120, "duration": "PT12H"},
           "capacity": {"cores": 64 + i % 60, "memory": 256 + i % 120},
           "data": {"rses": [f"RSE_{i % 37}"]}}
    req = urllib.request.Request(base + "/facilities", data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    urllib.request.urlopen(req).read()
PY
# An offer set (a quarter of the facilities offer, the rest are rejected) and its first offer accepted, so that
# the offer page has its reasons, the session page its facts, and the facility page something holding it.
set_url=$(curl -s -o /dev/null -w '%{redirect_url}' -X POST "$base/requests" -H 'Content-Type: application/json' \
  -d '{"executable": {"kind": "tap-query", "query": "SELECT 1"}, "compute": {"cores": {"min": 2}}}')
session=$(curl -s "$set_url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["offers"][0]["meta"]["uuid"])')
curl -s -o /dev/null -X POST "$base/sessions/$session" -H 'Content-Type: application/json' \
  -d '{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}'
offerset=${set_url##*/}
facility=$(curl -s "$base/sessions/$session" | python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.load(sys.stdin)["facility"]["id"], safe=""))')
echo "$n facilities; RSS $(rss)"

page() { # LABEL PATH
  local size; size=$(curl -s -o /dev/null -w '%{size_download}' "$base$2")
  local out; out=$("$generator" bench load --method GET --url "$base$2" --rate "$rate" --duration "$secs" --connections 16 --expect 200 --label "$1")
  echo "$out, page $((size / 1024)) KiB ($size bytes)"
}
page "GET /ui/ (ask)" "/ui/"
page "GET /ui/facilities ($n, first page)" "/ui/facilities"
page "GET /ui/facilities?q=facility-00&kind=tap-query&page=2" "/ui/facilities?q=facility-00&kind=tap-query&page=2"
page "GET /ui/facilities/{id} (with its capacity picture)" "/ui/facilities/$facility"
page "GET /ui/offersets/{id} ($n facilities' answers)" "/ui/offersets/$offerset"
page "GET /ui/sessions/{id}" "/ui/sessions/$session"
# The API's documents of the same offer set and session, for comparison: what reading them costs before any HTML.
page "GET /offersets/{id} (API, JSON)" "/offersets/$offerset"
page "GET /sessions/{id} (API, JSON)" "/sessions/$session"
echo "RSS after the pages: $(rss)"
