#!/usr/bin/env bash
# Connection-exhaustion benchmark on a release build (issue 12): holds IDLE kept-alive connections (default 20,000,
# each after one GET /health) and SLOW slowloris connections (default 500: a request head sent one header line a
# second, reconnecting whenever the server cuts it), and meanwhile measures GET /health open loop from a process
# of its own: requests scheduled at a fixed RATE (default 100/s for SECONDS, default 20), each on a new connection,
# latency counted from the scheduled time (a stalled server is not hidden by a client that waits). Reports
# p50/p99/max of the answers by status, the requests never answered, how the held connections fared (held,
# refused 503, failed), the slowloris cuts, and the broker's RSS and open descriptors before, while held and after.
# Raises `ulimit -n` as far as allowed (holders are separate processes of at most 5,000 connections each, so the
# client side never runs out); the broker's cap is its default (its open-file limit less a reserve) unless
# SKYPORT_MAX_CONNECTIONS is set: connections beyond it are answered 503 at once. Loopback only.
# Usage: scripts/bench-connections.sh [IDLE] [SLOW] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-20000}; slow=${2:-500}; rate=${3:-100}; secs=${4:-20}
need=$((idle + slow + 4096))
if [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
source scripts/bench-common.sh
holders=()
stop_holders() { [ ${#holders[@]} -gt 0 ] || return 0; for h in "${holders[@]}"; do kill "$h" 2>/dev/null || true; done; wait "${holders[@]}" 2>/dev/null || true; holders=(); }
trap 'stop_holders; cleanup' EXIT
# The idle connections must outlive the run (the default idle timeout is 60 s); the header timeout is the default.
start_broker SKYPORT_IDLE_TIMEOUT="${SKYPORT_IDLE_TIMEOUT:-300}" SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0
echo "ulimit -n: $(ulimit -n) (client processes and broker); broker's connection cap: ${SKYPORT_MAX_CONNECTIONS:-default, $(ulimit -n) less 320}"

cat >"$work/client.py" <<'PY'
import asyncio, json, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
HOST = "127.0.0.1"

async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status

async def hold(n, report):
    # n kept-alive connections, each after one GET /health; reports how they fared, then holds them until killed.
    stats, held = {"held": 0, "refused": 0, "failed": 0}, []
    async def one():
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(HOST, port), 30)
            w.write(b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n")
            status = await asyncio.wait_for(read_response(r), 30)
            if status == 200:
                stats["held"] += 1; held.append(w)
            else:
                stats["refused" if status == 503 else "failed"] += 1; w.close()
        except Exception:
            stats["failed"] += 1
    for i in range(0, n, 500):
        await asyncio.gather(*(one() for _ in range(min(500, n - i))))
    open(report, "w").write(json.dumps(stats))
    await asyncio.Event().wait()

async def slowloris(n, report):
    # n connections sending a request head one header line a second, reconnecting when cut; counts the answers.
    stats = {"cut": 0, "answers": {}, "failed": 0}
    async def one():
        while True:
            try:
                r, w = await asyncio.open_connection(HOST, port)
                w.write(b"GET /health HTTP/1.1\r\nHost: bench\r\n")
                while True:
                    await asyncio.sleep(1)
                    try:
                        data = await asyncio.wait_for(r.read(200), 0.01)
                    except asyncio.TimeoutError:
                        w.write(b"X-Slow: a\r\n"); await w.drain(); continue
                    code = data[9:12].decode() if data.startswith(b"HTTP/1.1") else "closed"
                    stats["answers"][code] = stats["answers"].get(code, 0) + 1
                    stats["cut"] += 1
                    break
                w.close()
            except Exception:
                stats["failed"] += 1
                await asyncio.sleep(0.5)
            open(report, "w").write(json.dumps(stats))
    await asyncio.gather(*(one() for _ in range(n)))

async def probe(rate, secs, label):
    out = []
    async def one(scheduled):
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        async def go():
            r, w = await asyncio.open_connection(HOST, port)
            w.write(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            status = await read_response(r)
            w.close()
            return status
        try:
            status = await asyncio.wait_for(go(), 10)
        except Exception:
            status = None
        out.append((time.monotonic() - scheduled, status))
    start = time.monotonic() + 0.05
    await asyncio.gather(*(one(start + i / rate) for i in range(int(rate * secs))))
    def stats(lat):
        lat = sorted(lat)
        if not lat: return "none"
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
        return f"p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {lat[-1] * 1000:.2f} ms"
    ok = [l for l, s in out if s == 200]
    refused = [l for l, s in out if s == 503]
    other = sum(1 for _, s in out if s not in (200, 503, None))
    lost = sum(1 for _, s in out if s is None)
    print(f"{label}: GET /health open loop {rate:.0f}/s for {secs:.0f} s: {len(ok)} x 200 ({stats(ok)}); "
          f"{len(refused)} x 503 ({stats(refused)}); {other} other; {lost} unanswered (error or >10 s)", flush=True)

if mode == "hold": asyncio.run(hold(int(sys.argv[3]), sys.argv[4]))
elif mode == "slow": asyncio.run(slowloris(int(sys.argv[3]), sys.argv[4]))
else: asyncio.run(probe(float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]))
PY

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
echo "broker at start: RSS $(rss), $(fds) descriptors"
python3 "$work/client.py" probe "$port" "$rate" "$secs" "before"
t0=$(date +%s.%N); n=0; left=$idle
while [ "$left" -gt 0 ]; do
  chunk=$(( left < 5000 ? left : 5000 ))
  python3 "$work/client.py" hold "$port" "$chunk" "$work/hold-$n.json" & holders+=($!)
  n=$((n + 1)); left=$((left - chunk))
done
for i in $(seq 0 $((n - 1))); do until [ -s "$work/hold-$i.json" ]; do sleep 0.2; done; done
python3 - "$work" "$n" "$idle" "$t0" <<'PY'
import json, sys, time
work, n, idle, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
total = {"held": 0, "refused": 0, "failed": 0}
for i in range(n):
    for k, v in json.load(open(f"{work}/hold-{i}.json")).items(): total[k] += v
print(f"{idle} idle connections opened in {time.time() - t0:.1f} s: {total['held']} held, {total['refused']} refused (503), {total['failed']} failed")
PY
echo "broker while the idle connections are held: RSS $(rss), $(fds) descriptors"
python3 "$work/client.py" slow "$port" "$slow" "$work/slow.json" & holders+=($!)
sleep 3
python3 "$work/client.py" probe "$port" "$rate" "$secs" "while held (idle + $slow slowloris)"
echo "broker while held: RSS $(rss), $(fds) descriptors; slowloris: $(cat "$work/slow.json" 2>/dev/null)"
{ curl -s "$base/metrics" | grep '^skyport_http_connections' | tr '\n' ' '; echo; } || echo "(/metrics refused: the broker is at its connection cap)"
stop_holders
sleep 5
echo "broker 5 s after the clients left: RSS $(rss), $(fds) descriptors, alive: $(kill -0 "$pid" 2>/dev/null && echo yes || echo NO)"
sleep 15
echo "broker 20 s after (memory is trimmed within 15 s of a burst): RSS $(rss)"
python3 "$work/client.py" probe "$port" "$rate" "$secs" "after"
