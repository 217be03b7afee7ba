#!/usr/bin/env python3
"""Read a running Skyport's VOSI documents with pyvo's own VOSI parsers, as a registry or another broker would.

Usage: pyvo_vosi_check.py BASE_URL [--timeout S]
       (run it with the venv python of scripts/pyvo_check.sh, which has pyvo 1.9.1:
        ${SKYPORT_PYVO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/skyport/pyvo-venv}/bin/python scripts/pyvo_vosi_check.py http://127.0.0.1:8090)

pyvo code paths exercised:
  * pyvo.io.vosi.parse_capabilities   GET {base}/capabilities, parsed pedantically (a spec violation raises)
  * pyvo.io.vosi.parse_availability   GET {base}/availability, parsed pedantically
  * pyvo.dal.vosi.CapabilityMixin     .capabilities, as pyvo's services (TAPService, ...) find {base}/capabilities
Prints one JSON object on standard output:
  {"capabilities": [{"standardID", "description", "interfaces": [{"type", "role", "accessURLs": [{"url", "use"}]}]}],
   "availability": {"available", "upSince", "notes"}, "mixinStandardIDs": [...], "warnings": [...], "pyvo": "1.9.1"}
Exit status 0 when both documents were fetched and parsed, 1 otherwise (the error is in "error" and on standard error).
"""
import argparse
import io
import json
import sys
import urllib.request
import warnings

import pyvo
from pyvo.dal.vosi import CapabilityMixin
from pyvo.io import vosi
from pyvo.utils.http import use_session


class SkyportService(CapabilityMixin):
    """The smallest pyvo service: a base URL and a session, the capabilities read the way TAPService reads them."""

    def __init__(self, baseurl):
        self.baseurl = baseurl
        self._session = use_session(None)


def fetch(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def text(value):
    """pyvo keeps some values as strings and others as objects; JSON gets their text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def interface_summary(interface):
    return {
        "type": getattr(interface, "_xsi_type", None),
        "role": interface.role,
        "accessURLs": [{"url": (u.content or "").strip(), "use": u.use} for u in interface.accessurls],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the broker's base URL, e.g. http://127.0.0.1:8090")
    parser.add_argument("--timeout", type=float, default=20)
    args = parser.parse_args()
    base = args.base.rstrip("/")
    summary = {"pyvo": pyvo.__version__, "base": base}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status, ctype, body = fetch(base + "/capabilities", args.timeout)
            summary["capabilitiesContentType"] = ctype
            capabilities = vosi.parse_capabilities(io.BytesIO(body), pedantic=True, filename="capabilities")
            summary["capabilities"] = [
                {
                    "standardID": c.standardid,
                    "description": text(c.description),
                    "interfaces": [interface_summary(i) for i in c.interfaces],
                }
                for c in capabilities
            ]
            status, ctype, body = fetch(base + "/availability", args.timeout)
            summary["availabilityContentType"] = ctype
            availability = vosi.parse_availability(io.BytesIO(body), pedantic=True, filename="availability")
            summary["availability"] = {
                "available": availability.available,
                "upSince": text(availability.upsince),
                "notes": [text(n) for n in availability.notes],
            }
            summary["mixinStandardIDs"] = [c.standardid for c in SkyportService(base).capabilities]
        except Exception as error:  # report anything: the caller's test shows it
            summary["error"] = f"{type(error).__name__}: {error}"
        summary["warnings"] = [str(w.message) for w in caught]
    print(json.dumps(summary, indent=2))
    if "error" in summary:
        print("pyvo_vosi_check: " + summary["error"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
