#!/usr/bin/env bash
# Offer requests per second with p99 under 20 ms (issue 16), sustained and open loop (`skyport bench load`: request i
# is sent at start + i/RATE, latency counts from that scheduled time), for three set-ups on this machine:
#   sqlite1   one replica on SQLite (the embedded default)
#   pg1       one replica on PostgreSQL (a durable throwaway cluster: fsync on, as in production)
#   pg3       three replicas on that PostgreSQL behind HAProxy (ops/haproxy/skyport.cfg)
# Each run starts from an empty store with 100 facilities (scripts/bench_facilities.py) and an offer lifetime of
# LIFETIME seconds (default 60), so outstanding offers reach steady state within the first minute of a SECONDS-long
# run (default 180). DURABLE=0 turns fsync off in the cluster. Reports, per set-up and rate, the generator's line (achieved rate, p50/p99/p99.9/max, failures)
# and the CPU every process used (cores, averaged over the run).
# Usage: scripts/bench-replicas.sh [SETUPS] [RATES] [SECONDS]   e.g. scripts/bench-replicas.sh "sqlite1 pg1 pg3" "100 300" 180
set -euo pipefail
cd "$(dirname "$0")/.."
setups=${1:-"sqlite1 pg1 pg3"}; rates=${2:-"100 300"}; secs=${3:-180}; lifetime=${LIFETIME:-60}
bash scripts/ensure-packages.sh haproxy postgresql wrk curl python3 >/dev/null
bash scripts/build-release.sh >/dev/null  # the generator, and the broker unless SKYPORT_BENCH_BIN names another build
generator=$PWD/.build/release/skyport
bin=${SKYPORT_BENCH_BIN:-$generator}
work=$(mktemp -d); chmod 755 "$work"
pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; pids=(); }
cleanup() { stop_all; bash scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
# DURABLE=0 runs the cluster without fsync (what a commit costs without the disk: to see what limits the rate).
eval "$(bash scripts/postgres.sh start "$work/pg" $([ "${DURABLE:-1}" = 0 ] || echo --durable))"
pg=$SKYPORT_TEST_POSTGRES_URL
head -c 32 /dev/urandom >"$work/key"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export SKYPORT_EGRESS_ALLOW=127.0.0.1 SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 SKYPORT_RATE_LIMIT=0 \
  SKYPORT_OFFER_LIFETIME=$lifetime SKYPORT_SECRET_KEY=$work/key SKYPORT_LOG_LEVEL=warning
python3 - >"$work/bodies.jsonl" <<'PY'
import json
executables = [{"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},
               {"kind": "docker-container", "image": {"locations": ["registry.example.org/astro/tool:1.0"]}},
               {"kind": "tap-query", "query": "SELECT TOP 10 * FROM ivoa.obscore"},
               {"kind": "binder-notebook", "repository": "https://github.com/example/analysis"}]
for i in range(64):
    print(json.dumps({"executable": executables[i % 4], "compute": {"cores": {"min": 1 + i % 4, "max": 4 + i % 4}, "memory": {"min": 1 + i % 8, "max": 8}},
                      "schedule": {"requested": {"duration": "PT1H"}}}))
PY
hz=$(getconf CLK_TCK)
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }   # the machine's busy ticks (user, nice, system, irq, softirq)
wait_up() { for _ in $(seq 1 600); do curl -sf "$1/health" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "$1 did not come up in 30 s" >&2; exit 1; }

for setup in $setups; do
  for rate in $rates; do
    stop_all
    brokers=()
    case "$setup" in
      sqlite1) db="$work/db-$rate.sqlite"; n=1 ;;
      pg1|pg3) db="$pg&schema=bench"; psql "${pg%%\?*}" -qc "DROP SCHEMA IF EXISTS bench CASCADE" 2>/dev/null; n=${setup#pg} ;;
      *) echo "unknown set-up $setup: sqlite1, pg1 or pg3" >&2; exit 2 ;;
    esac
    token=$("$bin" operator add bench --db "$db")
    ports=()
    for i in $(seq 1 "$n"); do
      p=$(free_port); ports+=("$p")
      SKYPORT_REPLICA_ID="r$i" "$bin" serve --db "$db" --port "$p" >"$work/r$i.log" 2>&1 & pids+=($!); brokers+=($!)
      wait_up "http://127.0.0.1:$p"
    done
    base="http://127.0.0.1:${ports[0]}"
    if [ "$n" = 3 ]; then
      lb=$(free_port)
      SKYPORT_LB_ADDRESS=127.0.0.1:$lb SKYPORT_REPLICA_1=127.0.0.1:${ports[0]} SKYPORT_REPLICA_2=127.0.0.1:${ports[1]} \
        SKYPORT_REPLICA_3=127.0.0.1:${ports[2]} haproxy -q -f ops/haproxy/skyport.cfg & pids+=($!)
      base="http://127.0.0.1:$lb"; wait_up "$base"; sleep 1.5
    fi
    python3 - "$base" "$token" <<'PY'
import http.client, sys, urllib.parse
sys.path.insert(0, "scripts"); import bench_facilities
u = urllib.parse.urlparse(sys.argv[1])
bench_facilities.register(http.client.HTTPConnection(u.hostname, u.port, timeout=30), sys.argv[2], 100, capacity=(256, 1024))
PY
    b0=$(ticks "${brokers[@]}"); m0=$(busy); t0=$(date +%s.%N)
    line=$("$generator" bench load --url "$base/requests" --bodies "$work/bodies.jsonl" --rate "$rate" --duration "$secs" \
      --connections 64 --expect 303 --label "$setup at $rate/s for ${secs}s" | head -n 1)
    b1=$(ticks "${brokers[@]}"); m1=$(busy); t1=$(date +%s.%N)
    echo "$line; CPU: brokers $(python3 -c "print(f'{($b1 - $b0) / $hz / ($t1 - $t0):.2f}')") cores, machine (brokers, PostgreSQL, HAProxy, generator) $(python3 -c "print(f'{($m1 - $m0) / $hz / ($t1 - $t0):.2f}')") of 2"
  done
done
