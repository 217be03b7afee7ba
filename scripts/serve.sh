#!/usr/bin/env bash
# Starts Skyport on its embedded default: a SQLite file (var/skyport.sqlite), listening on 127.0.0.1:8090.
# Flags are passed on to `skyport serve` (e.g. --port 9000 --db /tmp/s.sqlite); SKYPORT_* variables work too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh libxml2-dev libcurl4-openssl-dev libsqlite3-dev zlib1g-dev
bash scripts/build-release.sh
exec .build/release/skyport serve "$@"
