"""A UWS 1.1 stand-in for the benchmarks, on loopback: `python3 scripts/bench_uws_standin.py PORT HOLD`.

POST /jobs creates a job (PENDING, its RUNID kept) and answers 303 to /jobs/<n> (jobs are numbered 1, 2, ... in
creation order); POST /jobs/<n>/phase with PHASE=RUN starts it, and it is EXECUTING for HOLD seconds (+-30 %), then
COMPLETED with one result. GET /jobs/<n> honours WAIT (and PHASE): it blocks until the phase changes or WAIT ends,
one sleep per request, so thousands of blocked polls cost nothing. GET /jobs is the job list, filtered by PHASE (a
union, as UWS 1.1 and DaCHS do): what a broker reads to follow many jobs at once. JSON POSTs to /notice/<n> (a
session's callback) record when the completion of the job created for that session (its RUNID) reached it; GET /report sums up jobs (and how many were created with each RUNID), completions, how soon
notices came, the W3C traceparent each job was created with, and how many list reads, blocking waits and plain job reads were answered. POSTs under /flaky/ are answered 503. Anything else (e.g. the
broker's VOSI availability probe) is a 404. Used by scripts/bench-tracking.sh and scripts/bench-load.sh (accept10)."""
import bisect, http.server, json, random, sys, threading, time, urllib.parse
port, hold = int(sys.argv[1]), float(sys.argv[2])
jobs, notices, by_run, lock = {}, {}, {}, threading.Lock()
stats = {"lists": 0, "reads": 0, "waits": 0}
list_times = []  # when each job list was built (its snapshot of the phases), to split the broker's detection in two
NS = 'xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink"'
def phase(j):
    if j["run"] is None: return "PENDING"
    return "COMPLETED" if time.time() >= j["done"] else "EXECUTING"
def doc(i, j):
    p = phase(j)
    res = f'<uws:result id="r" xlink:href="http://127.0.0.1:{port}/jobs/{i}/r"/>' if p == "COMPLETED" else ""
    return (f'<uws:job {NS} version="1.1"><uws:jobId>{i}</uws:jobId><uws:runId>{j["runid"]}</uws:runId><uws:phase>{p}</uws:phase>'
            f'<uws:executionDuration>0</uws:executionDuration><uws:results>{res}</uws:results></uws:job>').encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body=b"", ctype="text/xml", loc=None):
        self.send_response(status); self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body)))
        if loc: self.send_header("Location", loc)
        self.end_headers(); self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0); form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        path = self.path.split("?")[0]
        if path.startswith("/flaky/"):  # a job list that is always out of service (scripts/prometheus-check.sh)
            return self.reply(503, b"")
        if path == "/jobs":
            with lock:
                i = len(jobs) + 1; jobs[i] = {"run": None, "done": 0, "runid": form.get("RUNID", [""])[0], "traceparent": self.headers.get("traceparent")}
            return self.reply(303, b"", loc=f"/jobs/{i}")
        if path.endswith("/phase"):
            i = int(path.split("/")[2])
            with lock:
                if form.get("PHASE", [""])[0] == "RUN" and jobs[i]["run"] is None:
                    jobs[i]["run"] = time.time(); jobs[i]["done"] = time.time() + hold * random.uniform(0.7, 1.3)
                    if jobs[i]["runid"]: by_run[jobs[i]["runid"].lower()] = i  # the job that runs for this RUNID
            return self.reply(303, b"", loc=f"/jobs/{i}")
        self.reply(404, b"")
    def do_GET(self):
        u = urllib.parse.urlparse(self.path); q = urllib.parse.parse_qs(u.query); parts = u.path.split("/")
        if u.path == "/report":
            with lock:
                lat = sorted(notices[k] - jobs[k]["done"] for k in notices)
                # How soon after completing each job was read as completed (without a WAIT): the broker's detection.
                seen = sorted(j["read"] - j["done"] for j in jobs.values() if "read" in j)
                worst = sorted(((notices[k] - jobs[k]["done"], k, round(jobs[k]["done"] - jobs[k]["run"], 1)) for k in notices), reverse=True)[:5]
                done_by_run = {j["runid"]: j["done"] for j in jobs.values() if j["run"]}
                # Detection in two parts: from the change to the first list that no longer showed the job EXECUTING,
                # and from that list to the broker's read of the job; and the gaps between list reads.
                snap, after, times = [], [], sorted(list_times)
                for j in jobs.values():
                    if "read" not in j: continue
                    k = bisect.bisect_left(times, j["done"])
                    if k < len(times): snap.append(times[k] - j["done"]); after.append(j["read"] - times[k])
                gaps = [b - a for a, b in zip(times, times[1:])]
                pct = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))] if xs else None
                split = {"snapshot_p50": pct(snap, 0.5), "snapshot_p99": pct(snap, 0.99), "list_to_read_p50": pct(after, 0.5), "list_to_read_p99": pct(after, 0.99),
                         "gap_p50": pct(gaps, 0.5), "gap_p99": pct(gaps, 0.99), "gap_max": max(gaps) if gaps else None}
                runs = {}
                for j in jobs.values(): runs[j["runid"]] = runs.get(j["runid"], 0) + 1
                body = json.dumps({"split": split, "runs": runs, "stats": stats, "worst": worst, "done_by_run": done_by_run, "traceparents": [j["traceparent"] for j in jobs.values()], "jobs": len(jobs), "done": sum(1 for j in jobs.values() if j["run"] and time.time() >= j["done"]), "noticed": len(lat),
                                   "read_p50": seen[len(seen)//2] if seen else None, "read_p99": seen[int(len(seen)*0.99)] if seen else None,
                                   "p50": lat[len(lat)//2] if lat else None, "p99": lat[int(len(lat)*0.99)] if lat else None, "max": lat[-1] if lat else None}).encode()
            return self.reply(200, body, "application/json")
        if u.path == "/jobs":
            # The job list, filtered by PHASE (a union; UWS 1.1), as DaCHS does: what a broker reads to follow many jobs.
            asked = set(q.get("PHASE", []))
            with lock: t_list = time.time(); listed = [(i, phase(j), j["runid"]) for i, j in jobs.items()]
            refs = "".join(f'<uws:jobref id="{i}" xlink:href="http://127.0.0.1:{port}/jobs/{i}"><uws:phase>{p}</uws:phase><uws:runId>{r}</uws:runId></uws:jobref>'
                           for i, p, r in listed if not asked or p in asked)
            with lock: stats["lists"] += 1; list_times.append(t_list)
            return self.reply(200, f'<uws:jobs {NS} version="1.1">{refs}</uws:jobs>'.encode())
        if len(parts) < 3 or not parts[2].isdigit() or int(parts[2]) not in jobs:
            return self.reply(404, b"no such job", "text/plain")  # e.g. the broker's VOSI availability probe
        i = int(parts[2]); j = jobs[i]
        wait = float(q.get("WAIT", ["0"])[0]); known = q.get("PHASE", [None])[0]
        with lock:
            stats["waits" if wait > 0 else "reads"] += 1
            if wait == 0 and phase(j) == "COMPLETED": j.setdefault("read", time.time())  # the broker read it completed
        # Block until the phase changes (the only change a running job makes is to COMPLETED at "done") or WAIT ends:
        # one sleep per request, so that thousands of blocked requests cost the stand-in nothing.
        if wait > 0 and (known is None or phase(j) == known):
            deadline = time.time() + wait
            until = min(deadline, j["done"]) if phase(j) == "EXECUTING" else deadline
            time.sleep(max(0.0, until - time.time()))
        self.reply(200, doc(i, j))
    def do_PUT(self): self.reply(405)
http.server.ThreadingHTTPServer.request_queue_size = 4096
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):  # a client that hangs up (a broker closing an idle connection) is no error
        if not isinstance(sys.exc_info()[1], ConnectionError): super().handle_error(request, client_address)
srv = Server(("127.0.0.1", port), H)
# Callbacks come as JSON POSTs to /notice/<job>: record when each job's completion was seen by the broker.
orig = H.do_POST
def do_POST(self):
    if self.path.startswith("/notice/"):
        n = int(self.headers.get("Content-Length") or 0); body = json.loads(self.rfile.read(n) or b"{}")
        # The job is the one created with the notice's session as its RUNID: the broker creates jobs concurrently, so
        # their numbers need not follow the order in which sessions were accepted (the number in the path is only a
        # fallback for a broker that sends no RUNID).
        with lock:
            i = by_run.get(str(body.get("session", "")).lower())
            if i is None or jobs[i]["run"] is None: i = int(self.path.split("/")[2])
        if body.get("phase") == "COMPLETED":
            with lock: notices.setdefault(i, time.time())
        return self.reply(200, b"ok", "text/plain")
    return orig(self)
H.do_POST = do_POST
srv.serve_forever()
