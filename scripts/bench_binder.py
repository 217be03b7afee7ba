#!/usr/bin/env python3
"""BinderHub launch benchmark (run by scripts/bench-binder.sh, which builds the release binary).

1. Overhead: SEQUENTIAL launches one after another of a small repository with 3 basket files. For each, the
   time from accepting the offer to the session being AVAILABLE, minus the stand-in BinderHub's own time
   (its /build request received -> ready sent, from its /_standin/stats test hook) is what Skyport adds:
   clone, derived commit, push, the stream, the store, and the forwarding service's pick-up.
2. Load: CONCURRENT launches at once: wall time, broker CPU seconds and peak RSS (VmHWM).
Everything runs on loopback: git daemon (demo and staging repositories), a data server, the stand-in.
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "..", "Tests", "Standins", "binderhub_standin.py")


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close(); return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on {port}")


def http(method, url, body=None, token=None, ctype="application/json"):
    req = urllib.request.Request(url, data=body.encode() if body else None, method=method)
    if body: req.add_header("Content-Type", ctype)
    if token: req.add_header("Authorization", "Bearer " + token)
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}"), e.headers


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    return 0


def pct(values, p):
    v = sorted(values); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--sequential", type=int, default=20)
    ap.add_argument("--concurrent", type=int, default=200)
    a = ap.parse_args()

    root = tempfile.mkdtemp(prefix="skyport-bench-binder-")
    procs = []
    try:
        repos, data, src = (os.path.join(root, d) for d in ("repos", "data", "src"))
        for d in (repos, data, src): os.makedirs(d)
        files = {"a.txt": "hello\n", "table.csv": "".join(f"{i},{i*i}\n" for i in range(500)), "image.fits": "SIMPLE  =  T" * 200}
        for n, c in files.items(): open(os.path.join(data, n), "w").write(c)
        open(os.path.join(src, "analysis.ipynb"), "w").write('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        sh = lambda c, cwd: subprocess.run(c, shell=True, cwd=cwd, check=True, capture_output=True)
        sh("git init -q -b main && git add . && git -c user.name=b -c user.email=b@localhost commit -qm demo", src)
        sh("git clone -q --bare src repos/demo.git && git init -q --bare repos/staging.git", root)
        git_port, data_port, bh_port, port = free_port(), free_port(), free_port(), free_port()
        log = open(os.path.join(root, "peers.log"), "w")
        procs.append(subprocess.Popen(["git", "daemon", "--listen=127.0.0.1", f"--port={git_port}", f"--base-path={repos}", "--export-all",
                                       "--enable=receive-pack", "--reuseaddr", "--max-connections=0", repos], stdout=log, stderr=log))
        procs.append(subprocess.Popen([sys.executable, "-m", "http.server", str(data_port), "--bind", "127.0.0.1"], cwd=data, stdout=log, stderr=log))
        procs.append(subprocess.Popen([sys.executable, STANDIN, "--port", str(bh_port), "--state-dir", os.path.join(root, "standin"),
                                       "--launch-delay", "0", "--git-concurrency", "32", "--quiet"], stdout=log, stderr=log))
        for p in (git_port, data_port, bh_port): wait_port(p)
        env = dict(os.environ, SKYPORT_STAGING_REMOTE=f"git://127.0.0.1:{git_port}/staging.git", SKYPORT_STAGING_DIR=os.path.join(root, "work"),
                   SKYPORT_FORWARD_CONCURRENCY="256", SKYPORT_MAX_OFFERS="1", SKYPORT_LOG_LEVEL="warning",
                   # The launches come from one loopback address far faster than the per-client write limit allows.
                   SKYPORT_RATE_LIMIT=os.environ.get("SKYPORT_RATE_LIMIT", "0"))
        broker = subprocess.Popen([a.bin, "serve", "--db", a.db, "--port", str(port)], env=env, stdout=log, stderr=log)
        procs.append(broker)
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        fac = {"id": "bench-binder", "name": "bench", "endpoints": [{"kind": "binderhub", "url": f"http://127.0.0.1:{bh_port}"}],
               "accepts": ["jupyter-notebook"], "limits": {"cores": 1, "memory": 1, "duration": "PT1H"}, "capacity": {"cores": 100000, "memory": 100000}}
        assert http("POST", base + "/facilities", json.dumps(fac), a.token)[0] == 201
        request = json.dumps({"software": {"name": "demo", "codeRepository": f"git://127.0.0.1:{git_port}/demo.git", "keywords": ["jupyter-notebook"],
                                           "skyport:path": "analysis.ipynb"},
                              "basket": [{"archive": "astron_vo", "record": {"url": f"http://127.0.0.1:{data_port}/{n}", "name": n, "size": len(c)}}
                                         for n, c in files.items()]})
        opener = urllib.request.build_opener(NoRedirect)

        def offer():
            req = urllib.request.Request(base + "/requests", data=request.encode(), method="POST", headers={"Content-Type": "application/json"})
            try:
                opener.open(req, timeout=60)
            except urllib.error.HTTPError as e:
                body = json.loads(e.read())
                return body["offers"][0]["meta"]["url"]
            raise SystemExit("no 303 from /requests")

        def accept(url):
            code, _, _ = http("POST", url, json.dumps({"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}))
            assert code == 200, code

        def until_available(url, poll):
            while True:
                _, s, _ = http("GET", url)
                if s.get("phase") in ("AVAILABLE", "FAILED"):
                    return s
                time.sleep(poll)

        def standin_timings():
            with urllib.request.urlopen(f"http://127.0.0.1:{bh_port}/_standin/stats") as r:
                return {t["url"]: t["ready"] - t["received"] for t in json.loads(r.read()).get("ready_timings", [])}

        # 1. Sequential: what Skyport adds to each launch.
        overheads, totals = [], []
        for i in range(a.sequential + 2):
            url = offer()
            t0 = time.time(); accept(url); s = until_available(url, 0.002); t1 = time.time()
            assert s["phase"] == "AVAILABLE", s
            server = s["connectors"][0]["location"].split("lab/tree")[0]
            own = standin_timings()[server]
            if i >= 2:  # two warm-up launches
                overheads.append(t1 - t0 - own); totals.append(t1 - t0)
        print(f"sequential launches: {a.sequential} (small repository, 3 staged files, a fresh build each)")
        print(f"  accept -> AVAILABLE        p50 {pct(totals, 50)*1000:7.1f} ms   p99 {pct(totals, 99)*1000:7.1f} ms")
        print(f"  Skyport's share            p50 {pct(overheads, 50)*1000:7.1f} ms   p99 {pct(overheads, 99)*1000:7.1f} ms   max {max(overheads)*1000:7.1f} ms")

        # 2. Concurrent launches.
        urls = [None] * a.concurrent
        def make(i): urls[i] = offer()
        threads = [threading.Thread(target=make, args=(i,)) for i in range(a.concurrent)]
        for t in threads: t.start()
        for t in threads: t.join()
        cpu0, rss0 = proc_cpu(broker.pid), proc_hwm(broker.pid)
        t0 = time.time()
        done = [None] * a.concurrent
        def run(i):
            accept(urls[i]); done[i] = (until_available(urls[i], 0.05), time.time() - t0)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(a.concurrent)]
        for t in threads: t.start()
        for t in threads: t.join()
        wall = time.time() - t0
        cpu = proc_cpu(broker.pid) - cpu0
        ok = sum(1 for s, _ in done if s["phase"] == "AVAILABLE")
        times = [d for _, d in done]
        leftover = subprocess.run(["git", "ls-remote", "--heads", f"git://127.0.0.1:{git_port}/staging.git"], capture_output=True, text=True).stdout.count("\n")
        print(f"concurrent launches: {a.concurrent} accepted at once -> {ok} AVAILABLE in {wall:.1f} s (p50 {pct(times, 50):.1f} s, p99 {pct(times, 99):.1f} s)")
        print(f"  broker CPU {cpu:.1f} s ({cpu / wall:.2f} cores over the run)   peak RSS {proc_hwm(broker.pid):.0f} MiB (before: {rss0:.0f} MiB)")
        print(f"  staging branches left: {leftover}   clones left: {len([d for d in os.listdir(os.path.join(root, 'work')) if d != 'scratch.git'])}")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try: p.wait(10)
            except subprocess.TimeoutExpired: p.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
