# Shared by the bench scripts (sourced, not run): a release build (or SKYPORT_BENCH_BIN), a scratch database with an operator,
# a free loopback port, and `start_broker [ENV=VALUE ...]`, which starts the broker and waits for /health.
# Sets: bin, work, port, base, token, pid. Everything is removed and stopped on exit.
bash scripts/ensure-packages.sh wrk curl python3
# SKYPORT_BENCH_BIN runs another build (an older commit's, for a before/after comparison) with the same client.
if [ -n "${SKYPORT_BENCH_BIN:-}" ]; then
  bin=$SKYPORT_BENCH_BIN
else
  bash scripts/build-release.sh >/dev/null
  bin=.build/release/skyport
fi
# The benchmarks' facilities and callbacks listen on loopback: the egress rule must allow it.
export SKYPORT_EGRESS_ALLOW="${SKYPORT_EGRESS_ALLOW:-127.0.0.1,::1,localhost}"
work=$(mktemp -d); pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
token=$("$bin" operator add bench --db "$work/db.sqlite")
# The benchmarks send from one loopback address far faster than the per-client rate limit allows: it is off here
# unless the caller sets SKYPORT_RATE_LIMIT.
start_broker() {
  env SKYPORT_RATE_LIMIT="${SKYPORT_RATE_LIMIT:-0}" "$@" "$bin" serve --db "$work/db.sqlite" --port "$port" --log-level warning >"$work/log" 2>&1 &
  pid=$!
  until curl -sf "$base/health" >/dev/null 2>&1; do sleep 0.005; done
}
