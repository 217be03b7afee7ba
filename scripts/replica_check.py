"""Three Skyport replicas on one PostgreSQL schema behind HAProxy (ops/haproxy/skyport.cfg), on loopback (issue 16).

  python3 scripts/replica_check.py SKYPORT_BINARY POSTGRES_URL WORKDIR

Checks, all through the load balancer:
  1. 200 offer requests at once for one small facility, spread over the replicas: the sessions booked never hold
     more than its capacity at any instant (read from the database); an offer request a replica's offer gate answers
     503 `overloaded` (two cores, 64 at once) is asked again after its Retry-After, as a client should, and counted;
  2. 200 accepts at once over one offer set: exactly one 200, the other offers REJECTED;
  3. 300 sessions accepted and forwarded to a UWS stand-in that holds its jobs EXECUTING; one replica killed with
     SIGKILL half-way: every session still reaches COMPLETED, and each remote job was created exactly once (counted
     at the stand-in by RUNID, the session id);
  4. a rolling restart (SIGTERM, start again, one replica at a time) while requests flow: no request fails.
Prints what it measured (the takeover time after the SIGKILL among it); exits non-zero naming what failed.
Everything it starts is stopped on exit."""
import concurrent.futures as cf, json, os, signal, socket, subprocess, sys, threading, time, urllib.error, urllib.request

binary, pg_url, work = sys.argv[1], sys.argv[2], sys.argv[3]
db = pg_url + ("&" if "?" in pg_url else "?") + "schema=replicas"
procs, problems = {}, []
children = []


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def log(*a): print("replica-check:", *a, flush=True)


def psql(sql):
    out = subprocess.run(["psql", pg_url.split("?")[0], "-qAt", "-c", f"SET search_path = replicas; {sql}"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


def http(method, url, body=None, token=None, timeout=30):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None: req.add_header("Content-Type", "application/json")
    if token: req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wait_for(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if http("GET", url, timeout=2)[0] == 200: return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


env = dict(os.environ, SKYPORT_SECRET_KEY=os.path.join(work, "skyport.key"), SKYPORT_EGRESS_ALLOW="127.0.0.1",
           SKYPORT_HEALTH_PERIOD="0", SKYPORT_REGISTRY_PERIOD="0", SKYPORT_RATE_LIMIT="0", SKYPORT_FORWARD_LEASE="5",
           SKYPORT_EXPIRY_SWEEP="2", SKYPORT_LOG_LEVEL="notice")
with open(env["SKYPORT_SECRET_KEY"], "wb") as f: f.write(os.urandom(32))
ports = {f"r{i}": free_port() for i in (1, 2, 3)}


def start(name):
    out = open(os.path.join(work, f"{name}.log"), "ab")
    procs[name] = subprocess.Popen([binary, "serve", "--db", db, "--port", str(ports[name])], env=dict(env, SKYPORT_REPLICA_ID=name),
                                   stdout=out, stderr=out)
    if not wait_for(f"http://127.0.0.1:{ports[name]}/health"):
        raise SystemExit(f"FAIL: replica {name} did not start; see {work}/{name}.log")


def cleanup():
    for p in list(procs.values()) + children:
        if p.poll() is None: p.kill()
    for p in list(procs.values()) + children: p.wait()


try:
    token = subprocess.run([binary, "operator", "add", "lb-operator", "--db", db], env=env, capture_output=True, text=True, check=True).stdout.strip()
    for name in ports: start(name)   # the first migrates; the others find the schema done
    uws = free_port()
    children.append(subprocess.Popen([sys.executable, "scripts/bench_uws_standin.py", str(uws), "3"]))
    lb = free_port()
    children.append(subprocess.Popen(["haproxy", "-f", "ops/haproxy/skyport.cfg"], env=dict(
        os.environ, SKYPORT_LB_ADDRESS=f"127.0.0.1:{lb}", **{f"SKYPORT_REPLICA_{i}": f"127.0.0.1:{ports[f'r{i}']}" for i in (1, 2, 3)})))
    base = f"http://127.0.0.1:{lb}"
    if not wait_for(base + "/health") or not wait_for(f"http://127.0.0.1:{uws}/report"):
        raise SystemExit("FAIL: the load balancer or the UWS stand-in did not answer")
    time.sleep(1.5)   # every replica passes its health checks (rise 2, every 500 ms)
    health = {json.loads(http("GET", base + "/health")[2])["replica"] for _ in range(6)}
    log("replicas answering through the load balancer:", sorted(health))
    if health != {"r1", "r2", "r3"}: problems.append(f"/health through the load balancer named {sorted(health)}, not r1..r3")

    def facility(fid, cores, limit, url):
        doc = {"id": fid, "name": fid, "endpoints": [{"kind": "uws", "url": url}], "accepts": ["tap-query"],
               "limits": {"cores": limit, "memory": 8, "duration": "PT2H"}, "capacity": {"cores": cores, "memory": 4096}}
        status, _, out = http("POST", base + "/facilities", doc, token)
        if status != 201: raise SystemExit(f"FAIL: registering {fid}: {status} {out[:300]}")

    overloaded = []   # offer requests a replica's offer gate answered 503 overloaded, each asked again after its Retry-After
    def ask(fid_hint, cores, duration="PT1H"):
        # As a client should: an answer `overloaded` (the gate's, with Retry-After) is asked again, up to 10 times.
        for _ in range(10):
            answer = http("POST", base + "/requests", {"executable": {"kind": "tap-query", "query": "SELECT 1 -- " + fid_hint},
                                                      "compute": {"cores": {"min": cores[0], "max": cores[1]}, "memory": {"min": 1, "max": 1}},
                                                      "schedule": {"requested": {"duration": duration}}})
            status, headers, body = answer
            if status != 503 or b'"overloaded"' not in body: return answer
            overloaded.append(fid_hint)
            time.sleep(float(headers.get("Retry-After") or 1))
        return answer

    # 1. Never overbooked: 200 requests at once for one facility of 8 cores (4 at most per job).
    facility("ivo://lb.example/small", 8, 4, f"http://127.0.0.1:{uws}/jobs")
    replicas_seen = {}
    def ask_small(_):
        status, headers, body = ask("small", (3, 4))
        replicas_seen[headers.get("X-Skyport-Replica")] = replicas_seen.get(headers.get("X-Skyport-Replica"), 0) + 1
        return status
    with cf.ThreadPoolExecutor(64) as pool: statuses = list(pool.map(ask_small, range(200)))
    bad = [s for s in statuses if s not in (200, 201, 303)]
    if bad: problems.append(f"offer requests failed: {bad[:5]}")
    rows = psql("SELECT start, \"end\", cores FROM session WHERE facility_key = 'ivo://lb.example/small' "
                "AND phase IN ('OFFERED','ACCEPTED','WAITING','PREPARING','AVAILABLE','RUNNING','RELEASING')")
    edges = sorted([(float(s), int(c)) for s, e, c in rows] + [(float(e), -int(c)) for s, e, c in rows], key=lambda x: (x[0], x[1]))
    held = peak = 0
    for _, c in edges:
        held += c; peak = max(peak, held)
    log(f"1. 200 offer requests for an 8-core facility: {len(rows)} offers booked, peak {peak} cores; answered by {replicas_seen}; "
        f"{len(overloaded)} answered overloaded first and asked again")
    if peak > 8: problems.append(f"overbooked: {peak} cores held at once on an 8-core facility")
    if len([k for k in replicas_seen if k]) < 3: problems.append(f"requests were not spread over the replicas: {replicas_seen}")

    # 2. One winner: 200 accepts at once over the offers of one set.
    facility("ivo://lb.example/wide", 4096, 4, f"http://127.0.0.1:{uws}/jobs")
    status, _, body = ask("wide", (1, 1))
    offers = json.loads(body).get("offers", [])
    if len(offers) < 2: raise SystemExit(f"FAIL: expected several offers for one set, got {len(offers)}: {body[:300]}")
    urls = [o["meta"]["url"].replace(o["meta"]["url"].split("/sessions")[0], base) for o in offers]
    def accept(url):
        return http("POST", url, {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"})[0]
    with cf.ThreadPoolExecutor(64) as pool: results = list(pool.map(accept, [urls[i % len(urls)] for i in range(200)]))
    # An acceptance repeated on the winning offer is answered 200 again (idempotent); count the winners stored.
    phases = [json.loads(http("GET", u)[2])["phase"] for u in urls]
    log(f"2. 200 accepts over {len(urls)} offers of one set: answers {sorted(set(results))} ({results.count(200)} 200s), phases {phases}")
    # The winner may already be on its way (forwarded: PREPARING, RUNNING...); every other offer is REJECTED.
    if phases.count("REJECTED") != len(urls) - 1:
        problems.append(f"parallel accepts: phases {phases}")
    winner = next((u for u, p in zip(urls, phases) if p != "REJECTED"), None)
    if any(r == 200 for u, r in zip([urls[i % len(urls)] for i in range(200)], results) if u != winner):
        problems.append("an accept of a losing offer was answered 200")
    if results.count(200) != 1 or any(r not in (200, 409) for r in results):
        problems.append(f"parallel accepts: {results.count(200)} answered 200, others {sorted(set(results) - {200})} (one 200, the rest 409)")

    # 3. 300 sessions forwarded; r2 killed half-way.
    accepted, unsure = [], []
    def request_and_accept(i):
        status, _, out = ask(f"job {i}", (1, 1), "PT10M")
        if status not in (200, 201): return None
        first = json.loads(out)["offers"][0]["meta"]["url"]
        url = first.replace(first.split("/sessions")[0], base)
        if accept(url) == 200: return url
        # No answer from the replica that was killed while it accepted (the load balancer sent the accept again to
        # another, which found it accepted and under way): as a client would, read the session to know.
        unsure.append(url)
        phase = json.loads(http("GET", url)[2]).get("phase")
        return url if phase not in ("OFFERED", "REJECTED", "EXPIRED") else None
    killed_at = None
    with cf.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(request_and_accept, i) for i in range(300)]
        for n, f in enumerate(cf.as_completed(futures)):
            if f.result(): accepted.append(f.result())
            if n == 150 and killed_at is None:
                procs["r2"].send_signal(signal.SIGKILL); procs["r2"].wait(); killed_at = time.time()
                log("3. r2 killed (SIGKILL) after 150 acceptances")
    if unsure: log(f"3. {len(unsure)} acceptance(s) answered otherwise than 200 around the kill; read back: {len(unsure)} under way")
    if len(accepted) != 300: problems.append(f"only {len(accepted)} of 300 sessions were accepted")
    ids = [u.rstrip("/").split("/")[-1].lower() for u in accepted]
    deadline = time.time() + 180
    while time.time() < deadline:
        done = psql("SELECT count(*) FROM session WHERE phase = 'COMPLETED' AND facility_key = 'ivo://lb.example/wide' "
                    "AND offer_set_id IN (SELECT offer_set_id FROM session WHERE id::text = ANY(ARRAY[" + ",".join(f"'{i}'" for i in ids) + "]))")
        if int(done[0][0]) >= len(ids): break
        time.sleep(1)
    phases = dict((k, int(v)) for k, v in psql("SELECT phase, count(*) FROM session WHERE id::text = ANY(ARRAY[" + ",".join(f"'{i}'" for i in ids) + "]) GROUP BY phase"))
    report = json.loads(http("GET", f"http://127.0.0.1:{uws}/report")[2])
    runs = report["runs"]
    twice = {r: n for r, n in runs.items() if n != 1}
    missing = [i for i in ids if i not in runs]
    taken = psql("SELECT count(*) FROM session WHERE lease_owner IS NOT NULL AND id::text = ANY(ARRAY[" + ",".join(f"'{i}'" for i in ids) + "])")
    log(f"3. 300 forwarded sessions: phases {phases}; jobs at the stand-in {report['jobs']}, created twice {len(twice)}, "
        f"never created {len(missing)}; all ended {time.time() - killed_at:.1f} s after the kill (lease 5 s, jobs held ~3 s)")
    if phases.get("COMPLETED", 0) != len(ids): problems.append(f"not every forwarded session completed: {phases}")
    if twice: problems.append(f"remote jobs created more than once: {list(twice.items())[:5]}")
    if missing: problems.append(f"sessions whose remote job was never created: {missing[:5]}")
    start("r2")

    # 4. Rolling restart while requests flow: nothing fails.
    time.sleep(1.5)
    stop, outcomes = threading.Event(), []
    def flow():
        i = 0
        while not stop.is_set():
            i += 1
            try:
                status = ask(f"flow {i}", (1, 1), "PT10M")[0] if i % 2 else http("GET", base + "/facilities")[0]
            except Exception as e:
                status = repr(e)
            outcomes.append(status)
            time.sleep(0.02)
    flows = [threading.Thread(target=flow) for _ in range(4)]
    for t in flows: t.start()
    for name in ("r1", "r2", "r3"):
        time.sleep(1)
        procs[name].send_signal(signal.SIGTERM)
        code = procs[name].wait(timeout=60)
        start(name)
        time.sleep(1.5)   # back in the load balancer (rise 2, every 500 ms)
        log(f"4. {name} stopped with SIGTERM (exit {code}) and started again")
    time.sleep(1)
    stop.set()
    for t in flows: t.join()
    failed = [o for o in outcomes if o not in (200, 201)]
    log(f"4. rolling restart: {len(outcomes)} requests during it, {len(failed)} failed {failed[:5]}; "
        f"{len(overloaded)} offer requests in all answered overloaded first and asked again")
    if failed: problems.append(f"{len(failed)} requests failed during the rolling restart: {failed[:5]}")
    if len(outcomes) < 100: problems.append(f"too few requests flowed during the restart: {len(outcomes)}")
finally:
    cleanup()

if problems:
    print("FAIL:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("ok: three replicas behind HAProxy: no overbooking, one winner, every forwarded job once and ended after a SIGKILL, "
      "no failed request in a rolling restart")
