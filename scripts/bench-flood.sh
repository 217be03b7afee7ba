#!/usr/bin/env bash
# Database growth under a flood of anonymous requests (issue 12): a release broker on a SQLite file with 100
# facilities gets N anonymous POST /requests (default 100,000) at a fixed open-loop rate (request n is sent at
# start + n/RATE, whatever the answers before it did; latency counts from that time), once with the default
# retention and once with RETAIN seconds (default 10). Reports the database file and its -wal every 10,000 requests,
# at the end, and after the retention has had time to act; and the rows left.
# Usage: scripts/bench-flood.sh [N] [RATE] [RETAIN]      (run it alone: it takes N/RATE seconds twice)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}; rate=${2:-300}; retain=${3:-10}
source scripts/bench-common.sh
bash scripts/ensure-packages.sh sqlite3 >/dev/null

flood() {  # flood LABEL ENV=VALUE...
  local label=$1; shift
  local db="$work/flood-$label.sqlite"
  rm -f "$db" "$db-wal" "$db-shm"
  local tok; tok=$("$bin" operator add bench --db "$db")
  # Offers live 10 s, as an anonymous flood that never accepts leaves them.
  env SKYPORT_OFFER_LIFETIME=10 "$@" "$bin" serve --db "$db" --port "$port" --log-level warning >"$work/log-$label" 2>&1 &
  pid=$!
  until curl -sf "$base/health" >/dev/null 2>&1; do sleep 0.01; done
  echo "== $label: $* (offers live 10 s; $n requests at $rate/s)"
  python3 - "$base" "$tok" "$n" "$rate" "$db" "$pid" "$label" <<'PY'
import http.client, json, os, sys, threading, time, urllib.parse
base, token, n, rate, db, pid, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
u = urllib.parse.urlparse(base)
def conn(): return http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c = conn()
kinds = ["jupyter-notebook", "docker-container", "tap-query", "binder-notebook"]
for i in range(100):
    doc = {"id": f"f{i:03d}", "name": f"Facility {i}", "endpoints": [{"kind": "uws", "url": f"http://127.0.0.1:1/{i}"}],
           "accepts": [kinds[i % 4], kinds[(i + 1) % 4]], "limits": {"cores": 8 + i % 24, "memory": 16 + i % 48, "duration": "P1D"},
           "capacity": {"cores": 256, "memory": 1024}, "data": {"rses": [f"RSE_{i % 10}"]}}
    c.request("POST", "/facilities", json.dumps(doc), {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    r = c.getresponse(); r.read(); assert r.status == 201, r.status
executables = [{"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},
               {"kind": "docker-container", "image": {"locations": ["registry.example.org/astro/tool:1.0"]}},
               {"kind": "tap-query", "query": "SELECT TOP 10 * FROM ivoa.obscore"},
               {"kind": "binder-notebook", "repository": "https://github.com/example/analysis"}]
# Three in four get offers; one in four asks more than any facility has: a NO set with 100 rejections.
bodies = [json.dumps({"name": f"flood {i}", "executable": executables[i % 4],
                      "compute": {"cores": {"min": (1 + i % 4) if i % 4 else 64, "max": 64}, "memory": {"min": 1 + i % 8, "max": 8}},
                      "schedule": {"requested": {"duration": "PT1H"}}}) for i in range(64)]
def size(p):
    try: return os.path.getsize(p)
    except OSError: return 0
def mib(b): return f"{b / 1048576:.1f}"
threads = 16
lat, errors, sent, lock = [], [0], [0], threading.Lock()
marks = {}
start = time.monotonic() + 0.5
def report(k):
    d, w = size(db), size(db + "-wal")
    print(f"  {k:>7} requests  t={time.monotonic() - start:6.1f} s  db {mib(d)} MiB + wal {mib(w)} MiB = {mib(d + w)} MiB", flush=True)
def worker(t):
    k = conn()
    for i in range(t, n, threads):
        due = start + i / rate
        now = time.monotonic()
        if due > now: time.sleep(due - now)
        try:
            k.request("POST", "/requests", bodies[i % len(bodies)], {"Content-Type": "application/json"})
            r = k.getresponse(); r.read(); ok = r.status == 303
        except Exception:
            ok = False; k = conn()
        done = time.monotonic() - due
        with lock:
            lat.append(done)
            if not ok: errors[0] += 1
            sent[0] += 1
            if sent[0] % 10000 == 0: report(sent[0])
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
elapsed = time.monotonic() - start
lat.sort(); q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"  sent {n} in {elapsed:.1f} s ({n / elapsed:.0f}/s achieved of {rate:.0f}/s), {errors[0]} errors, "
      f"latency from the scheduled time p50 {q(0.5):.1f} ms p99 {q(0.99):.1f} ms max {lat[-1]*1000:.0f} ms, RSS {int(rss)/1024:.0f} MiB")
report("end")
PY
  local settle=${SETTLE:-40}
  sleep "$settle"
  python3 - "$db" "$settle" <<'PY'
import os, sys
db, settle = sys.argv[1], sys.argv[2]
s = lambda p: os.path.getsize(p) if os.path.exists(p) else 0
print(f"  {settle} s later: db {s(db)/1048576:.1f} MiB + wal {s(db + '-wal')/1048576:.1f} MiB")
PY
  echo "  rows: $(sqlite3 "file:$db?mode=ro" "SELECT (SELECT count(*) FROM offer_set) || ' offer sets, ' || (SELECT count(*) FROM session) || ' sessions; ' || (SELECT page_count FROM pragma_page_count) || ' pages, ' || (SELECT freelist_count FROM pragma_freelist_count) || ' free'")"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

flood default-retention
flood "retain-${retain}s" SKYPORT_RETAIN_OFFERS="$retain" SKYPORT_RETAIN_SESSIONS="$retain" SKYPORT_RETENTION_SWEEP=5
