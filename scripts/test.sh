#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: the Swift suites (unit, store contract,
# HTTP through a live server) and the end-to-end smoke test of the `skyport` binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh libxml2-dev libcurl4-openssl-dev libsqlite3-dev libxml2-utils curl python3
if [ ! -d ../shared/samples ]; then
  echo "NOTE: ../shared/samples is absent: the tests that read the real samples will say so and fail." >&2
fi
swift build --build-tests
swift test --skip-build
bash scripts/smoke.sh .build/debug/skyport
