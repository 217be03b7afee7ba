#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: the Swift suites (unit, store contract,
# HTTP through a live server) and the end-to-end smoke test of the `skyport` binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh libxml2-dev libcurl4-openssl-dev libsqlite3-dev zlib1g-dev libxml2-utils curl python3 git util-linux iproute2 prometheus postgresql haproxy
if [ ! -d ../shared/samples ]; then
  echo "NOTE: ../shared/samples is absent: the tests that read the real samples will say so and fail." >&2
fi
swift build --build-tests
# A peer or tool the tests need that cannot be had fails the run (and the Swift suites that need it fail, naming
# it). SKYPORT_TEST_ALLOW_MISSING_PEERS=1 is a developer's quick run: then they are skipped, and said so.
missing() {
  if [ -n "${SKYPORT_TEST_ALLOW_MISSING_PEERS:-}" ] && [ "${SKYPORT_TEST_ALLOW_MISSING_PEERS}" != 0 ]; then
    echo "WARNING: $1; SKYPORT_TEST_ALLOW_MISSING_PEERS is set, so the tests that need it are NOT RUN" >&2
  else
    echo "ERROR: $1. The tests cannot pass without it (a quick run without it: SKYPORT_TEST_ALLOW_MISSING_PEERS=1)" >&2
    exit 1
  fi
}
# pyvo (VOSI and UWS checks) and sickle (a second OAI-PMH harvester) in a cached venv, before the suites use them.
bash scripts/pyvo_check.sh --install-only || missing "the pyvo/sickle venv could not be made (bash scripts/pyvo_check.sh --install-only)"
# Real peers on loopback for the integration tests: GAVO DaCHS (Debian) and django-uws (PyPI); a real BinderHub
# and JupyterHub too when SKYPORT_TEST_BINDERHUB_SRC names a BinderHub source (without it, that one test says
# NOT RUN). The BinderHub tests always run against the stand-in (Tests/Standins). Stopped on exit (only what this
# run started).
pg_dir=""
# The Swift suites' temporary files (SQLite stores, rigs, issuer files) go to one directory of this run, removed on
# exit, so that runs leave nothing behind in /tmp.
suite_tmp="$(mktemp -d "${TMPDIR:-/tmp}/skyport-suites-XXXXXX")"
trap 'bash scripts/peers.sh stop all >/dev/null 2>&1 || true; [ -z "$pg_dir" ] || { bash scripts/postgres.sh stop "$pg_dir/cluster" >/dev/null 2>&1; rm -rf "$pg_dir"; }; rm -rf "$suite_tmp"' EXIT
peer_env="$(bash scripts/peers.sh start all)" || missing "a peer did not start (bash scripts/peers.sh start all says which; its log is under the peers' state directory)"
eval "$peer_env"
# A throwaway PostgreSQL cluster (initdb in a temporary directory, a free port, an unprivileged user) for the
# PostgreSQL store and the replica tests; apart from the cluster DaCHS uses. Removed on exit.
pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/skyport-pg-XXXXXX")"
chmod 755 "$pg_dir"   # the server's user must reach the cluster inside
pg_env="$(bash scripts/postgres.sh start "$pg_dir/cluster")" || missing "PostgreSQL did not start (bash scripts/postgres.sh start)"
eval "$pg_env"
TMPDIR="$suite_tmp" swift test --skip-build
bash scripts/smoke.sh .build/debug/skyport
# Operations as code (issue 19): the alert rules under promtool, a real Prometheus scraping a Skyport, the dashboard
# and README checked against what it scraped; then one OpenTelemetry trace across three federated brokers.
bash scripts/prometheus-check.sh .build/debug/skyport
bash scripts/trace-check.sh .build/debug/skyport
# Replicas (issue 16): three brokers on the test cluster behind a real HAProxy (ops/haproxy/skyport.cfg): no
# overbooking, one winner among parallel accepts, every job forwarded once and ended after a SIGKILL, a rolling restart
# without a failed request.
bash scripts/replica-check.sh .build/debug/skyport
# The web interface (specs/web-ui.md) in headless Chromium: the Ask page to a live notebook session on the stand-in
# BinderHub, a TAP query on DaCHS, an operator's YAML edit; axe-core, the Nu HTML validator and a phone-width pass on
# every page (scripts/ui_check.py).
bash scripts/ui-check.sh .build/debug/skyport
# The API contract, checked by a third party: schemathesis against the spec the broker serves (issue 18), in a
# network namespace with loopback only. Bounded: 10 examples per operation and phase, seed 1.
bash scripts/schemathesis-run.sh 10 1
