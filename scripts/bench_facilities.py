"""The benchmarks' facilities, registered through the operator API: the same 100 (or N) in every script, so that
their numbers compare. Each runs two of four executable kinds, with per-job limits and capacity that vary, and a
UWS endpoint on a closed loopback port (the health service is off in the benchmarks, so it is never called), or all
on one UWS service that runs the jobs (`endpoint`, e.g. scripts/bench_uws_standin.py's job list). `capacity` (cores,
memory) replaces the 256 cores and 1024 GiB each facility has: sustained load books them all within seconds, after
which most requests get NO."""
import json

KINDS = ["jupyter-notebook", "docker-container", "tap-query", "binder-notebook"]


def register(conn, token, n=100, endpoint=None, capacity=(256, 1024)):
    for i in range(n):
        doc = {"id": f"f{i:03d}", "name": f"Facility {i}", "endpoints": [{"kind": "uws", "url": endpoint or f"http://127.0.0.1:1/{i}"}],
               "accepts": [KINDS[i % 4], KINDS[(i + 1) % 4]], "limits": {"cores": 8 + i % 24, "memory": 16 + i % 48, "duration": "P1D"},
               "capacity": {"cores": capacity[0], "memory": capacity[1]}, "data": {"rses": [f"RSE_{i % 10}"]}}
        conn.request("POST", "/facilities", json.dumps(doc), {"Content-Type": "application/json", "Authorization": "Bearer " + token})
        r = conn.getresponse(); r.read()
        assert r.status == 201, r.status
