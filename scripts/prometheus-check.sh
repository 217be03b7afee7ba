#!/usr/bin/env bash
# Operations as code, checked against the real tools (issue 19):
#   1. the alert rules pass `promtool check rules` and their unit tests (`promtool test rules`);
#   2. a real Prometheus server (Debian's `prometheus`) on loopback scrapes a Skyport after a small workload that
#      reaches every metric family (offers, a NO, an acceptance forwarded to a facility that cannot be reached,
#      health checks, a federated broker and a registry source that cannot be reached either), loads the alert
#      rules, and answers PromQL queries over its HTTP API with the expected series;
#   3. the Grafana dashboard is well-formed, and every metric a dashboard query, an alert or the README names is
#      one Skyport exposed (scripts/ops_check.py, with the metric names Prometheus scraped).
# Usage: scripts/prometheus-check.sh [PATH-TO-SKYPORT]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/skyport}
venv="${SKYPORT_PYVO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/pyvo-venv}"
command -v promtool >/dev/null || { echo "ERROR: promtool is missing (Debian package prometheus)" >&2; exit 1; }

promtool check rules ops/prometheus/skyport-alerts.yml
promtool test rules ops/prometheus/skyport-alerts-test.yml

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*" >&2; echo "--- skyport log" >&2; tail -20 "$work/skyport.log" >&2; echo "--- prometheus log" >&2; tail -20 "$work/prometheus.log" >&2; exit 1; }

port=$(free_port); base="http://127.0.0.1:$port"
token=$("$bin" operator add ops-check --db "$work/skyport.sqlite")
SKYPORT_EGRESS_ALLOW=127.0.0.1 SKYPORT_HEALTH_PERIOD=1 SKYPORT_REGISTRY_PERIOD=3600 SKYPORT_RATE_LIMIT=0 \
  "$bin" serve --db "$work/skyport.sqlite" --port "$port" >"$work/skyport.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$base/health" >/dev/null || fail "skyport did not start"

post() { curl -s -o "$work/out" -w '%{http_code}' -X POST "$base$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$2"; }
# A UWS stand-in (scripts/bench_uws_standin.py) passes every health check (no VOSI: its job list answers), runs jobs,
# and answers 503 to every POST under /flaky/. So: ops/tap takes and runs a TAP query; ops/flaky is healthy but its
# forwarded job is retried; the broker ops/eb is healthy but answers no offer request; ops/down (nothing listens on
# port 1, and nothing asks for what it accepts) fails its health checks; the registry source cannot be reached. No
# health check can change an answer the checks below expect.
uws=$(free_port)
python3 scripts/bench_uws_standin.py "$uws" 1 & pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$uws/report" >/dev/null 2>&1 && break; sleep 0.1; done
facility() { # ID KIND URL ACCEPTS
  [ "$(post /facilities '{"id":"'"$1"'","name":"'"$1"'","endpoints":[{"kind":"'"$2"'","url":"'"$3"'"}],"accepts":["'"$4"'"],"limits":{"cores":4,"memory":8,"duration":"PT2H"},"capacity":{"cores":16,"memory":64}}')" = 201 ] \
    || fail "facility $1: $(cat "$work/out")"
}
facility ivo://ops.example/tap uws "http://127.0.0.1:$uws/jobs" tap-query
facility ivo://ops.example/flaky uws "http://127.0.0.1:$uws/flaky/jobs" docker-container
facility ivo://ops.example/down uws "http://127.0.0.1:1/down/jobs" singularity-container
[ "$(post /facilities '{"id":"ivo://ops.example/eb","name":"Ops broker","endpoints":[{"kind":"executionbroker","url":"http://127.0.0.1:'"$uws"'/eb/","offerDeadline":"PT2S"}],"accepts":["tap-query"]}')" = 201 ] \
  || fail "broker facility: $(cat "$work/out")"
[ "$(post /registry/sources '{"url":"http://127.0.0.1:1/oai"}')" = 201 ] || fail "registry source: $(cat "$work/out")"
accept() { # REQUEST-BODY: asks, then accepts the first offer
  curl -s -o "$work/set.json" "$base/requests" -H 'Content-Type: application/json' -H 'Accept: application/json' -L -d "$1"
  local session code
  session=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["offers"][0]["meta"]["url"])' "$work/set.json") \
    || fail "no offer: $(head -c 2000 "$work/set.json")"
  code=$(curl -s -o "$work/out" -w '%{http_code}' -X POST "$session" -H 'Content-Type: application/json' -d '{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}')
  [ "$code" = 200 ] || fail "accept: $code $(cat "$work/out")"
}
accept '{"executable":{"kind":"tap-query","query":"SELECT 1"},"compute":{"cores":{"min":1,"max":2}}}'
accept '{"executable":{"kind":"docker-container","image":{"locations":["registry.example.org/astro/tool:1.0"]}},"compute":{"cores":{"min":1,"max":2}}}'
# ops/eb states no limits, so it passes matching: the NO is for want of an offer.
curl -s -o /dev/null -X POST "$base/requests" -H 'Content-Type: application/json' -d '{"executable":{"kind":"tap-query","query":"SELECT 1"},"compute":{"cores":{"min":1000}}}'

prom_port=$(free_port); prom="http://127.0.0.1:$prom_port"
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$PWD/ops/prometheus/skyport-alerts.yml"]
scrape_configs:
  - job_name: skyport
    static_configs: [{targets: ["127.0.0.1:$port"]}]
YAML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" --web.listen-address="127.0.0.1:$prom_port" \
  >"$work/prometheus.log" 2>&1 &
pids+=($!)

# query EXPR: the instant vector's samples as "labels value" lines.
query() { curl -sf --get "$prom/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for r in d["data"]["result"]:
    print(json.dumps({k: v for k, v in r["metric"].items() if k not in ("job", "instance", "__name__")}, sort_keys=True), r["value"][1])'; }
# Waits until a query has the expected answer (the forwarding retries, health checks and harvest take a moment).
# EXPECTED is a literal part of one answer line; a final $ anchors it to the line's end (the value, whole).
expect() { # NAME EXPR EXPECTED-SUBSTRING
  for _ in $(seq 1 60); do
    if query "$2" 2>/dev/null | python3 -c 'import sys; e = sys.argv[1]; sys.exit(0 if any(l.endswith(e[:-1]) if e.endswith("$") else e in l for l in sys.stdin.read().splitlines()) else 1)' "$3"; then echo "ok: $1"; return 0; fi
    sleep 0.5
  done
  fail "$1: $2 answered: $(query "$2" 2>&1 || true); expected: $3"
}
expect "Prometheus scrapes Skyport" 'up{job="skyport"}' '{} 1$'
expect "two YES" 'skyport_offer_requests_total{result="YES"}' '{"reason": "offered", "result": "YES"} 2$'
expect "one NO" 'skyport_offer_requests_total{result="NO",reason="no-capacity"}' '{"reason": "no-capacity", "result": "NO"} 1$'
expect "the acceptances" 'skyport_offers_ended_total{outcome="accepted"}' '"outcome": "accepted"} 2$'
expect "the federated broker unreachable" 'skyport_federation_answers_total{outcome="unreachable"}' '"broker": "ivo://ops.example/eb"'
expect "the facility down" 'skyport_facility_up == 0' '{"facility": "ivo://ops.example/down"} 0$'
expect "the others up" 'sum(skyport_facility_up)' '{} 3$'
expect "the query run" 'skyport_sessions{phase="COMPLETED"}' '"phase": "COMPLETED"} 1$'
expect "the flaky one's forwarding retried" 'skyport_forwarding_retries_total > 0' '{"facility": "ivo://ops.example/flaky"}'
expect "its failed calls" 'skyport_remote_calls_total{outcome="error",operation="submit"}' '"facility": "ivo://ops.example/flaky"'
expect "the calls that worked" 'skyport_remote_calls_total{outcome="ok",operation="submit"}' '"facility": "ivo://ops.example/tap"'
expect "the failed harvest" 'skyport_registry_harvests_total{outcome="failed"}' '{"outcome": "failed", "registry": "http://127.0.0.1:1/oai"} 1$'
expect "histograms with buckets" 'count(skyport_remote_call_duration_seconds_bucket) > 0' '{} '
expect "the store read at scrape" 'skyport_store_rows{table="facility"}' '"table": "facility"} 4$'
expect "the build" 'skyport_build_info' '"version": "'
expect "the SQLite writer's commits, counted at scrape" 'sum(skyport_store_commits_total) > 0' '{} '
expect "the offer gate, at its default and not refusing" 'skyport_offer_admission_limit + skyport_offer_admission_refused_total' '{} 16$'
rules=$(curl -sf "$prom/api/v1/rules" | python3 -c 'import json,sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))')
written=$(grep -c -- '- alert:' ops/prometheus/skyport-alerts.yml)
[ "$rules" = "$written" ] || fail "Prometheus loaded $rules alert rules, not the file's $written"
echo "ok: Prometheus loaded the $rules alert rules"
curl -sf "$prom/api/v1/label/__name__/values" >"$work/names.json"
"$venv/bin/python" scripts/ops_check.py "$work/names.json"
