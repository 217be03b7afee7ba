#!/usr/bin/env bash
# What signed-in scientists cost (issue 14): the same open-loop load of POST /requests (100 facilities, 64
# keep-alive connections, latency from each request's scheduled time) on a fresh release broker, once with
# SKYPORT_AUTH=open and once with SKYPORT_AUTH=oidc, every request carrying the same JWT access token from the test
# OpenID provider (idpyoidc, scripts/peers.sh start oidc; stopped again if this script started it). Its keys are
# fetched once; after that each request verifies the token's signature (ES256) and claims. The modes alternate
# (open, oidc, open, oidc) so that both see the same machine. Reports each run's line, the broker's CPU per request
# in each mode, their difference, and `skyport bench tokens`: the same validation timed in process, alone.
# Usage: scripts/bench-auth.sh [RATE] [SECONDS] [ROUNDS]      (defaults 300, 60 and 2)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-300}; secs=${2:-60}; rounds=${3:-2}
source scripts/bench-common.sh
generator=.build/release/skyport
[ -n "${SKYPORT_BENCH_BIN:-}" ] && bash scripts/build-release.sh >/dev/null
peer_env=$(bash scripts/peers.sh start oidc)
eval "$peer_env"
started_oidc=$([ -f "${SKYPORT_PEERS_STATE:-${TMPDIR:-/tmp}/skyport-peers/state}/oidc.started" ] && echo 1 || echo 0)
trap '[ "$started_oidc" = 1 ] && bash scripts/peers.sh stop oidc >/dev/null 2>&1; cleanup' EXIT
issuer=$SKYPORT_TEST_OIDC_ISSUER
curl -sf -X POST "$issuer/test/login" -d user=alice -d groups=/skao,/skao/users -d audience=skyport -d lifetime=3600 \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])' >"$work/token"
echo "token: $(wc -c <"$work/token") bytes, header $(cut -d. -f1 "$work/token" | base64 -d 2>/dev/null || true)"
python3 - >"$work/bodies.jsonl" <<'PY'
import json
for i in range(64):
    print(json.dumps({"executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},
                      "compute": {"cores": {"min": 1 + i % 4, "max": 4 + i % 4}, "memory": {"min": 1 + i % 8, "max": 8}},
                      "schedule": {"requested": {"duration": "PT1H"}}}))
PY
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
declare -A per_request=([open]=0 [oidc]=0)
"$generator" bench tokens --issuer "$issuer" --token-file "$work/token"
for mode in $(for _ in $(seq "$rounds"); do echo open oidc; done); do
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  rm -f "$work"/db.sqlite*
  token=$("$bin" operator add bench --db "$work/db.sqlite")
  start_broker SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 SKYPORT_AUTH=$mode SKYPORT_OIDC_ISSUER="$issuer" SKYPORT_OIDC_AUDIENCE=skyport
  python3 - "$base" "$token" <<'PY'
import http.client, sys, urllib.parse
sys.path.insert(0, "scripts"); import bench_facilities
u = urllib.parse.urlparse(sys.argv[1])
bench_facilities.register(http.client.HTTPConnection(u.hostname, u.port, timeout=30), sys.argv[2], 100, capacity=(256, 1024))
PY
  before=$(cpu); t0=$(date +%s.%N)
  line=$("$generator" bench load --url "$base/requests" --bodies "$work/bodies.jsonl" --rate "$rate" --duration "$secs" \
    --connections 64 --expect 303 --bearer-file "$work/token" --label "SKYPORT_AUTH=$mode at $rate/s for ${secs}s")
  after=$(cpu); t1=$(date +%s.%N)
  cores=$(python3 -c "print(f'{($after - $before) / $hz / ($t1 - $t0):.3f}')")
  us=$(python3 -c "print(($after - $before) / $hz / ($rate * $secs) * 1e6)")
  per_request[$mode]=$(python3 -c "print(${per_request[$mode]} + $us / $rounds)")
  echo "$line; broker CPU $cores cores, $(printf '%.0f' "$us") µs per request"
done
python3 -c "print(f'broker CPU per request, mean of $rounds runs: open {${per_request[open]}:.0f} µs, oidc {${per_request[oidc]}:.0f} µs, difference {${per_request[oidc]} - ${per_request[open]}:.0f} µs')"
