#!/usr/bin/env python3
"""Stand-in ExecutionBrokers for Skyport's federation tests and benchmark.

Starts N small ExecutionBroker v1.0 servers on loopback, each on its own port, each answering after its own
latency. Each one:
  POST /requests            -> after its delay, 303 See Other to /offersets/{uuid}, with the offer set as the body
                               (as Skyport and the Calycopis broker do); its offers echo the request's cores/memory
  GET  /offersets/{uuid}    -> the offer set
  GET  /sessions/{uuid}     -> the session; ?wait=N&phase=P holds until the phase is no longer P (at most N s)
  POST /sessions/{uuid}     -> {"kind":"uri:enum-value-update","path":"phase","value":ACCEPTED|REJECTED|CANCELLED}
                               accepting rejects the other OFFERED sessions of the set; a bad move is a 409
  GET  /_standin/stats      -> what it saw: requests, Skyport-Via headers, session phases
An accepted session is PREPARING, then RUNNING after `--run-after` s, then COMPLETED after `--complete-after` s,
with one result. Offers expire after `--offer-lifetime` s.

Modes per broker (`--modes ok,no,error,...`, repeated over the brokers): ok (offers), no (result NO),
error (HTTP 500), garbage (200 with HTML).

Usage: broker_standin.py --count 3 --delays 0,50,1500 --ports-file F [--modes ok,ok,error]
       broker_standin.py --count 50 --delay-min 0 --delay-max 200 --seed 7 --ports-file F
The ports file gets a JSON list of {"port", "delay_ms", "mode"}. The process ends when its parent does.
"""
import argparse
import json
import os
import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def iso(t):
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Broker:
    def __init__(self, delay_ms, mode, args):
        self.delay = delay_ms / 1000.0
        self.mode = mode
        self.args = args
        self.lock = threading.Lock()
        self.sets = {}
        self.sessions = {}
        self.requests = 0
        self.vias = []
        self.timings = []  # (received, answered) per /requests, in seconds, for the benchmark
        self.port = None

    def phase(self, s, now=None):
        now = now or time.time()
        if s["phase"] == "OFFERED" and now >= s["expires"]:
            s["phase"] = "EXPIRED"
        if s["phase"] in ("PREPARING", "RUNNING") and s.get("accepted"):
            since = now - s["accepted"]
            if since >= self.args.complete_after:
                s["phase"] = "COMPLETED"
            elif since >= self.args.run_after:
                s["phase"] = "RUNNING"
        return s["phase"]

    def session_doc(self, s):
        base = f"http://127.0.0.1:{self.port}"
        phase = self.phase(s)
        doc = {
            "kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/session/scheduled-execution-session-1.0",
            "meta": {"uuid": s["id"], "url": f"{base}/sessions/{s['id']}", "created": iso(s["created"])},
            "phase": phase,
            "compute": {"cores": {"min": s["cores"], "max": s["cores"]}, "memory": {"min": s["memory"], "max": s["memory"]}},
            "schedule": {"available": {"start": iso(s["start"]) + "/PT0S", "duration": "PT1H"}},
            "facility": {"id": "standin-cluster", "name": f"stand-in cluster {self.port}"},
        }
        if phase == "OFFERED":
            doc["expires"] = iso(s["expires"])
        if phase == "COMPLETED":
            doc["results"] = [{"id": "result", "href": f"{base}/results/{s['id']}"}]
        return doc

    def set_doc(self, offer_set):
        base = f"http://127.0.0.1:{self.port}"
        offers = [self.session_doc(self.sessions[i]) for i in offer_set["offers"]]
        return {
            "kind": "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/offerset/execution-offerset-1.0",
            "meta": {"uuid": offer_set["id"], "url": f"{base}/offersets/{offer_set['id']}", "created": iso(offer_set["created"]),
                     "messages": [{"kind": "urn:standin", "level": "INFO", "message": f"stand-in broker {self.port}"}]},
            "result": "YES" if offers and self.mode == "ok" else "NO",
            "offers": offers if self.mode == "ok" else [],
        }

    def create(self, request):
        compute = request.get("compute") or {}
        cores = self.args.cores or (compute.get("cores") or {}).get("min") or 1
        memory = (compute.get("memory") or {}).get("min") or 1
        now = time.time()
        set_id = str(uuid.uuid4())
        offers = []
        for i in range(self.args.offers if self.mode == "ok" else 0):
            sid = str(uuid.uuid4())
            self.sessions[sid] = {"id": sid, "set": set_id, "phase": "OFFERED", "created": now, "cores": int(cores),
                                  "memory": int(memory), "start": now + 60 + i * 3600, "expires": now + self.args.offer_lifetime}
            offers.append(sid)
        self.sets[set_id] = {"id": set_id, "created": now, "offers": offers}
        return self.sets[set_id]

    def move(self, s, value):
        phase = self.phase(s)
        if value == "ACCEPTED" and phase == "OFFERED":
            s["phase"], s["accepted"] = "PREPARING", time.time()
            for other in self.sets[s["set"]]["offers"]:
                o = self.sessions[other]
                if o is not s and self.phase(o) == "OFFERED":
                    o["phase"] = "REJECTED"
            return True
        if value == "REJECTED" and phase == "OFFERED":
            s["phase"] = "REJECTED"
            return True
        if value == "CANCELLED" and phase in ("OFFERED", "PREPARING", "RUNNING"):
            s["phase"] = "CANCELLED"
            return True
        return False


def handler_for(broker):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as they are written: with Nagle's algorithm on, the body waits for the client's
        # delayed ACK of the headers (40 ms), which would be counted as the broker's latency.
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def send(self, status, doc=None, headers=(), body=None, ctype="application/json"):
            data = body if body is not None else (json.dumps(doc).encode() if doc is not None else b"")
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                return json.loads(raw or b"{}")
            except ValueError:
                return None

        def do_POST(self):
            path = urlparse(self.path).path
            if path == "/requests":
                received = time.time()
                request = self.body()
                with broker.lock:
                    broker.requests += 1
                    broker.vias.append(self.headers.get("Skyport-Via"))
                time.sleep(broker.delay)
                if broker.mode == "error":
                    return self.send(500, {"status": 500, "code": "internal", "message": "stand-in failure"})
                if broker.mode == "garbage":
                    return self.send(200, body=b"<html>not a broker</html>", ctype="text/html")
                if request is None:
                    return self.send(400, {"status": 400, "code": "invalid", "message": "not JSON"})
                with broker.lock:
                    offer_set = broker.create(request)
                    doc = broker.set_doc(offer_set)
                self.send(303, doc, headers=[("Location", doc["meta"]["url"])])
                with broker.lock:
                    broker.timings.append((received, time.time()))
                return
            if path.startswith("/sessions/"):
                sid = path.rsplit("/", 1)[-1]
                update = self.body() or {}
                with broker.lock:
                    s = broker.sessions.get(sid)
                    if s is None:
                        return self.send(404, {"status": 404, "code": "not-found", "message": f"session {sid}"})
                    if not broker.move(s, str(update.get("value", "")).upper()):
                        return self.send(409, {"status": 409, "code": "illegal-transition",
                                               "message": f"cannot move from {broker.phase(s)} to {update.get('value')}"})
                    return self.send(200, broker.session_doc(s))
            return self.send(404, {"status": 404, "code": "not-found", "message": path})

        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if url.path == "/_standin/stats":
                with broker.lock:
                    return self.send(200, {"requests": broker.requests, "vias": broker.vias, "timings": broker.timings,
                                           "sessions": {k: broker.phase(v) for k, v in broker.sessions.items()}})
            if url.path.startswith("/offersets/"):
                with broker.lock:
                    offer_set = broker.sets.get(url.path.rsplit("/", 1)[-1])
                    if offer_set is None:
                        return self.send(404, {"status": 404, "code": "not-found", "message": url.path})
                    return self.send(200, broker.set_doc(offer_set))
            if url.path.startswith("/sessions/"):
                sid = url.path.rsplit("/", 1)[-1]
                wait = min(float(query.get("wait", ["0"])[0] or 0), 60)
                end = time.time() + wait
                while True:
                    with broker.lock:
                        s = broker.sessions.get(sid)
                        if s is None:
                            return self.send(404, {"status": 404, "code": "not-found", "message": f"session {sid}"})
                        phase = broker.phase(s)
                        awaited = query.get("phase", [phase])[0].upper()
                        if phase != awaited or time.time() >= end:
                            return self.send(200, broker.session_doc(s))
                    time.sleep(0.05)
            if url.path.startswith("/results/"):
                return self.send(200, body=b"<VOTABLE/>", ctype="application/x-votable+xml")
            return self.send(404, {"status": 404, "code": "not-found", "message": url.path})

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--delays", default="")
    p.add_argument("--delay-min", type=float, default=0)
    p.add_argument("--delay-max", type=float, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--modes", default="ok")
    p.add_argument("--offers", type=int, default=2)
    p.add_argument("--cores", type=int, default=0, help="offer this many cores whatever was asked (0: what was asked)")
    p.add_argument("--offer-lifetime", type=float, default=300)
    p.add_argument("--run-after", type=float, default=0.5)
    p.add_argument("--complete-after", type=float, default=1.5)
    p.add_argument("--ports-file", required=True)
    args = p.parse_args()
    rng = random.Random(args.seed)
    delays = [float(d) for d in args.delays.split(",") if d] or [rng.uniform(args.delay_min, args.delay_max) for _ in range(args.count)]
    modes = args.modes.split(",")
    listed = []
    for i in range(args.count):
        broker = Broker(delays[i % len(delays)], modes[i % len(modes)], args)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(broker))
        server.daemon_threads = True
        broker.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        listed.append({"port": broker.port, "delay_ms": delays[i % len(delays)], "mode": broker.mode})
    tmp = args.ports_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(listed, f)
    os.replace(tmp, args.ports_file)
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)


if __name__ == "__main__":
    main()
