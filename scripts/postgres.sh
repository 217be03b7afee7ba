#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests and benchmarks (Debian's `postgresql` package): made with
# initdb in a temporary directory, on a free port, run as an unprivileged user (`postgres`, else `nobody`), so that
# it never touches the cluster DaCHS uses.
#   scripts/postgres.sh start [DIR] [--durable]   prints `export SKYPORT_TEST_POSTGRES_URL=postgres://skyport@127.0.0.1:PORT/skyport`
#   scripts/postgres.sh stop [DIR]                stops it and removes DIR
# DIR defaults to $TMPDIR/skyport-postgres. Without --durable the cluster skips fsync (a test cluster: nothing in it
# outlives the run); benchmarks pass --durable, so that commits cost what they cost in production.
set -euo pipefail

CMD="${1:-}"
DIR="${2:-${TMPDIR:-/tmp}/skyport-postgres}"
DURABLE=0
for a in "$@"; do [ "$a" = "--durable" ] && DURABLE=1; done
[ "$DIR" = "--durable" ] && DIR="${TMPDIR:-/tmp}/skyport-postgres"

log() { echo "postgres: $*" >&2; }

bindir() {
  local v
  v="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
  [ -n "$v" ] && [ -x "/usr/lib/postgresql/$v/bin/initdb" ] || { log "PostgreSQL server binaries not found (apt-get install postgresql)"; return 1; }
  echo "/usr/lib/postgresql/$v/bin"
}

# Who runs the server: PostgreSQL refuses to run as root.
runas() {
  if [ "$(id -u)" != 0 ]; then "$@"; return; fi
  local user=postgres
  id -u "$user" >/dev/null 2>&1 || user=nobody
  runuser -u "$user" -- "$@"
}

owner() {
  if [ "$(id -u)" != 0 ]; then id -un; return; fi
  if id -u postgres >/dev/null 2>&1; then echo postgres; else echo nobody; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

case "$CMD" in
  start)
    BIN="$(bindir)"
    if [ -f "$DIR/port" ] && runas "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
      log "already running in $DIR"
    else
      rm -rf "$DIR"
      mkdir -p "$DIR"
      chown "$(owner)" "$DIR"
      chmod 700 "$DIR"
      runas "$BIN/initdb" -D "$DIR/data" -U skyport --auth=trust -E UTF8 --locale=C.UTF-8 --no-instructions >"$DIR/initdb.log" 2>&1 \
        || { log "initdb failed; see $DIR/initdb.log"; tail -5 "$DIR/initdb.log" >&2; exit 1; }
      PORT="$(free_port)"
      opts="-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300"
      [ "$DURABLE" = 1 ] || opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
      runas "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -o "$opts" -w -t 60 start >/dev/null \
        || { log "the server did not start; see $DIR/server.log"; tail -5 "$DIR/server.log" >&2; exit 1; }
      echo "$PORT" >"$DIR/port"
      runas "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U skyport skyport
      log "up on 127.0.0.1:$PORT ($DIR$([ "$DURABLE" = 1 ] && echo ', durable'))"
    fi
    echo "export SKYPORT_TEST_POSTGRES_URL=postgres://skyport@127.0.0.1:$(cat "$DIR/port")/skyport?sslmode=disable"
    ;;
  stop)
    if [ -d "$DIR/data" ]; then
      BIN="$(bindir)"
      runas "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
      rm -rf "$DIR"
      log "stopped and removed $DIR"
    fi
    ;;
  *) echo "usage: $0 start|stop [DIR] [--durable]" >&2; exit 2 ;;
esac
