#!/usr/bin/env bash
# End-to-end check of the built binary: operator tokens, the facility API over real HTTP, persistence
# across a restart, and a graceful stop on SIGTERM. Usage: scripts/smoke.sh PATH-TO-SKYPORT
set -euo pipefail
# Every facility, callback and registry of this test listens on loopback: the egress rule must allow it.
export SKYPORT_EGRESS_ALLOW="${SKYPORT_EGRESS_ALLOW:-127.0.0.1,::1,localhost}"
bin=${1:-.build/debug/skyport}
work=$(mktemp -d)
pid=""
peers=()
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; for p in "${peers[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
db="$work/skyport.sqlite"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
passed=0; failed=0
check() { # NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then passed=$((passed+1)); else failed=$((failed+1)); echo "FAIL: $1: expected '$2', got '$3'" >&2; fi
}
start() {
  # Health checks off: the smoke facilities point at ports nothing listens on (checks are tested in the suites).
  SKYPORT_HEALTH_PERIOD="${SKYPORT_HEALTH_PERIOD:-0}" "$bin" serve --db "$db" --port "$port" --log-format json >>"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "$base/health" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "broker did not start" >&2; cat "$work/log" >&2; exit 1
}

token=$("$bin" operator add smoke-operator --db "$db")
check "token printed once" "skp_" "${token:0:4}"
start
check "health" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/health")"
doc='{"id":"ivo://smoke.example/tap","name":"Smoke TAP","endpoints":[{"kind":"uws","url":"http://127.0.0.1:1/tap/async"}],"accepts":["tap-query"]}'
check "create" 201 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/facilities" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$doc")"
check "create without token" 401 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/facilities" -H 'Content-Type: application/json' -d "$doc")"
check "token never logged" 0 "$(grep -c -F -e "${token:4}" "$work/log" || true)"
check "request logged as JSON with a request id" 1 "$(grep -c '"message":"facility registered".*"request_id"' "$work/log" || true)"

kill -TERM "$pid"
status=0; wait "$pid" || status=$?
pid=""
check "graceful exit on SIGTERM" 0 "$status"

start
check "facility survives restart" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$base/facilities/ivo%3A%2F%2Fsmoke.example%2Ftap")"
kill -INT "$pid"; status=0; wait "$pid" || status=$?; pid=""
check "graceful exit on SIGINT" 0 "$status"

# The offline matcher: one request with a report, many requests as JSON lines.
printf '[%s]\n' "$doc" >"$work/facilities.json"
echo '{"executable": {"kind": "tap-query", "query": "SELECT 1"}}' >"$work/request.json"
report=$("$bin" match --facilities "$work/facilities.json" --request "$work/request.json")
check "match report names the facility" 1 "$(grep -c 'ivo://smoke.example/tap' <<<"$report")"
for i in 1 2 3; do echo '{"executable": {"kind": "tap-query", "query": "SELECT '$i'"}, "compute": {"cores": {"min": '$i'}}}'; done >"$work/requests.jsonl"
"$bin" match --facilities "$work/facilities.json" --requests "$work/requests.jsonl" --output "$work/out.jsonl" 2>/dev/null
check "one line out per request" 3 "$(wc -l <"$work/out.jsonl" | tr -d ' ')"
check "ranked facility ids" 3 "$(grep -c '"facilities":\["ivo://smoke.example/tap"\]' "$work/out.jsonl")"

# ---- UWS 1.1 job interface, driven by pyvo (scripts/pyvo_check.sh; venv with pyvo from PyPI, cached) ----
start
uws_doc='{"id":"ivo://smoke.example/uws-tap","name":"Smoke UWS TAP","endpoints":[{"kind":"uws","url":"http://127.0.0.1:1/tap/async"}],"accepts":["tap-query"]}'
check "uws: facility registered" 201 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/facilities" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$uws_doc")"
pyvo_status=0
pyvo_out=$(bash "$(dirname "$0")/pyvo_check.sh" "$base" --token smoke-scientist 2>"$work/pyvo.err") || pyvo_status=$?
check "uws: every pyvo check passed (scripts/pyvo_check.sh)" 0 "$pyvo_status"
check "uws: the job left PENDING at once after RUN" QUEUED "$(sed -n 's/^phase_after_run=//p' <<<"$pyvo_out")"
check "uws: the results link the session and the offer set" "session,offerset" "$(sed -n 's/^results=//p' <<<"$pyvo_out")"
check "uws: a job no facility can run is ERROR" ERROR "$(sed -n 's/^no_job_phase=//p' <<<"$pyvo_out")"
check "uws: pyvo aborted the job" ABORTED "$(sed -n 's/^phase_after_abort=//p' <<<"$pyvo_out")"
[ "$pyvo_status" -eq 0 ] || { grep -v '^  ok' <<<"$pyvo_out" >&2; cat "$work/pyvo.err" >&2; }
kill -TERM "$pid"; wait "$pid" || true; pid=""
# ---- end of the UWS block ----

# Kill the broker mid-job and start it again: tracking resumes with the same remote job, and no second job
# is created. Needs the real django-uws peer (scripts/test.sh starts it and exports its URL).
if [ -n "${SKYPORT_TEST_DJANGO_UWS_URL:-}" ]; then
  printf '{"%s": {"user": "%s", "password": "%s"}}\n' "$SKYPORT_TEST_DJANGO_UWS_URL" "$SKYPORT_TEST_DJANGO_UWS_USER" "$SKYPORT_TEST_DJANGO_UWS_PASSWORD" >"$work/credentials.json"
  export SKYPORT_CREDENTIALS="$work/credentials.json" SKYPORT_FORWARD_LEASE=3
  start
  facility='{"id":"smoke-django-uws","name":"django-uws","endpoints":[{"kind":"django-uws","url":"'"$SKYPORT_TEST_DJANGO_UWS_URL"'"}],"accepts":["uws-job"]}'
  curl -s -o /dev/null -X POST "$base/facilities" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$facility"
  offerset=$(curl -s -X POST "$base/requests" -H 'Content-Type: application/json' \
    -d '{"executable": {"kind": "uws-job", "parameters": {"type": "sleep", "seconds": "6"}}, "compute": {"cores": {"min": 1}}}')
  session=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print([o for o in d["offers"] if o["facility"]["id"]=="smoke-django-uws"][0]["meta"]["uuid"])' "$offerset")
  curl -s -o /dev/null -X POST "$base/sessions/$session" -H 'Content-Type: application/json' -d '{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}'
  field() { curl -s "$base/sessions/$session" | python3 -c 'import json,sys; d=json.load(sys.stdin); c=d.get("connectors") or [{}]; print(d["phase"] if sys.argv[1]=="phase" else c[0].get("location",""))' "$1"; }
  job=""
  for _ in $(seq 1 100); do job=$(field location); [ -n "$job" ] && break; sleep 0.1; done
  check "the remote job is recorded while it runs" 1 "$([ -n "$job" ] && echo 1 || echo 0)"
  kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  start
  phase=""
  for _ in $(seq 1 300); do phase=$(field phase); [ "$phase" = COMPLETED ] || [ "$phase" = FAILED ] && break; sleep 0.1; done
  check "after a kill and a restart the job is tracked to the end" COMPLETED "$phase"
  check "it is the same remote job" "$job" "$(field location)"
  jobs_with_run_id=$(curl -s -u "$SKYPORT_TEST_DJANGO_UWS_USER:$SKYPORT_TEST_DJANGO_UWS_PASSWORD" "$SKYPORT_TEST_DJANGO_UWS_URL" \
    | python3 -c 'import json,sys; print(sum(1 for j in json.load(sys.stdin) if j.get("runId")==sys.argv[1]))' "$session")
  check "exactly one remote job was created" 1 "$jobs_with_run_id"
  kill -TERM "$pid"; wait "$pid" || true; pid=""
else
  echo "NOT RUN: kill-and-restart check (django-uws is not started; scripts/test.sh starts it)"
fi

# A notebook with its basket on the stand-in BinderHub (Tests/Standins), followed live with `skyport watch`.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bh="$work/binder"; mkdir -p "$bh/src" "$bh/repos" "$bh/data"
echo "basket file" >"$bh/data/a.txt"
echo '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}' >"$bh/src/analysis.ipynb"
(cd "$bh/src" && git init -q -b main && git add . && git -c user.name=s -c user.email=s@localhost commit -qm demo)
git clone -q --bare "$bh/src" "$bh/repos/demo.git" && git init -q --bare "$bh/repos/staging.git"
git_port=$(free_port); data_port=$(free_port); bh_port=$(free_port)
git daemon --listen=127.0.0.1 --port="$git_port" --base-path="$bh/repos" --export-all --enable=receive-pack --reuseaddr "$bh/repos" >>"$work/peers.log" 2>&1 & peers+=($!)
(cd "$bh/data" && exec python3 -m http.server "$data_port" --bind 127.0.0.1) >>"$work/peers.log" 2>&1 & peers+=($!)
python3 "$(dirname "$0")/../Tests/Standins/binderhub_standin.py" --port "$bh_port" --state-dir "$bh/standin" --launch-delay 1 --quiet >>"$work/peers.log" 2>&1 & peers+=($!)
for p in "$git_port" "$data_port" "$bh_port"; do
  for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $p), 1)" 2>/dev/null && break; sleep 0.1; done
done
SKYPORT_STAGING_REMOTE="git://127.0.0.1:$git_port/staging.git" SKYPORT_STAGING_DIR="$work/staging" start
bh_doc='{"id":"smoke-binder","name":"Smoke BinderHub","endpoints":[{"kind":"binderhub","url":"http://127.0.0.1:'$bh_port'"}],"accepts":["jupyter-notebook"]}'
check "binderhub: facility registered" 201 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/facilities" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$bh_doc")"
nb_req='{"software": {"name": "demo", "codeRepository": "git://127.0.0.1:'$git_port'/demo.git", "keywords": ["jupyter-notebook"], "skyport:path": "analysis.ipynb"},
 "basket": [{"archive": "astron_vo", "record": {"url": "http://127.0.0.1:'$data_port'/a.txt", "name": "a.txt"}}]}'
session=$(curl -s -X POST "$base/requests" -H 'Content-Type: application/json' -d "$nb_req" | python3 -c 'import json,sys; print(json.load(sys.stdin)["offers"][0]["meta"]["url"])')
curl -s -o /dev/null -X POST "$session" -H 'Content-Type: application/json' -d '{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}'
watch_status=0
watched=$(timeout 120 "$bin" watch "${session##*/}" --broker "$base" --interval 0.2 2>&1) || watch_status=$?
check "binderhub: skyport watch ends when the notebook is available" 0 "$watch_status"
check "binderhub: watch showed the launch step" 1 "$(grep -c -m1 '\[#*\.*\] launching' <<<"$watched")"
link=$(sed -n 's/^open: //p' <<<"$watched")
server=${link%%lab/tree*}; nbtoken=${link##*token=}
check "binderhub: the staged basket file is in the server" "basket file" "$(curl -s "${server}api/contents/data/a.txt?token=$nbtoken" | python3 -c 'import json,sys; print(json.load(sys.stdin)["content"].strip())')"
check "binderhub: no staging branch left" 0 "$(git ls-remote --heads "git://127.0.0.1:$git_port/staging.git" | wc -l | tr -d ' ')"
kill -TERM "$pid"; wait "$pid" || true; pid=""

# Discover a facility from a real IVOA publishing registry (DaCHS' OAI-PMH endpoint), then find it through the API.
if [ -n "${SKYPORT_TEST_DACHS_URL:-}" ]; then
  oai="${SKYPORT_TEST_DACHS_URL%/tap/async}/oai.xml"
  harvest=$("$bin" registry harvest "$oai" --db "$work/registry.sqlite" 2>&1 || true)
  check "harvest adds the registry's TAP service as a facility" 1 "$(grep -c '^added ivo://skyport.test/tap uws' <<<"$harvest")"
  again=$("$bin" registry harvest "$oai" --db "$work/registry.sqlite" 2>&1 || true)
  check "a second harvest updates it" 1 "$(grep -c '^updated ivo://skyport.test/tap' <<<"$again")"
  # The harvested facility served: where its fields came from, and a refresh from the service's VOSI capabilities.
  reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  reg_token=$("$bin" operator add smoke-registry --db "$work/registry.sqlite")
  SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 "$bin" serve --db "$work/registry.sqlite" --port "$reg_port" >>"$work/registry.log" 2>&1 & peers+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$reg_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  reg_facility="http://127.0.0.1:$reg_port/facilities/ivo%3A%2F%2Fskyport.test%2Ftap"
  check "the facility shows it came from the registry's record" "registry $oai" "$(curl -s "$reg_facility" | python3 -c 'import json,sys; p=json.load(sys.stdin)["provenance"]; print(p["fields"]["endpoints"]["source"], p["registry"]["source"])')"
  check "its capabilities refresh from the service's VOSI capabilities" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$reg_facility/refresh" -H "Authorization: Bearer $reg_token")"
else
  echo "NOT RUN: registry harvest check (DaCHS is not started; scripts/test.sh starts it)"
fi

# Federation: a second broker ("back") behind this one ("front"); with DaCHS, a TAP query runs through both.
back_port=$(free_port); back="http://127.0.0.1:$back_port"
back_token=$("$bin" operator add smoke-back --db "$work/back.sqlite")
SKYPORT_HEALTH_PERIOD=0 SKYPORT_BROKER_ID=smoke-back "$bin" serve --db "$work/back.sqlite" --port "$back_port" >>"$work/back.log" 2>&1 & peers+=($!)
for _ in $(seq 1 100); do curl -sf "$back/health" >/dev/null 2>&1 && break; sleep 0.1; done
SKYPORT_BROKER_ID=smoke-front start
tap_url="${SKYPORT_TEST_DACHS_URL:-http://127.0.0.1:9/tap/async}"
curl -s -o /dev/null -X POST "$back/facilities" -H "Authorization: Bearer $back_token" -H 'Content-Type: application/json' \
  -d '{"id":"back-tap","name":"TAP behind","endpoints":[{"kind":"uws","url":"'"$tap_url"'"}],"accepts":["tap-query"]}'
check "federation: broker facility registered" 201 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/facilities" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"id":"back","name":"Back broker","endpoints":[{"kind":"executionbroker","url":"'"$back"'","offerDeadline":"PT2S"}],"accepts":["tap-query"]}')"
tap_req='{"executable":{"kind":"tap-query","query":"SELECT TOP 2 table_name FROM tap_schema.tables"},"schedule":{"requested":{"duration":"PT10M"}}}'
offer=$(curl -s -X POST "$base/requests" -H 'Content-Type: application/json' -d "$tap_req" | python3 -c '
import json,sys; o=[x for x in json.load(sys.stdin)["offers"] if x.get("federated")]; print(o[0]["meta"]["url"] + " " + o[0]["federated"]["session"] if o else "none")')
check "federation: the back broker's offer is merged, linked to its session" "$back/sessions/" "$(awk '{print $2}' <<<"$offer" | cut -c1-$((${#back}+10)))"
check "federation: a request that passed through this broker is refused as a loop" 508 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/requests" -H 'Content-Type: application/json' -H 'Skyport-Via: smoke-back, smoke-front' -d "$tap_req")"
if [ -n "${SKYPORT_TEST_DACHS_URL:-}" ]; then
  front_session=${offer%% *}
  curl -s -o /dev/null -X POST "$front_session" -H 'Content-Type: application/json' -d '{"kind":"uri:enum-value-update","path":"phase","value":"ACCEPTED"}'
  phase=""
  for _ in $(seq 1 300); do
    phase=$(curl -s "$front_session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["phase"])')
    case "$phase" in COMPLETED|FAILED|CANCELLED) break;; esac; sleep 0.2
  done
  check "federation: the TAP query ran on DaCHS through both brokers" COMPLETED "$phase"
else
  echo "NOT RUN: federated TAP query to completion (DaCHS is not started; scripts/test.sh starts it)"
fi
kill -TERM "$pid"; wait "$pid" || true; pid=""

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
