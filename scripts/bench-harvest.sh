#!/usr/bin/env bash
# Harvest benchmark: a 5,000-record OAI-PMH feed (pages of 200) built from the shapes of the real RegTAP-validator
# records (a TAP service with its tableset, a multi-capability cone search, a SIA service, a deleted record), served on
# loopback by shared/peers/mini_oai_server.py, harvested by `skyport registry harvest` from a release build into a
# scratch database, twice (first run: facilities added, then disabled by their deletions; second: updated).
# Reports records/s and peak RSS. Needs RegistryCommand in the `skyport` subcommands.
# Usage: scripts/bench-harvest.sh [RECORDS] [PAGE_SIZE]      (SKYPORT_BIN or SKYPORT_BENCH_BIN=path skips the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-5000}"; PAGE="${2:-200}"
SAMPLES="${SKYPORT_SAMPLES:-../shared/samples}/registry"
PEERS="../shared/peers"
SKYPORT_BIN="${SKYPORT_BIN:-${SKYPORT_BENCH_BIN:-}}"
if [ -z "${SKYPORT_BIN:-}" ]; then
  bash scripts/build-release.sh >/dev/null
  SKYPORT_BIN="$(swift build -c release --show-bin-path)/skyport"
fi
work=$(mktemp -d); server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 - "$SAMPLES" "$work/pages" "$RECORDS" "$PAGE" <<'PY'
import os, re, sys
samples, out, total, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out)
tap_file = open(os.path.join(samples, "regtap-validator-tap.oai-listrecords.xml")).read()
root = re.search(r"<oai:OAI-PMH[^>]*>", tap_file).group(0)
root = root.replace("<oai:OAI-PMH", '<oai:OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"', 1)
def record(name):
    text = open(os.path.join(samples, name)).read()
    block = re.search(r"<(oai:)?record>.*?</(oai:)?record>", text, re.S).group(0)
    ivoid = re.search(r"<(?:oai:)?identifier>\s*([^<\s]+)", block).group(1)
    return block, ivoid
shapes = [("tap", *record("regtap-validator-tap.oai-listrecords.xml"), 4),      # becomes a facility
          ("cone", *record("regtap-validator-cone.oai-getrecord.xml"), 3),     # skipped: no executable capability
          ("siap", *record("regtap-validator-siap.oai-listrecords.xml"), 2),   # skipped
          ("gone", *record("regtap-validator-deleted.oai-listrecords.xml"), 1)] # deleted
cycle = [s for s in shapes for _ in range(s[3])]
pages = (total + size - 1) // size
for p in range(pages):
    body = []
    for i in range(p * size, min(total, (p + 1) * size)):
        kind, block, ivoid, _ = cycle[i % len(cycle)]
        # a deleted record withdraws the TAP service of its cycle, so the harvest disables a facility it added
        target = "tap/%d" % (i - i % len(cycle)) if kind == "gone" else "%s/%d" % (kind, i)
        body.append(block.replace(ivoid, "ivo://bench.test/" + target))
    with open(os.path.join(out, "page%05d.xml" % p), "w") as f:
        f.write('<?xml version="1.0"?>\n%s<oai:responseDate>2026-01-01T00:00:00Z</oai:responseDate>'
                '<oai:request verb="ListRecords" metadataPrefix="ivo_vor"/><oai:ListRecords>%s</oai:ListRecords></oai:OAI-PMH>\n'
                % (root, "\n".join(body)))
print("feed: %d records in %d pages of %d, %.1f MB" % (total, pages, size,
      sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out)) / 1e6), file=sys.stderr)
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$PEERS/mini_oai_server.py" "$port" $(ls "$work"/pages/*.xml | sort) &
server=$!
until curl -sf "http://127.0.0.1:$port/oai?verb=Identify" >/dev/null 2>&1; do sleep 0.05; done

for run in first second; do
  /usr/bin/time -v "$SKYPORT_BIN" registry harvest "http://127.0.0.1:$port/oai" --db "$work/db.sqlite" \
    >"$work/$run.out" 2>"$work/$run.time" || { cat "$work/$run.time" >&2; exit 1; }
  summary=$(tail -1 "$work/$run.out")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f MiB", $2/1024}' "$work/$run.time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$run.time")
  echo "$run harvest: $summary"
  echo "$run harvest: process wall $wall, peak RSS $rss"
done
