#!/usr/bin/env bash
# Tracking benchmark on a release build: N jobs (default 2000) forwarded to a local UWS stand-in that holds each
# job EXECUTING for HOLD seconds (default 30, with jitter), honours WAIT, and filters its job list by PHASE (so the
# broker follows the jobs by reading the list: SKYPORT_TRACK_LIST_MINIMUM). Reports the broker's CPU and RSS while
# it tracks them, how soon after each remote phase change the session shows it (polled), and how soon the
# session's callback reaches the stand-in. Loopback only; bounded in count and time.
# Usage: scripts/bench-tracking.sh [N] [HOLD]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}; hold=${2:-30}
source scripts/bench-common.sh
standin_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 scripts/bench_uws_standin.py "$standin_port" "$hold" &
standin=$!
trap 'kill $standin 2>/dev/null; cleanup' EXIT
# Up before the broker starts (bounded: a stand-in that died ends the run).
for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$standin_port/report" && break; kill -0 "$standin" || exit 1; sleep 0.05; done
# One worker slot per job is what one blocking wait per job needs (the builds before job-list tracking); with the
# job list read by phase, the default 64 slots are enough: BENCH_FORWARD_CONCURRENCY=64 shows it.
# Health probes off, as in bench-load: a probe that times out while the stand-in (one Python process) is busy would
# make the facility unavailable and the next request get no offer; tracking is what is measured here.
start_broker SKYPORT_FORWARD_CONCURRENCY=${BENCH_FORWARD_CONCURRENCY:-$((n + 64))} SKYPORT_OFFER_LIFETIME=600 SKYPORT_HEALTH_PERIOD=0 SKYPORT_LOG_LEVEL=warning
python3 - "$base" "$token" "$n" "$standin_port" <<'PY'
import http.client, json, sys, urllib.parse
base, token, n, sport = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
u = urllib.parse.urlparse(base); c = http.client.HTTPConnection(u.hostname, u.port)
doc = {"id": "standin", "name": "UWS stand-in", "endpoints": [{"kind": "uws", "url": f"http://127.0.0.1:{sport}/jobs"}],
       "accepts": ["uws-job"], "limits": {"cores": 1, "memory": 1}, "capacity": {"cores": 1000000, "memory": 1000000}}
c.request("POST", "/facilities", json.dumps(doc), {"Content-Type": "application/json", "Authorization": "Bearer " + token}); c.getresponse().read()
for i in range(1, n + 1):
    # The callback path names i; the stand-in matches a notice to its job by the session it names (the RUNID).
    req = {"executable": {"kind": "uws-job", "parameters": {"n": str(i)}}, "compute": {"cores": {"min": 1, "max": 1}, "memory": {"min": 1, "max": 1}},
           "callback": f"http://127.0.0.1:{sport}/notice/{i}"}
    c.request("POST", "/requests", json.dumps(req), {"Content-Type": "application/json"}); r = c.getresponse(); body = json.loads(r.read())
    if not body.get("offers"): sys.exit(f"request {i} got no offer: {json.dumps(body)[:1500]}")
    sid = body["offers"][0]["meta"]["uuid"]
    c.request("POST", f"/sessions/{sid}", json.dumps({"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}), {"Content-Type": "application/json"})
    c.getresponse().read()
PY
echo "submitted $n jobs; tracking while they run (hold ${hold}s ±30%)"
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
sleep 5
c0=$(cpu); t0=$(date +%s.%N); peak=0
for _ in $(seq 1 10); do r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); [ "$r" -gt "$peak" ] && peak=$r; sleep 1; done
c1=$(cpu); t1=$(date +%s.%N)
python3 -c "print(f'while tracking {$n} EXECUTING jobs: broker CPU {($c1-$c0)/$ticks/($t1-$t0):.3f} cores, peak RSS {$peak/1024:.1f} MiB')"
# Watch a random sample of the sessions (BENCH_WATCH, default 400; the broker treats every job alike), each from the
# moment its job completes (the stand-in chose it) until it shows COMPLETED, and compare that moment with the one it is
# first seen. Watching all 2,000 as fast as one Python process could measured the watcher (a sweep took ~0.8 s: p99
# 1.4 s where the callbacks came at p99 < 0.9 s), and its reads took a fifth of the broker's CPU. Each latency is an
# upper bound, late by at most two sweeps of the sessions due (printed) and a 20 ms pause.
python3 - "$base" "http://127.0.0.1:$standin_port" "$hold" "${BENCH_WATCH:-400}" <<'PY'
import http.client, json, random, sys, threading, time, urllib.parse, urllib.request
base, standin, hold, sample = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
done_by_run = json.load(urllib.request.urlopen(standin + "/report"))["done_by_run"]
seen = {}; sweeps = []; lock = threading.Lock(); deadline = time.time() + hold * 2 + 120
def watch(part):
    u = urllib.parse.urlparse(base); c = http.client.HTTPConnection(u.hostname, u.port)
    pending = sorted(part, key=lambda s: done_by_run[s])
    while pending and time.time() < deadline:
        t0 = time.time(); due = [s for s in pending if done_by_run[s] <= t0]
        for sid in due:
            c.request("GET", "/sessions/" + sid); phase = json.loads(c.getresponse().read())["phase"]
            if phase == "COMPLETED":
                with lock: seen[sid] = time.time()
                pending.remove(sid)
        if due:
            with lock: sweeps.append(time.time() - t0)
        time.sleep(0.02)
# Only jobs that complete after watching starts can be timed (the others finished during the CPU sample).
start = time.time() + 1.0
ids = [i for i in done_by_run if done_by_run[i] > start]
ids = random.Random(1).sample(ids, min(sample, len(ids)))
time.sleep(max(0.0, start - time.time()))
ts = [threading.Thread(target=watch, args=(ids[k::4],)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
lat = sorted(seen[s] - done_by_run[s] for s in seen); sweeps.sort()
if not lat: sys.exit(print("no session was timed: every job completed before watching began (raise HOLD)"))
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1000
print(f"remote phase change to session (polled, a sample of jobs completing after watching began): {len(lat)} of {len(ids)} sessions, "
      f"p50 {q(lat, 0.5):.0f} ms, p99 {q(lat, 0.99):.0f} ms, max {lat[-1]*1000:.0f} ms (a sweep of the sessions due took p50 {q(sweeps, 0.5):.0f} ms, max {sweeps[-1]*1000:.0f} ms)")
PY
# The sample is watched to its end; the other jobs may still be completing: wait (bounded) until every job has
# completed and its callback had time to come.
for _ in $(seq 1 120); do
  curl -s "http://127.0.0.1:$standin_port/report" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['done'] >= $n and d['noticed'] >= $n else 1)" && break
  sleep 0.5
done
curl -s "http://127.0.0.1:$standin_port/report" | python3 -c "
import json,sys; d=json.load(sys.stdin)
f=lambda x: 'n/a' if x is None else f'{x*1000:.0f} ms'
print(f'callback notices received: {d[\"noticed\"]} of {d[\"jobs\"]}, delivered p50 {f(d[\"p50\"])}, p99 {f(d[\"p99\"])}, max {f(d[\"max\"])} after the remote phase change')
print(f'completed jobs read by the broker (the list showed them gone): p50 {f(d[\"read_p50\"])}, p99 {f(d[\"read_p99\"])} after the change')
x=d[\"split\"]; print(f'  of which: to the first list read without it p50 {f(x[\"snapshot_p50\"])}, p99 {f(x[\"snapshot_p99\"])}; from that list to the read p50 {f(x[\"list_to_read_p50\"])}, p99 {f(x[\"list_to_read_p99\"])}; gaps between list reads p50 {f(x[\"gap_p50\"])}, p99 {f(x[\"gap_p99\"])}, max {f(x[\"gap_max\"])}')
print('slowest callbacks (seconds after the change, job, its hold):', ', '.join(f'{w[0]:.2f} s job {w[1]} ({w[2]} s)' for w in d['worst'][:3]))
s=d[\"stats\"]; print(f'requests the stand-in answered: {s[\"lists\"]} job-list reads, {s[\"waits\"]} blocking job waits, {s[\"reads\"]} plain job reads')
"
echo "broker RSS at the end: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")"
echo "warnings logged: $(grep -ci warning "$work/log" || true)"; (grep -i warning "$work/log" || true) | sed -E 's/ session=[^ ]+//; s/^[^ ]+ //' | cut -c1-160 | sort | uniq -c | sort -rn | head -3
echo "forwarding steps that failed and were retried: $(grep -c 'forwarding step failed' "$work/log" || true)"
(grep 'forwarding step failed' "$work/log" || true) | sed 's/.*error=//' | cut -c1-160 | sort | uniq -c | sort -rn | head -3
