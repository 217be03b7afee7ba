#!/usr/bin/env bash
# One trace across the federation (issue 19): three Skyport brokers A -> B -> C, each exporting spans over OTLP/HTTP
# to a receiver that decodes real OTLP protobuf (scripts/otlp_receiver.py, opentelemetry-proto from PyPI), and C's
# facility a UWS stand-in (scripts/bench_uws_standin.py) that records the traceparent each job was created with.
#   - an offer request sent to A with a traceparent: A, B and C each have spans in that trace;
#   - accepting the offer at A with another traceparent: the acceptance, every forwarding step at A, B and C, and the
#     job created at the UWS service are all that one trace, and A's log lines carry its trace id.
# Usage: scripts/trace-check.sh [PATH-TO-SKYPORT]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/skyport}
venv="${SKYPORT_PYVO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/pyvo-venv}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*" >&2; for b in A B C; do echo "--- broker $b log" >&2; tail -15 "$work/$b.log" >&2; done; exit 1; }
wait_up() { for _ in $(seq 1 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; fail "$1 did not answer"; }

otlp=$(free_port); uws=$(free_port)
"$venv/bin/python" scripts/otlp_receiver.py "$otlp" "$work/spans.jsonl" & pids+=($!)
python3 scripts/bench_uws_standin.py "$uws" 1 & pids+=($!)
declare -A port token
for b in A B C; do
  port[$b]=$(free_port)
  token[$b]=$("$bin" operator add "op-$b" --db "$work/$b.sqlite")
  SKYPORT_BROKER_ID="broker-$b" SKYPORT_OTLP_ENDPOINT="http://127.0.0.1:$otlp" SKYPORT_EGRESS_ALLOW=127.0.0.1 \
    SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 SKYPORT_RATE_LIMIT=0 \
    "$bin" serve --db "$work/$b.sqlite" --port "${port[$b]}" --log-format json >"$work/$b.log" 2>&1 &
  pids+=($!)
done
for b in A B C; do wait_up "http://127.0.0.1:${port[$b]}/health"; done
wait_up "http://127.0.0.1:$uws/report"

register() { # BROKER DOCUMENT
  code=$(curl -s -o "$work/out" -w '%{http_code}' -X POST "http://127.0.0.1:${port[$1]}/facilities" \
    -H "Authorization: Bearer ${token[$1]}" -H 'Content-Type: application/json' -d "$2")
  [ "$code" = 201 ] || fail "registering on $1: $code $(cat "$work/out")"
}
register C '{"id":"ivo://trace.example/tap","name":"Trace TAP","endpoints":[{"kind":"uws","url":"http://127.0.0.1:'"$uws"'/jobs"}],"accepts":["tap-query"],"limits":{"cores":4,"memory":8,"duration":"PT2H"},"capacity":{"cores":16,"memory":64}}'
register B '{"id":"ivo://trace.example/broker-c","name":"Broker C","endpoints":[{"kind":"executionbroker","url":"http://127.0.0.1:'"${port[C]}"'/","offerDeadline":"PT20S"}],"accepts":["tap-query"]}'
register A '{"id":"ivo://trace.example/broker-b","name":"Broker B","endpoints":[{"kind":"executionbroker","url":"http://127.0.0.1:'"${port[B]}"'/","offerDeadline":"PT20S"}],"accepts":["tap-query"]}'

asked=0af7651916cd43dd8448eb211c80319c
accepted=4bf92f3577b34da6a3ce929d0e0e4736
curl -s -o "$work/set.json" "http://127.0.0.1:${port[A]}/requests" -H 'Content-Type: application/json' -H 'Accept: application/json' -L \
  -H "traceparent: 00-$asked-00f067aa0ba902b7-01" \
  -d '{"executable":{"kind":"tap-query","query":"SELECT 1"},"compute":{"cores":{"min":1,"max":1},"memory":{"min":1,"max":1}},"schedule":{"requested":{"duration":"PT10M"}}}'
session=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["offers"][0]["meta"]["url"])' "$work/set.json") \
  || fail "no offer from A: $(head -c 2000 "$work/set.json")"
code=$(curl -s -o "$work/out" -w '%{http_code}' -X POST "$session" -H 'Content-Type: application/json' \
  -H "traceparent: 00-$accepted-00f067aa0ba902b8-01" -d '{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}')
[ "$code" = 200 ] || fail "accepting at A: $code $(cat "$work/out")"
phase=""
for _ in $(seq 1 60); do
  phase=$(curl -s "$session?wait=5" -H 'Accept: application/json' | python3 -c 'import json,sys; print(json.load(sys.stdin).get("phase",""))')
  [ "$phase" = COMPLETED ] && break
done
[ "$phase" = COMPLETED ] || fail "A's session did not complete: $phase"
echo "ok: the session accepted at A ran at C's UWS service to COMPLETED"

# Spans leave each broker in batches (every second): wait until the receiver has them all.
"$venv/bin/python" - "$work/spans.jsonl" "$asked" "$accepted" "http://127.0.0.1:$uws/report" "$work/A.log" <<'PY' || fail "the traces are not whole"
import json, sys, time, urllib.request
spans_file, asked, accepted, report, log = sys.argv[1:6]
def spans(trace):
    try:
        lines = open(spans_file).read().splitlines()
    except FileNotFoundError:
        return []
    return [s for s in map(json.loads, lines) if s["trace_id"] == trace]
def instances(trace): return {s["instance"] for s in spans(trace)}
want = {"broker-A", "broker-B", "broker-C"}
def forwarded_at_c(): return any(s["instance"] == "broker-C" and s["name"].startswith("POST uws") for s in spans(accepted))
def problems():
    found = []
    for name, trace in (("the offer request", asked), ("the acceptance", accepted)):
        got = instances(trace)
        if not got >= want: found.append(f"{name}: spans only from {sorted(got)}")
    for b in ("broker-A", "broker-B", "broker-C"):
        if not any(s["instance"] == b and s["name"] == "forward" for s in spans(accepted)):
            found.append(f"no forwarding step of {b} in the acceptance's trace")
    if not any(s["name"] == "match" for s in spans(asked)) or not any(s["name"] == "book" for s in spans(asked)):
        found.append("no match or book span in the offer request's trace")
    if not forwarded_at_c(): found.append("C's call to the UWS service is not in the acceptance's trace")
    return found
# Every span checked may come in a later batch than the others (each broker exports its own, every second): wait until
# all are there, or 30 s.
for _ in range(60):
    if not problems(): break
    time.sleep(0.5)
for name, trace in (("the offer request", asked), ("the acceptance", accepted)):
    print(f"{name}: trace {trace}: {len(spans(trace))} spans from {sorted(instances(trace))}: " + ", ".join(sorted({s['name'] for s in spans(trace)})))
found = problems()
parents = json.load(urllib.request.urlopen(report))["traceparents"]
if not any(p and p.split("-")[1] == accepted for p in parents):
    found.append(f"the UWS service's job was not created with the acceptance's traceparent: {parents}")
if f'"trace_id":"{accepted}"' not in open(log).read():
    found.append("A's log lines do not carry the acceptance's trace id")
if found:
    print("\n".join(found)); sys.exit(1)
print("ok: one trace per request across brokers A, B and C and the UWS service; log lines carry the trace id")
PY
