#!/usr/bin/env bash
# Federation benchmark: one Skyport (release build, SQLite) federating N stand-in ExecutionBrokers
# (Tests/Standins/broker_standin.py) whose answers take 0–200 ms each (uniform, fixed per broker, seeded).
# Each of REQUESTS offer requests is answered only when every broker has answered; the overhead of a request is its
# time at Skyport less the slowest broker's latency (the stand-in's own handling counts as overhead, so this
# overstates Skyport's share). Reports p50/p99 overhead, offers per set, and the broker's CPU and peak RSS.
# Usage: scripts/bench-federation.sh [BROKERS] [REQUESTS] [OFFERS_PER_BROKER]   (SKYPORT_BIN or SKYPORT_BENCH_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
BROKERS="${1:-50}"; REQUESTS="${2:-300}"; OFFERS="${3:-2}"
SKYPORT_BIN="${SKYPORT_BIN:-${SKYPORT_BENCH_BIN:-}}"
if [ -z "${SKYPORT_BIN:-}" ]; then
  bash scripts/build-release.sh >/dev/null
  SKYPORT_BIN="$(swift build -c release --show-bin-path)/skyport"
fi
work=$(mktemp -d); pid=""; standins=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; [ -n "$standins" ] && kill -9 "$standins" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 Tests/Standins/broker_standin.py --count "$BROKERS" --delay-min 0 --delay-max 200 --seed 7 --offers "$OFFERS" \
  --ports-file "$work/ports.json" &
standins=$!
until [ -s "$work/ports.json" ]; do sleep 0.05; done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token=$("$SKYPORT_BIN" operator add bench --db "$work/db.sqlite")
SKYPORT_EGRESS_ALLOW="127.0.0.1,::1,localhost" SKYPORT_RATE_LIMIT="${SKYPORT_RATE_LIMIT:-0}" SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 SKYPORT_FEDERATION_DEADLINE=2 SKYPORT_OFFER_LIFETIME=60 \
  "$SKYPORT_BIN" serve --db "$work/db.sqlite" --port "$port" --log-level warning >"$work/log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.01; done

python3 - "$port" "$token" "$work/ports.json" "$REQUESTS" "$pid" <<'PY'
import http.client, json, sys, time
port, token, ports_file, requests, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
brokers = json.load(open(ports_file))
conn = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body=None, headers={}):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json", **headers})
    r = conn.getresponse()
    return r.status, r.read()
for i, b in enumerate(brokers):
    status, body = call("POST", "/facilities", {
        "id": "broker-%02d" % i, "name": "Stand-in broker %d" % i,
        "endpoints": [{"kind": "executionbroker", "url": "http://127.0.0.1:%d" % b["port"]}],
        "accepts": ["tap-query"]}, {"Authorization": "Bearer " + token})
    assert status == 201, body
slowest = max(b["delay_ms"] for b in brokers)
request = {"executable": {"kind": "tap-query", "query": "SELECT TOP 1 * FROM tap_schema.tables"},
           "compute": {"cores": {"min": 1, "max": 1}, "memory": {"min": 1, "max": 1}}}
def cpu():
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0
for _ in range(5):  # warm-up: connections to every broker
    call("POST", "/requests", request)
# The slowest broker asked directly, with the document Skyport sends it: its own answer time, stand-in handling included.
slow = max(brokers, key=lambda b: b["delay_ms"])
direct_conn = http.client.HTTPConnection("127.0.0.1", slow["port"])
forwarded = json.dumps({"kind": "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/request/execution-request.yaml",
                        "executable": {"kind": "urn:skyport:kinds:executable:tap-query", "query": request["executable"]["query"], "lang": "ADQL"},
                        "compute": {"cores": {"min": 1, "max": 1}, "memory": {"min": 1, "max": 1}}})
direct = []
for _ in range(30):
    start = time.perf_counter()
    direct_conn.request("POST", "/requests", body=forwarded, headers={"Content-Type": "application/json"})
    direct_conn.getresponse().read()
    direct.append((time.perf_counter() - start) * 1000)
direct_p50 = sorted(direct)[len(direct) // 2]
times, offers, cpu0, t0 = [], [], cpu(), time.time()
for _ in range(requests):
    start = time.perf_counter()
    status, body = call("POST", "/requests", request)
    times.append((time.perf_counter() - start) * 1000)
    doc = json.loads(body)
    assert status == 303, body[:300]
    assert not doc["rejected"], doc["rejected"][:3]
    offers.append(len(doc["offers"]))
wall, used = time.time() - t0, cpu() - cpu0
over = sorted(t - slowest for t in times)
pct = lambda q: over[min(len(over) - 1, int(q * len(over)))]
rss = max(int(l.split()[1]) for l in open("/proc/%d/status" % pid) if l.startswith("VmHWM")) / 1024
print("brokers %d (latency 0-200 ms, slowest %.1f ms), %d requests, %d offers per set" % (len(brokers), slowest, requests, offers[0]))
print("request time  p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (sorted(times)[len(times)//2], sorted(times)[int(0.99*len(times))], max(times)))
print("overhead above the slowest broker's configured latency  p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (pct(0.5), pct(0.99), over[-1]))
over2 = sorted(t - direct_p50 for t in times)
pct2 = lambda q: over2[min(len(over2) - 1, int(q * len(over2)))]
print("the slowest broker asked directly: p50 %.1f ms; overhead above that  p50 %.1f ms  p99 %.1f ms" % (direct_p50, pct2(0.5), pct2(0.99)))
# Per request: the time at Skyport less the longest any broker took from receiving its question to answering it
# (each broker's last REQUESTS answers belong, in order, to the timed requests).
timings = []
for b in brokers:
    c = http.client.HTTPConnection("127.0.0.1", b["port"])
    c.request("GET", "/_standin/stats")
    timings.append(json.loads(c.getresponse().read())["timings"][-requests:])
slowest_each = [max((t[k][1] - t[k][0]) * 1000 for t in timings) for k in range(requests)]
over3 = sorted(t - s for t, s in zip(times, slowest_each))
pct3 = lambda q: over3[min(len(over3) - 1, int(q * len(over3)))]
print("overhead above the slowest broker's own answer time, request by request  p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (pct3(0.5), pct3(0.99), over3[-1]))
print("broker CPU %.2f s for %d requests (%.1f ms each), peak RSS %.0f MiB" % (used, requests, used * 1000 / requests, rss))
PY
