#!/usr/bin/env bash
# Every benchmark in scripts/, run on two builds one after the other, benchmark by benchmark (so that both builds see
# the same machine at nearly the same time): BEFORE and AFTER are `skyport` binaries (e.g. an older commit's
# `scripts/build-release.sh` output copied aside, and this checkout's). The generators and stand-ins are always this
# checkout's. Prints each benchmark's report under a `## name: before|after` heading.
# The sustained open-loop load benchmark (bench-load.sh, 5 minutes per rate by default) runs on AFTER only unless
# LOAD_BEFORE=1: the build before issue 13 collapses at 300/s (p50 28 s), which 20 s already show.
# Knobs (defaults): LOAD_SECONDS (300), LOAD_RATES ("100 300 1000"), LOAD_MIXES ("offers no50 accept10"),
# FLOOD ("20000 200": requests and rate), TRACKING (2000), AUTH ("300 60 2": rate, seconds, rounds), UI ("1000 100 20":
# facilities, rate, seconds per page), REPLICAS_SETUPS ("sqlite1 pg1 pg3"), REPLICAS_RATES ("100 300"), REPLICAS_SECONDS
# (120), TELEMETRY ("500 60": rate, seconds), ONLY (a space-separated subset of benchmark names: startup requests
# facilities uws federation harvest binder connections flood tracking auth ui replicas telemetry load).
# Takes about two hours with the defaults (the load mixes alone 45 minutes): run it alone on the machine.
# Usage: scripts/bench-compare.sh BEFORE_BIN AFTER_BIN
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
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
# shellcheck disable=SC2086
both auth scripts/bench-auth.sh ${AUTH:-300 60 2}
# shellcheck disable=SC2086
both ui scripts/bench-ui.sh ${UI:-1000 100 20}
# shellcheck disable=SC2086
both replicas scripts/bench-replicas.sh "${REPLICAS_SETUPS:-sqlite1 pg1 pg3}" "${REPLICAS_RATES:-100 300}" "${REPLICAS_SECONDS:-120}"
if wanted telemetry; then  # bench-telemetry compares the two builds itself (BEFORE as its "before", AFTER for the rest)
  echo "## telemetry: before ($before) and after ($after)"
  SKYPORT_BENCH_BEFORE=$before SKYPORT_BENCH_BIN=$after bash scripts/bench-telemetry.sh ${TELEMETRY:-500 60} 2>&1 || echo "(exit $?)"
  echo
fi
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
