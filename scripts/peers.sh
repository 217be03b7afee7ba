#!/usr/bin/env bash
# Starts, stops or reports the real UWS peers the integration tests drive (loopback only):
#   dachs       GAVO DaCHS 2 (Debian), standard UWS 1.1 XML: its TAP async job list
#   django-uws  ASTRON django-uws (PyPI venv), the JSON dialect, HTTP Basic uws:uws-pass
#   binderhub   a real BinderHub + JupyterHub (../shared/peers/start-binderhub.sh, local builder), only when
#               SKYPORT_TEST_BINDERHUB_SRC names a BinderHub source (a work tree, or the bare mirror `fetch` gives);
#               part of `all` only then
#   oidc        an OpenID Connect provider (idpyoidc from PyPI, scripts/oidc_provider.sh) issuing signed JWT access
#               tokens, with introspection, token exchange and test helpers (log a user in, rotate the keys)
# Usage: scripts/peers.sh start|stop|status [dachs|django-uws|binderhub|oidc|all]      (default: status all)
#
# `start` is idempotent and returns at once when a peer already answers. Progress goes to stderr;
# stdout carries only `export NAME=value` lines for the peers that are up, so a caller can do
#   peer_env="$(bash scripts/peers.sh start all)" || echo "some peer did not start" >&2; eval "$peer_env"
# `stop` stops only what this script started (recorded in $SKYPORT_PEERS_STATE).
# The start scripts themselves live in ../shared/peers and are called, not copied.
set -uo pipefail
cd "$(dirname "$0")/.."

CMD="${1:-status}"
WHICH="${2:-all}"
PEERS_DIR="../shared/peers"
STATE="${SKYPORT_PEERS_STATE:-${TMPDIR:-/tmp}/skyport-peers/state}"
DACHS_URL="http://localhost:8080/tap/async"
DJANGO_PORT="${UWS_PORT:-8077}"
DJANGO_URL="http://127.0.0.1:$DJANGO_PORT/uws/jobs/"
DJANGO_USER="${UWS_ADMIN_USER:-uws}"
DJANGO_PASS="${UWS_ADMIN_PASS:-uws-pass}"

OIDC_PORT="${SKYPORT_TEST_OIDC_PORT:-18480}"
OIDC_URL="http://127.0.0.1:$OIDC_PORT"
# A second provider whose keys one test rotates: the tokens other tests get from the first stay valid meanwhile.
ROTATING_PORT="${SKYPORT_TEST_OIDC_ROTATING_PORT:-18481}"
ROTATING_URL="http://127.0.0.1:$ROTATING_PORT"

log() { echo "peers: $*" >&2; }
up() { curl -fsS -o /dev/null --max-time 5 "$@" 2>/dev/null; }
dachs_up() { up "$DACHS_URL"; }
django_up() { up -u "$DJANGO_USER:$DJANGO_PASS" "$DJANGO_URL"; }
pg_online() { command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | awk '$2=="main" {print $4}' | grep -q online; }

env_dachs() { echo "export SKYPORT_TEST_DACHS_URL=$DACHS_URL"; }
env_django() {
  echo "export SKYPORT_TEST_DJANGO_UWS_URL=$DJANGO_URL"
  echo "export SKYPORT_TEST_DJANGO_UWS_USER=$DJANGO_USER"
  echo "export SKYPORT_TEST_DJANGO_UWS_PASSWORD=$DJANGO_PASS"
}

start_dachs() {
  if dachs_up; then log "dachs already up ($DACHS_URL)"; env_dachs; return 0; fi
  mkdir -p "$STATE"
  pg_online || touch "$STATE/postgres.started"   # the DaCHS script starts the cluster if it is down
  local t0=$SECONDS
  if bash "$PEERS_DIR/start-dachs-uws.sh" start >"$STATE/dachs-start.log" 2>&1 && dachs_up; then
    touch "$STATE/dachs.started"; log "dachs up in $((SECONDS - t0)) s ($DACHS_URL)"; env_dachs
  else
    log "dachs did NOT start; see $STATE/dachs-start.log"; tail -5 "$STATE/dachs-start.log" >&2; return 1
  fi
}

start_django() {
  if django_up; then log "django-uws already up ($DJANGO_URL)"; env_django; return 0; fi
  mkdir -p "$STATE"
  local t0=$SECONDS
  if bash "$PEERS_DIR/start-django-uws.sh" start >"$STATE/django-uws-start.log" 2>&1 && django_up; then
    touch "$STATE/django-uws.started"; log "django-uws up in $((SECONDS - t0)) s ($DJANGO_URL)"; env_django
  else
    log "django-uws did NOT start; see $STATE/django-uws-start.log"; tail -5 "$STATE/django-uws-start.log" >&2; return 1
  fi
}

oidc_up() { up "$OIDC_URL/.well-known/openid-configuration" && up "$ROTATING_URL/.well-known/openid-configuration"; }
env_oidc() { echo "export SKYPORT_TEST_OIDC_ISSUER=$OIDC_URL"; echo "export SKYPORT_TEST_OIDC_ROTATING_ISSUER=$ROTATING_URL"; }

start_oidc() {
  if oidc_up; then log "oidc already up ($OIDC_URL, $ROTATING_URL)"; env_oidc; return 0; fi
  mkdir -p "$STATE"
  local t0=$SECONDS
  # One after the other: the first start installs idpyoidc into its venv (PyPI), and two installs at once would race.
  for which in oidc oidc-rotating; do
    local port=$OIDC_PORT url=$OIDC_URL
    [ "$which" = oidc-rotating ] && { port=$ROTATING_PORT; url=$ROTATING_URL; }
    up "$url/.well-known/openid-configuration" && continue
    nohup bash scripts/oidc_provider.sh --port "$port" >"$STATE/$which-start.log" 2>&1 &
    echo $! >"$STATE/$which.pid"
    for _ in $(seq 1 600); do up "$url/.well-known/openid-configuration" && break; kill -0 "$(cat "$STATE/$which.pid")" 2>/dev/null || break; sleep 0.2; done
  done
  if oidc_up; then
    touch "$STATE/oidc.started"; log "oidc up in $((SECONDS - t0)) s ($OIDC_URL, and $ROTATING_URL for key rotation)"; env_oidc
  else
    log "oidc did NOT start; see $STATE/oidc-start.log and $STATE/oidc-rotating-start.log"; tail -5 "$STATE/oidc-start.log" >&2; return 1
  fi
}

stop_oidc() {
  if [ -f "$STATE/oidc.started" ]; then
    for f in oidc oidc-rotating; do
      [ -f "$STATE/$f.pid" ] || continue
      pkill -TERM -P "$(cat "$STATE/$f.pid")" 2>/dev/null; kill "$(cat "$STATE/$f.pid")" 2>/dev/null; rm -f "$STATE/$f.pid"
    done
    rm -f "$STATE/oidc.started"; log "oidc stopped"
  else log "oidc was not started by this script; left alone"; fi
}

BINDER_SRC="${SKYPORT_TEST_BINDERHUB_SRC:-}"
BP_HOME="${BP_HOME:-/tmp/binderpeers/run}"
BINDER_URL="http://127.0.0.1:${BH_PORT:-18585}"
binder_up() { up "$BINDER_URL/health"; }
env_binder() {
  echo "export SKYPORT_TEST_BINDERHUB_URL=$BINDER_URL"
  echo "export SKYPORT_TEST_JUPYTERHUB_URL=http://127.0.0.1:${HUB_PORT:-18000}/"
  echo "export SKYPORT_TEST_JUPYTERHUB_TOKEN=$(cat "$BP_HOME/conf/hub_api_token" 2>/dev/null)"
}

start_binder() {
  if [ -z "$BINDER_SRC" ]; then log "binderhub: SKYPORT_TEST_BINDERHUB_SRC is unset; the real-BinderHub test will say NOT RUN"; return 0; fi
  if binder_up; then log "binderhub already up ($BINDER_URL)"; env_binder; return 0; fi
  mkdir -p "$STATE"
  local t0=$SECONDS
  if BP_HOME="$BP_HOME" bash "$PEERS_DIR/start-binderhub.sh" "$BINDER_SRC" local >"$STATE/binderhub-start.log" 2>&1 && binder_up; then
    touch "$STATE/binderhub.started"; log "binderhub up in $((SECONDS - t0)) s ($BINDER_URL)"; env_binder
  else
    log "binderhub did NOT start; see $STATE/binderhub-start.log"; tail -5 "$STATE/binderhub-start.log" >&2; return 1
  fi
}

stop_binder() {
  if [ -f "$STATE/binderhub.started" ]; then
    BP_HOME="$BP_HOME" bash "$PEERS_DIR/start-binderhub.sh" stop >&2; rm -f "$STATE/binderhub.started"; log "binderhub stopped"
  elif [ -n "$BINDER_SRC" ]; then log "binderhub was not started by this script; left alone"; fi
}

stop_dachs() {
  if [ -f "$STATE/dachs.started" ]; then
    bash "$PEERS_DIR/start-dachs-uws.sh" stop >&2; rm -f "$STATE/dachs.started"; log "dachs stopped"
  else log "dachs was not started by this script; left alone"; fi
  if [ -f "$STATE/postgres.started" ]; then
    local v; v="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)"
    [ -n "$v" ] && pg_ctlcluster "$v" main stop >&2 && log "postgresql $v stopped"
    rm -f "$STATE/postgres.started"
  fi
}

stop_django() {
  if [ -f "$STATE/django-uws.started" ]; then
    bash "$PEERS_DIR/start-django-uws.sh" stop >&2; rm -f "$STATE/django-uws.started"; log "django-uws stopped"
  else log "django-uws was not started by this script; left alone"; fi
}

status_one() {  # name, probe, env function
  if "$2"; then log "$1: up"; "$3"; return 0; fi
  log "$1: down"; return 1
}

case "$WHICH" in
  dachs) peers=(dachs) ;;
  django-uws) peers=(django) ;;
  binderhub) peers=(binder) ;;
  oidc) peers=(oidc) ;;
  all) peers=(dachs django oidc binder) ;;
  *) echo "usage: $0 start|stop|status [dachs|django-uws|binderhub|oidc|all]" >&2; exit 2 ;;
esac

rc=0
for p in "${peers[@]}"; do
  case "$CMD" in
    start) "start_$p" || rc=1 ;;
    stop) "stop_$p" ;;
    status) case "$p" in
              dachs) status_one dachs dachs_up env_dachs || rc=1 ;;
              django) status_one django-uws django_up env_django || rc=1 ;;
              oidc) status_one oidc oidc_up env_oidc || rc=1 ;;
              binder) [ -z "$BINDER_SRC" ] || status_one binderhub binder_up env_binder || rc=1 ;;
            esac ;;
    *) echo "usage: $0 start|stop|status [dachs|django-uws|all]" >&2; exit 2 ;;
  esac
done
exit $rc
