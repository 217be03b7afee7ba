#!/usr/bin/env bash
# End-to-end POST /requests benchmark on a release build: registers F facilities (default 100), then sends
# requests at a fixed rate (default 200/s for 20 s) from several client threads, and reports achieved
# requests/s, p50/p99/max latency and the broker's RSS. Loopback only; bounded in count and time.
# Usage: scripts/bench-requests.sh [FACILITIES] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
nf=${1:-100}; rate=${2:-200}; secs=${3:-20}
source scripts/bench-common.sh
# Short-lived offers, so that the calendar does not fill up over the run.
start_broker SKYPORT_OFFER_LIFETIME=2

python3 - "$base" "$token" "$nf" "$rate" "$secs" "$pid" <<'PY'
import http.client, json, sys, threading, time, urllib.parse
base, token, nf, rate, secs, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
u = urllib.parse.urlparse(base)
def conn(): return http.client.HTTPConnection(u.hostname, u.port, timeout=10)
c = conn()
sys.path.insert(0, "scripts"); import bench_facilities
bench_facilities.register(c, token, nf)
executables = [{"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},
               {"kind": "docker-container", "image": {"locations": ["registry.example.org/astro/tool:1.0"]}},
               {"kind": "tap-query", "query": "SELECT TOP 10 * FROM ivoa.obscore"},
               {"kind": "binder-notebook", "repository": "https://github.com/example/analysis"}]
bodies = [json.dumps({"executable": executables[i % 4],
                      "compute": {"cores": {"min": 1 + i % 4, "max": 4 + i % 4}, "memory": {"min": 1 + i % 8, "max": 8}},
                      "schedule": {"requested": {"duration": "PT1H"}}}) for i in range(64)]
lat, errors, lock = [], [0], threading.Lock()
threads = 8
per_thread = rate / threads
start = time.monotonic()
def worker(t):
    k = conn(); n = 0
    while True:
        due = start + n / per_thread
        if due - start >= secs: break
        now = time.monotonic()
        if due > now: time.sleep(due - now)
        t0 = time.monotonic()
        try:
            k.request("POST", "/requests", bodies[(n * threads + t) % len(bodies)], {"Content-Type": "application/json"})
            r = k.getresponse(); r.read()
            ok = r.status == 303
            if not ok and errors[0] < 3: print("unexpected", r.status, r.read()[:300] if False else "", file=sys.stderr)
        except Exception:
            ok = False; k = conn()
        dt = time.monotonic() - t0
        with lock:
            lat.append(dt)
            if not ok: errors[0] += 1
        n += 1
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
elapsed = time.monotonic() - start
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"POST /requests with {nf} facilities at a target of {rate:.0f}/s for {secs:.0f} s: {len(lat)/elapsed:.1f} requests/s achieved, "
      f"p50 {q(0.50):.2f} ms, p99 {q(0.99):.2f} ms, max {lat[-1]*1000:.2f} ms, {errors[0]} errors, broker RSS {int(rss)/1024:.1f} MiB")
PY

# The same endpoint at its own pace from wrk (a lighter client than Python threads on the same 2 cores).
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"executable":{"kind":"jupyter-notebook","location":"https://example.org/nb.ipynb"},"compute":{"cores":{"min":1,"max":4}},"schedule":{"requested":{"duration":"PT1H"}}}'
wrk.headers["Content-Type"] = "application/json"
LUA
for c in 1 4; do
  out=$(wrk -t1 -c$c -d10s --latency -s "$work/post.lua" "$base/requests")
  echo "wrk POST /requests, $c connection(s): $(awk '/Requests\/sec/ {print $2}' <<<"$out") requests/s, p50 $(awk '$1=="50%" {print $2}' <<<"$out"), p99 $(awk '$1=="99%" {print $2}' <<<"$out")"
done
