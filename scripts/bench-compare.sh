#!/usr/bin/env bash
# Every benchmark in scripts/, run on two builds one after the other, benchmark by benchmark (so that both builds see
# the same machine at nearly the same time): BEFORE and AFTER are `skyport` binaries (e.g. an older commit's
# `scripts/build-release.sh` output copied aside, and this checkout's). The generators and stand-ins are always this
# checkout's. Prints each benchmark's report under a `## name: before|after` heading.
# The sustained open-loop load benchmark (bench-load.sh, 5 minutes per rate by default) runs on AFTER only unless
# LOAD_BEFORE=1: the build before issue 13 collapses at 300/s (p50 28 s), which 20 s already show.
# Knobs (defaults): LOAD_SECONDS (300), LOAD_RATES ("100 300 1000"), LOAD_MIXES ("offers no50 accept10"),
# FLOOD ("20000 200": requests and rate), TRACKING (2000), ONLY (a space-separated subset of benchmark names).
# Takes about 80 minutes with the defaults: run it alone on the machine.
# Usage: scripts/bench-compare.sh BEFORE_BIN AFTER_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
before=$(realpath "$1"); after=$(realpath "$2")
bash scripts/build-release.sh >/dev/null  # the generators
load_seconds=${LOAD_SECONDS:-300}; load_rates=${LOAD_RATES:-"100 300 1000"}; load_mixes=${LOAD_MIXES:-"offers no50 accept10"}
wanted() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
both() {  # both NAME SCRIPT ARGS...: the script on each build
  local name=$1; shift
  wanted "$name" || return 0
  for which in before after; do
    local b=$before; [ "$which" = after ] && b=$after
    echo "## $name: $which ($b)"
    SKYPORT_BENCH_BIN=$b bash "$@" 2>&1 || echo "(exit $?)"
    echo
  done
}
both startup scripts/bench-startup.sh 10
both requests scripts/bench-requests.sh
both facilities scripts/bench-facilities.sh
both uws scripts/bench-uws.sh
both federation scripts/bench-federation.sh
both harvest scripts/bench-harvest.sh
both binder scripts/bench-binder.sh
both connections scripts/bench-connections.sh
# shellcheck disable=SC2086
both flood scripts/bench-flood.sh ${FLOOD:-20000 200}
both tracking scripts/bench-tracking.sh "${TRACKING:-2000}"
if wanted load; then
  for mix in $load_mixes; do
    if [ "${LOAD_BEFORE:-0}" = 1 ]; then
      echo "## load $mix: before ($before)"
      SKYPORT_BENCH_BIN=$before bash scripts/bench-load.sh "$mix" "$load_rates" "$load_seconds" 2>&1 || echo "(exit $?)"
      echo
    fi
    echo "## load $mix: after ($after)"
    SKYPORT_BENCH_BIN=$after bash scripts/bench-load.sh "$mix" "$load_rates" "$load_seconds" 2>&1 || echo "(exit $?)"
    echo
  done
fi
