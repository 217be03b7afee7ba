#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: the Swift suites (unit, store contract,
# HTTP through a live server) and the end-to-end smoke test of the `skyport` binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh libxml2-dev libcurl4-openssl-dev libsqlite3-dev libxml2-utils curl python3 git
if [ ! -d ../shared/samples ]; then
  echo "NOTE: ../shared/samples is absent: the tests that read the real samples will say so and fail." >&2
fi
swift build --build-tests
# pyvo (VOSI and UWS checks) and sickle (a second OAI-PMH harvester) in a cached venv, before the suites use them.
bash scripts/pyvo_check.sh --install-only || echo "WARNING: the pyvo venv could not be made; the pyvo and sickle tests will report NOT RUN" >&2
# Real peers on loopback for the integration tests: GAVO DaCHS (Debian) and django-uws (PyPI); a real BinderHub
# and JupyterHub too when SKYPORT_TEST_BINDERHUB_SRC names a BinderHub source. The BinderHub tests always run
# against the stand-in (Tests/Standins). Stopped on exit (only what this run started); a peer that does not
# start makes its tests report NOT RUN.
trap 'bash scripts/peers.sh stop all >/dev/null 2>&1 || true' EXIT
peer_env="$(bash scripts/peers.sh start all)" || echo "WARNING: a UWS peer did not start; its integration tests will not run" >&2
eval "$peer_env"
swift test --skip-build
bash scripts/smoke.sh .build/debug/skyport
