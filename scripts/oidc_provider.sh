#!/usr/bin/env bash
# Runs Skyport's test OpenID Connect provider (scripts/oidc_provider.py, built on idpyoidc) on loopback.
# Usage: scripts/oidc_provider.sh [--port 0] [--audience skyport] [--alg ES256|RS256]   (see scripts/oidc_provider.py --help)
#        scripts/oidc_provider.sh --install-only     (only make sure the venv exists)
# It prints one line OIDC_ISSUER=http://127.0.0.1:PORT on stdout once ready, then serves until killed.
# idpyoidc and cryptojwt come from PyPI, installed once into a venv under ${XDG_CACHE_HOME:-$HOME/.cache}/skyport
# (SKYPORT_OIDC_VENV overrides the location). The self-check runs with that venv's python: scripts/oidc_provider_check.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SKYPORT_OIDC_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/oidc-venv}"
want='import idpyoidc, cryptojwt, importlib.metadata as m
assert m.version("idpyoidc") == "5.0.0" and m.version("cryptojwt") == "1.11.0"'
if ! "$venv/bin/python" -c "$want" >/dev/null 2>&1; then
  echo "oidc_provider: installing idpyoidc 5.0.0 and cryptojwt 1.11.0 into $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2 || { echo "oidc_provider: 'python3 -m venv' failed: install python3-venv" >&2; exit 2; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'idpyoidc==5.0.0' 'cryptojwt==1.11.0' >&2 \
    || { echo "oidc_provider: could not install idpyoidc==5.0.0 and cryptojwt==1.11.0 from PyPI into $venv" >&2; exit 2; }
  "$venv/bin/python" -c "$want" >/dev/null 2>&1 \
    || { echo "oidc_provider: $venv still lacks idpyoidc 5.0.0 / cryptojwt 1.11.0 after installing" >&2; exit 2; }
fi
[ "${1:-}" = "--install-only" ] && exit 0
exec "$venv/bin/python" "$here/oidc_provider.py" "$@"
