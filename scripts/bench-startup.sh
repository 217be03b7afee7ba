#!/usr/bin/env bash
# Start-up time and idle footprint (issue 13): starts the release broker RUNS times (default 10), each on a fresh
# scratch SQLite file, and measures the wall time from just before exec to the first `GET /health` that answers 200
# (a tight Python loop: connect, send, read; 1 ms between refused connects), then, IDLE seconds (default 2) after
# that answer, the broker's resident memory: VmRSS and its anonymous / file-backed split (RssAnon, RssFile from
# /proc/PID/status; Rss and Anonymous from /proc/PID/smaps_rollup). Prints each run, then median and max.
# DB: `migrated` (default: the file was made by `skyport operator add`, as on any restart) or `empty` (no file: the
# broker creates and migrates it). MAPS=1 also prints the largest resident mappings of the last run (smaps).
# SPLIT=1 runs each start under `strace -f --seccomp-bpf` (only execve, openat, listen, accept4 stop, so the cost is
# small but not nil) and splits the time: exec to opening the database (loader, runtime, arguments), opening the
# database to reading the sealing key (migrations, capacity ledger), to `listen` (runtime, clients, routes,
# services), to accepting the first /health connection, to its answer.
# SKYPORT_BENCH_BIN runs another build (see bench-common.sh). Health and registry rounds are off (no peers here).
# Usage: scripts/bench-startup.sh [RUNS] [IDLE]     e.g. SKYPORT_BENCH_BIN=/tmp/old/skyport scripts/bench-startup.sh 10
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}; idle=${2:-2}
source scripts/bench-common.sh
SKYPORT_RATE_LIMIT="${SKYPORT_RATE_LIMIT:-0}" SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 \
  python3 - "$bin" "$work" "$runs" "$idle" "${DB:-migrated}" "${MAPS:-0}" "${SPLIT:-0}" <<'PY'
import os, signal, socket, statistics, subprocess, sys, time
bin, work, runs, idle, dbmode, maps = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6] == "1"
split = sys.argv[7] == "1"
splits = []

def split_times(trace, db):
    """Milliseconds from exec to: database opened, key read, listen, first accept (from an strace -ttt log)."""
    marks = {}
    for line in open(trace):
        parts = line.split(None, 2)
        if len(parts) < 3: continue
        t, call = float(parts[1]), parts[2]
        if call.startswith("execve(") and "exec" not in marks: marks["exec"] = t
        elif call.startswith("openat(") and f'"{db}"' in call and "db" not in marks: marks["db"] = t
        elif call.startswith("openat(") and "skyport.key" in call and "key" not in marks: marks["key"] = t
        elif call.startswith("listen(") and "listen" not in marks: marks["listen"] = t
        elif call.startswith("accept4(") and "= -1" not in call and "accept" not in marks: marks["accept"] = t
    return {k: (v - marks["exec"]) * 1000 for k, v in marks.items()}

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def health(port):
    """One GET /health; True on a 200, False on a refused connection or any other answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk: break
                data += chunk
            return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False

def kib(path, keys):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys: out[k] = int(v.split()[0])
    return out

def mappings(pid):
    """Resident KiB per mapped file, the broker's own per segment (anonymous regions grouped as [anon]/[heap]/[stack])."""
    totals, name = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else "[anon]"
                if name.startswith("[stack"): name = "[stack]"
                if os.path.realpath(name) == os.path.realpath(bin): name = f"{name} ({head[1]})"  # per segment
            elif head and head[0] == "Rss:":
                totals[name] = totals.get(name, 0) + int(head[1])
    return sorted(totals.items(), key=lambda kv: -kv[1])

# How much of a file-backed mapping one fault makes resident depends on the page-cache folios the file sits in, and
# those depend on how the file got there (written by the linker, copied, read back): the binary's cached pages are
# dropped first and one unmeasured start reads it back, so that every build is measured from the same state.
fd = os.open(bin, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
subprocess.run([bin, "--version"], check=True, stdout=subprocess.DEVNULL)

rows = []
for i in range(runs):
    db = os.path.join(work, f"startup-{i}.sqlite")
    if dbmode == "migrated":
        subprocess.run([bin, "operator", "add", "bench", "--db", db], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    log = open(os.path.join(work, f"startup-{i}.log"), "w")
    t0 = time.perf_counter()
    cmd = [bin, "serve", "--db", db, "--port", str(port), "--log-level", "warning"]
    trace = os.path.join(work, f"startup-{i}.strace")
    if split:
        cmd = ["strace", "-f", "-ttt", "--seccomp-bpf", "-e", "trace=execve,openat,listen,accept4", "-o", trace] + cmd
    p = subprocess.Popen(cmd, stdout=log, stderr=log)
    while not health(port):
        if p.poll() is not None: sys.exit(f"the broker exited ({p.returncode}) before answering; see its log")
        if time.perf_counter() - t0 > 30: sys.exit("no /health answer within 30 s")
        time.sleep(0.001)
    ms = (time.perf_counter() - t0) * 1000
    time.sleep(idle)
    if split:  # the broker is strace's child
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f: target = int(f.read().split()[0])
    else:
        target = p.pid
    st = kib(f"/proc/{target}/status", {"VmRSS", "RssAnon", "RssFile", "Threads"})
    with open(f"/proc/{target}/status") as f:
        threads = next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
    roll = kib(f"/proc/{target}/smaps_rollup", {"Rss", "Anonymous"})
    top = mappings(target) if maps and i == runs - 1 else None
    os.kill(target, signal.SIGTERM)  # (under strace: the broker, then strace ends with it)
    try: p.wait(10)
    except subprocess.TimeoutExpired: os.kill(target, signal.SIGKILL); p.kill(); p.wait()
    log.close()
    row = dict(ms=ms, rss=st["VmRSS"] / 1024, anon=st["RssAnon"] / 1024, file=st["RssFile"] / 1024,
               roll_rss=roll["Rss"] / 1024, roll_anon=roll["Anonymous"] / 1024, threads=threads)
    rows.append(row)
    print(f"run {i + 1:2}: first /health {ms:7.1f} ms   VmRSS {row['rss']:5.1f} MiB (anon {row['anon']:4.1f}, file {row['file']:4.1f})"
          f"   smaps_rollup Rss {row['roll_rss']:5.1f} Anonymous {row['roll_anon']:4.1f}   threads {threads}", flush=True)
    if split:
        sp = split_times(trace, db); sp["answer"] = ms; splits.append(sp)
        print("         exec -> db open %(db)6.1f, key read %(key)6.1f, listen %(listen)6.1f, first accept %(accept)6.1f, answered %(answer)6.1f ms" % sp)
    if top:
        print("largest resident mappings (MiB):")
        for name, k in top[:15]: print(f"  {k / 1024:6.1f}  {name}")

print(f"\n{runs} starts ({dbmode} db), {bin}")
for key, label, unit in [("ms", "start to first /health", "ms"), ("rss", "idle VmRSS", "MiB"), ("anon", "  RssAnon", "MiB"),
                         ("file", "  RssFile", "MiB"), ("threads", "threads", "")]:
    vals = [r[key] for r in rows]
    print(f"{label:24} median {statistics.median(vals):7.1f} {unit:3}  max {max(vals):7.1f} {unit}")
if splits:
    print("split (median ms from exec, under strace): " + ", ".join(
        f"{k} {statistics.median(s[k] for s in splits):.1f}" for k in ["db", "key", "listen", "accept", "answer"]))
PY
