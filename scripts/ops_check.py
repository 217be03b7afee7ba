#!/usr/bin/env python3
"""Checks the operations files against what a running Skyport exposes.

Usage: ops_check.py NAMES_JSON

NAMES_JSON holds the metric names a real Prometheus scraped from Skyport (its /api/v1/label/__name__/values answer).
Checked: the Grafana dashboard is well-formed (unique panel ids, every target has an expression, templating and
datasources present); every metric any dashboard query or alert rule names was scraped; the README's metric table
lists exactly the families Skyport exposes. Exits 1, naming each problem.
"""
import json
import re
import sys
from pathlib import Path

import yaml

root = Path(__file__).resolve().parent.parent
problems = []
scraped = set(json.loads(Path(sys.argv[1]).read_text())["data"])
skyport = {n for n in scraped if n.startswith("skyport_")}


def family(name):
    """The family a sample name belongs to (a histogram's _bucket/_sum/_count are its family's)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] + "_bucket" in scraped:
            return name[: -len(suffix)]
    return name


NAME = re.compile(r"\b(skyport_[a-z0-9_]+|up)\b")
# Families that appear only after a rare event the workload does not cause; each must still be named in the sources
# (and in the README), and its own test shows it.
RARE = {"skyport_egress_refused_total": "an outbound call refused at call time (EgressAPITests, FederationTests)"}
sources = "".join(p.read_text() for p in (root / "Sources").rglob("*.swift"))


def exposed_name(name):
    """Whether Skyport exposed `name`, as a sample or as a histogram family, or it is a rare family the code has."""
    if name in scraped or name + "_bucket" in scraped:
        return True
    return name in RARE and f'"{name}"' in sources


def names_in(expr):
    return set(NAME.findall(expr))


def check_expr(where, expr):
    for name in names_in(expr):
        if name == "up":
            continue
        if not exposed_name(name):
            problems.append(f"{where}: names {name}, which Skyport does not expose")


# The dashboard.
dash = json.loads((root / "ops/grafana/skyport-dashboard.json").read_text())
for key in ("uid", "title", "panels", "schemaVersion", "templating"):
    if key not in dash:
        problems.append(f"dashboard: no '{key}'")
ids = [p.get("id") for p in dash.get("panels", [])]
if len(ids) != len(set(ids)) or None in ids:
    problems.append(f"dashboard: panel ids are missing or repeated: {ids}")
targets = 0
for p in dash.get("panels", []):
    for k in ("type", "title", "gridPos"):
        if k not in p:
            problems.append(f"dashboard panel {p.get('id')}: no '{k}'")
    if p.get("type") == "row":
        continue
    if not p.get("targets"):
        problems.append(f"dashboard panel {p.get('id')} ({p.get('title')}): no targets")
    for t in p.get("targets", []):
        targets += 1
        expr = t.get("expr", "")
        if not expr.strip():
            problems.append(f"dashboard panel {p.get('title')}: a target without an expression")
        check_expr(f"dashboard panel '{p.get('title')}'", expr)
for v in dash.get("templating", {}).get("list", []):
    q = v.get("query")
    if isinstance(q, dict):
        check_expr(f"dashboard variable {v.get('name')}", q.get("query", ""))

# The alert rules.
rules = yaml.safe_load((root / "ops/prometheus/skyport-alerts.yml").read_text())
alerts = 0
for group in rules["groups"]:
    for rule in group["rules"]:
        alerts += 1
        check_expr(f"alert {rule.get('alert')}", rule["expr"])
        for text in rule.get("annotations", {}).values():
            for name in names_in(text):
                if name != "up" and not exposed_name(name):
                    problems.append(f"alert {rule.get('alert')}: its annotation names {name}, which Skyport does not expose")

# The README's table of metrics: one row per family, `| `name` | type | ... |`.
readme = (root / "README.md").read_text()
documented = set(re.findall(r"^\| `(skyport_[a-z0-9_]+)(?:\{[^`]*\})?` \|", readme, re.M))
exposed = {family(n) for n in skyport} | {n for n in RARE if exposed_name(n)}
for name in sorted(exposed - documented):
    problems.append(f"README: metric {name} is exposed but not in the Metrics table")
for name in sorted(documented - exposed):
    problems.append(f"README: the Metrics table lists {name}, which Skyport did not expose")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"ops check: {len(dash['panels'])} dashboard panels ({targets} queries), {alerts} alert rules and "
      f"{len(documented)} documented families all match the {len(exposed)} families Skyport exposed")
