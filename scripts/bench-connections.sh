#!/usr/bin/env bash
# Connection-exhaustion benchmark on a release build (issue 12): holds IDLE kept-alive connections (default 20,000,
# each after one GET /health) and SLOW slowloris connections (default 500: a request head sent one header line a
# second, reconnecting whenever the server cuts it), and meanwhile measures GET /health open loop: requests
# scheduled at a fixed RATE (default 100/s for SECONDS, default 20), each on a new connection, latency counted from
# the scheduled time (so a stalled server is not hidden by a client that waits). Reports p50/p99/max, errors, how
# the connections fared (held, refused 503, cut by the header timeout) and the broker's RSS before, while held and
# after. Raises `ulimit -n` for itself (the client side) and so for the broker it starts; the broker's connection
# cap is its default (the open-file limit less a reserve) unless SKYPORT_MAX_CONNECTIONS is set. Loopback only.
# Usage: scripts/bench-connections.sh [IDLE] [SLOW] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-20000}; slow=${2:-500}; rate=${3:-100}; secs=${4:-20}
need=$((idle + slow + 4096))
if [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
echo "ulimit -n: $(ulimit -n) (client and broker)"
source scripts/bench-common.sh
# The idle connections must outlive the run (the default idle timeout is 60 s); the header timeout is the default.
start_broker SKYPORT_IDLE_TIMEOUT="${SKYPORT_IDLE_TIMEOUT:-300}" SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0

python3 - "$port" "$pid" "$idle" "$slow" "$rate" "$secs" <<'PY'
import asyncio, os, sys, time
port, pid, n_idle, n_slow, rate, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
HOST = "127.0.0.1"
GET = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"

def rss():
    try:
        return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]) / 1024
    except FileNotFoundError:
        return float("nan")

def alive():
    return os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"

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

async def probe(scheduled, out):
    # One GET /health on a new connection, started at its scheduled time; latency from that time.
    delay = scheduled - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    try:
        async def one():
            r, w = await asyncio.open_connection(HOST, port)
            w.write(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            status = await read_response(r)
            w.close()
            return status
        status = await asyncio.wait_for(one(), 10)
        out.append((time.monotonic() - scheduled, status == 200))
    except Exception:
        out.append((time.monotonic() - scheduled, False))

async def measure(label):
    out, start = [], time.monotonic() + 0.05
    n = int(rate * secs)
    await asyncio.gather(*(probe(start + i / rate, out) for i in range(n)))
    lat = sorted(l for l, _ in out)
    errors = sum(1 for _, ok in out if not ok)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(f"{label}: GET /health open loop {rate:.0f}/s for {secs:.0f} s: p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, "
          f"max {lat[-1] * 1000:.2f} ms, {errors} errors of {len(out)}", flush=True)

held, idle_stats = [], {"held": 0, "refused": 0, "failed": 0}

async def open_idle():
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(HOST, port), 30)
        w.write(GET)
        status = await asyncio.wait_for(read_response(r), 30)
        if status == 200:
            idle_stats["held"] += 1
            held.append(w)
        else:
            idle_stats["refused" if status == 503 else "failed"] += 1
            w.close()
    except Exception:
        idle_stats["failed"] += 1

slow_stats = {"cut": 0, "answers": {}, "failed": 0}
stop = asyncio.Event()

async def slowloris():
    while not stop.is_set():
        try:
            r, w = await asyncio.open_connection(HOST, port)
            w.write(b"GET /health HTTP/1.1\r\nHost: bench\r\n")
            while not stop.is_set():
                await asyncio.sleep(1)
                if r.at_eof():
                    break
                w.write(b"X-Slow: a\r\n")
                await w.drain()
                try:
                    data = await asyncio.wait_for(r.read(200), 0.01)
                    if data or r.at_eof():
                        code = data[9:12].decode() if data.startswith(b"HTTP/1.1") else "close"
                        slow_stats["answers"][code] = slow_stats["answers"].get(code, 0) + 1
                        break
                except asyncio.TimeoutError:
                    pass
            slow_stats["cut"] += 0 if stop.is_set() else 1
            w.close()
        except Exception:
            slow_stats["failed"] += 1
            await asyncio.sleep(0.5)

async def main():
    print(f"broker RSS at start: {rss():.1f} MiB", flush=True)
    await measure("before")
    t0 = time.monotonic()
    for i in range(0, n_idle, 500):
        await asyncio.gather(*(open_idle() for _ in range(min(500, n_idle - i))))
    print(f"{n_idle} idle connections in {time.monotonic() - t0:.1f} s: {idle_stats['held']} held, {idle_stats['refused']} refused (503), "
          f"{idle_stats['failed']} failed; broker RSS {rss():.1f} MiB", flush=True)
    slows = [asyncio.create_task(slowloris()) for _ in range(n_slow)]
    await asyncio.sleep(2)
    await measure(f"while {idle_stats['held']} idle + {n_slow} slowloris are held")
    print(f"broker RSS while held: {rss():.1f} MiB; slowloris connections cut by the server: {slow_stats['cut']} "
          f"(answers {slow_stats['answers']}), failed connects {slow_stats['failed']}", flush=True)
    stop.set()
    await asyncio.gather(*slows, return_exceptions=True)
    for w in held:
        w.close()
    await asyncio.sleep(5)
    print(f"broker RSS 5 s after closing them: {rss():.1f} MiB; broker alive: {alive()}", flush=True)
    await measure("after")

asyncio.run(main())
PY
tail -5 "$work/log" | grep -iv "^$" || true
