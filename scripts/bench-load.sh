#!/usr/bin/env bash
# Sustained open-loop load on POST /requests (issue 13): for each RATE, a fresh release broker on SQLite with 100
# facilities (scripts/bench_facilities.py) and the default offer lifetime (300 s, so that outstanding offers reach
# steady state only after 5 minutes) gets requests at exactly that rate for SECONDS (default 300) from
# `skyport bench load` (open loop: request i is sent at start + i/RATE, latency counts from that scheduled time,
# 64 keep-alive connections). Reports achieved rate, p50/p99/p99.9/max, failures, the broker's CPU (cores, averaged
# over the run), its RSS at the end, the bytes it had written to disk per request (/proc/PID/io write_bytes: the
# write-ahead log and the checkpoints into the file, less cancelled_write_bytes) and the database's size at the end.
# MIX: `offers` (every request can be offered), `no50` (half the requests ask for more cores than any facility
# allows: a NO set with 100 reasons each), `accept10` (the `offers` bodies, and every 10th request is followed by
# reading its offer set and accepting its first offer: the 100 facilities' UWS endpoint is then a stand-in on
# loopback, scripts/bench_uws_standin.py, that runs each job for HOLD seconds (default 3) and completes it; the reads
# and accepts are timed apart from the POST /requests line, on a second line, and the stand-in's counts follow).
# In `offers` and `no50` outstanding offers book the facilities' capacity within seconds, and most sets are NO from
# then on; `accept10` gives every facility ample capacity (ACCEPT_CAPACITY=small keeps the usual), so that every set
# has offers and every 10th is accepted. CAPACITY="CORES MEMORY" sets every facility's capacity in any mix (e.g.
# `CAPACITY="10000000 100000000" scripts/bench-load.sh offers`: every set has offers, and none is accepted).
# ACCEPT_EVERY=N follows every Nth request in `accept10` instead of every 10th (1: every set accepted, to profile the
# accept path).
# SKYPORT_BENCH_BIN runs that broker (an older build, which need not have `bench load`); the generator is always
# this checkout's release build.
# A run longer than the offer lifetime (300 s) also reports, on a line of its own, the requests scheduled after it:
# from then on offers expire as fast as they are made (the expiry sweep and, a day on, retention run at that rate
# too), which is the broker's steady state; STEADY_FROM=S moves that point.
# TIMELINE=PREFIX also writes PREFIX.MIX.RATE: per second of scheduled send time, the requests, p50, p99 and max (ms).
# Usage: scripts/bench-load.sh [MIX] [RATES] [SECONDS]     e.g. scripts/bench-load.sh offers "100 300 1000" 300
set -euo pipefail
cd "$(dirname "$0")/.."
mix=${1:-offers}; rates=${2:-"100 300 1000"}; secs=${3:-300}; hold=${HOLD:-3}
case "$mix" in offers|no50|accept10) ;; *) echo "unknown mix '$mix': use offers, no50 or accept10" >&2; exit 2 ;; esac
source scripts/bench-common.sh
generator=.build/release/skyport
[ -n "${SKYPORT_BENCH_BIN:-}" ] && bash scripts/build-release.sh >/dev/null
standin=""; endpoint=""; follow=()
if [ "$mix" = accept10 ]; then
  standin_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  endpoint="http://127.0.0.1:$standin_port/jobs"; follow=(--accept-every "${ACCEPT_EVERY:-10}")
fi
trap '[ -n "$standin" ] && kill "$standin" 2>/dev/null; cleanup' EXIT
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
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }  # the machine's busy ticks (user, nice, system, irq, softirq)
# What the broker made the kernel write to disk: less what was dropped before it reached the disk (a deleted
# temporary file's pages). Runs before 2026-12-06 counted those too.
# Printed with %.0f: mawk's %d stops at 2^31 - 1, and runs before 2026-12-07 that wrote more than 2 GiB reported that.
written() { awk '/^write_bytes/ {w = $2} /^cancelled_write_bytes/ {c = $2} END {printf "%.0f\n", w - c}' "/proc/$pid/io"; }
standin_cpu() { if [ -n "$standin" ]; then awk '{print $14 + $15}' "/proc/$standin/stat" 2>/dev/null || echo 0; else echo 0; fi; }
hz=$(getconf CLK_TCK)
for rate in $rates; do
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  [ -n "$standin" ] && { kill "$standin"; wait "$standin" 2>/dev/null || true; standin=""; }
  rm -f "$work"/db.sqlite*
  token=$("$bin" operator add bench --db "$work/db.sqlite")
  if [ "$mix" = accept10 ]; then
    python3 scripts/bench_uws_standin.py "$standin_port" "$hold" & standin=$!
    until curl -s -o /dev/null "http://127.0.0.1:$standin_port/report"; do sleep 0.05; done
    # Every accepted session is forwarded at once: room for all of a run's jobs (at most 4096, within the open files).
    start_broker SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 SKYPORT_FORWARD_CONCURRENCY=$(python3 -c "print(min(4096, int($rate * $secs / 10) + 64))")
  else
    start_broker SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0
  fi
  capacity="256 1024"
  [ "$mix" = accept10 ] && [ "${ACCEPT_CAPACITY:-}" != small ] && capacity="10000000 100000000"
  capacity=${CAPACITY:-$capacity}
  python3 - "$base" "$token" "$endpoint" $capacity <<'PY'
import http.client, sys, urllib.parse
sys.path.insert(0, "scripts"); import bench_facilities
u = urllib.parse.urlparse(sys.argv[1])
bench_facilities.register(http.client.HTTPConnection(u.hostname, u.port, timeout=30), sys.argv[2], 100, endpoint=sys.argv[3] or None,
                          capacity=(int(sys.argv[4]), int(sys.argv[5])))
PY
  before=$(cpu); busy0=$(busy); sb0=$(standin_cpu); io0=$(written); t0=$(date +%s.%N)
  lines=$("$generator" bench load --url "$base/requests" --bodies "$work/bodies.jsonl" --rate "$rate" --duration "$secs" \
    --connections 64 --expect 303 --label "$mix at $rate/s for ${secs}s" ${follow[@]+"${follow[@]}"} \
    ${TIMELINE:+--timeline "$TIMELINE.$mix.$rate"} $( [ "$secs" -gt "${STEADY_FROM:-300}" ] && echo --steady-from "${STEADY_FROM:-300}" ))
  after=$(cpu); busy1=$(busy); sb1=$(standin_cpu); io1=$(written); t1=$(date +%s.%N)
  disk="$(( (io1 - io0) / (rate * secs) / 1000 )) KB written to disk per request, database $(du -cm "$work"/db.sqlite* | awk 'END {print $1}') MiB"
  rss=$(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")
  cores=$(python3 -c "print(f'{($after - $before) / $hz / ($t1 - $t0):.2f}')")
  machine=$(python3 -c "print(f'{($busy1 - $busy0) / $hz / ($t1 - $t0):.2f}')")
  others=""; [ -n "$standin" ] && others=", stand-in $(python3 -c "print(f'{($sb1 - $sb0) / $hz / ($t1 - $t0):.2f}')")"
  echo "$(head -n 1 <<<"$lines"); broker CPU $cores cores, RSS $rss; machine busy $machine of $(nproc) cores$others; $disk"
  tail -n +2 <<<"$lines"
  if [ -n "$standin" ]; then
    sleep "$(python3 -c "print($hold * 1.3 + 5)")"  # the last accepted jobs run out
    curl -s "http://127.0.0.1:$standin_port/report" | python3 -c "
import json, sys; d = json.load(sys.stdin)
print(f'stand-in UWS ({sys.argv[1]} s hold): {d[\"jobs\"]} jobs created, {d[\"done\"]} completed')" "$hold"
    echo "broker: $(grep -c 'forwarding step failed' "$work/log" || true) forwarding steps failed and were retried"
  fi
done
