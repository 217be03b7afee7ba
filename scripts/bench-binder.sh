#!/usr/bin/env bash
# BinderHub launches against the stand-in BinderHub (Tests/Standins), all on loopback (release build):
#   - the overhead Skyport adds to each launch (clone, derived commit, push, stream, store), sequentially;
#   - CONCURRENT launches at once: wall time, broker CPU and peak RSS.
# usage: scripts/bench-binder.sh [SEQUENTIAL=20] [CONCURRENT=200]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-packages.sh git
source scripts/bench-common.sh
python3 scripts/bench_binder.py --bin "$bin" --token "$token" --db "$work/db.sqlite" --sequential "${1:-20}" --concurrent "${2:-200}"
