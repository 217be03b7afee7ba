#!/usr/bin/env bash
# Runs schemathesis (4.32.5, in the test venv) against a live Skyport serving its own spec, without and with an
# operator token: every check, every phase (examples, coverage, fuzzing, and the stateful phase, which follows the
# spec's links from a created facility, offer set or session, and the Location of a UWS job), a fixed number of
# examples per operation and a seed, so that a run is bounded and repeatable. Fails on any failure or error it reports.
# Part of the test command (scripts/test.sh: 10 examples, seed 1); more examples or other seeds are a longer search.
# Settings and their exceptions, each with its reason: scripts/schemathesis.toml; generators for the formats the spec
# names for documents carried in strings: scripts/schemathesis_hooks.py.
# Usage: scripts/schemathesis-run.sh [EXAMPLES] [SEED]      (a debug build of this checkout: swift build first)
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."
examples="${1:-10}" seed="${2:-1}"
# schemathesis 4.32.5, in the test venv (scripts/pyvo_check.sh installs it).
bash scripts/pyvo_check.sh --install-only
venv="${SKYPORT_PYVO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/pyvo-venv}"
# The broker under test calls what the generated documents name (facility endpoints, callbacks, other brokers): run
# it and schemathesis in a network namespace of their own, with loopback only, so nothing leaves the machine.
if [ -z "${SKYPORT_SCHEMATHESIS_ISOLATED:-}" ]; then
  command -v unshare >/dev/null && command -v ip >/dev/null \
    || { echo "schemathesis-run: unshare (util-linux) and ip (iproute2) are needed to isolate the run" >&2; exit 2; }
  exec unshare --user --map-root-user --net env SKYPORT_SCHEMATHESIS_ISOLATED=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$self" "$@"
fi
# Whatever the environment said, run only where loopback is the one network link.
if ip -o link show | grep -qv ': lo:'; then
  echo "schemathesis-run: this network namespace has links besides loopback; not running (unshare failed?)" >&2; exit 2
fi
work=$(mktemp -d) bin=.build/debug/skyport port=18777
token=$("$bin" operator add schemathesis --db "$work/db.sqlite")
# Long polls are held at most 2 s (SKYPORT_WAIT_MAX), below schemathesis' 10 s request timeout.
SKYPORT_RATE_LIMIT=0 SKYPORT_HEALTH_PERIOD=0 SKYPORT_REGISTRY_PERIOD=0 SKYPORT_WAIT_MAX=2 "$bin" serve --port "$port" --db "$work/db.sqlite" >"$work/broker.log" 2>&1 &
pid=$!
# SKYPORT_SCHEMATHESIS_LOG=FILE keeps the broker's log (to read a failure's requests as the broker saw them).
trap 'kill $pid 2>/dev/null; [ -n "${SKYPORT_SCHEMATHESIS_LOG:-}" ] && cp "$work/broker.log" "$SKYPORT_SCHEMATHESIS_LOG"; rm -rf "$work"' EXIT
for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$port/health" >/dev/null || { echo "schemathesis-run: the broker did not start (see its log)" >&2; cat "$work/broker.log" >&2; exit 2; }
status=0
for auth in "" "Authorization: Bearer $token"; do
  if [ -n "$auth" ]; then echo "== schemathesis with an operator token"; else echo "== schemathesis without a token"; fi
  SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=scripts "$venv/bin/st" --config-file scripts/schemathesis.toml \
    run "http://127.0.0.1:$port/openapi.yaml" --url "http://127.0.0.1:$port" --phases examples,coverage,fuzzing,stateful \
    --max-examples "$examples" --seed "$seed" --workers 1 --suppress-health-check filter_too_much ${auth:+-H "$auth"} || status=1
done
exit $status
