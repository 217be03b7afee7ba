#!/usr/bin/env bash
# Fuzzes Skyport's parsers of outside input with libFuzzer + AddressSanitizer, one harness after the other.
# Usage: scripts/fuzz.sh [seconds-per-harness] [harness...]      (default: 60 s, every harness)
#
# Builds the harnesses (Fuzz/<Harness>/main.swift, declared in Package.swift only when SKYPORT_FUZZ is set) with
# `-sanitize=fuzzer,address` into .build-fuzz, under the shared build lock. Each harness's corpus is
# .fuzz/corpus/<Harness>: made at run time from ../shared/samples and Fuzz/Seeds/<Harness>, and kept between runs
# (libFuzzer adds what reaches new code). Crash, timeout, leak and out-of-memory inputs (counted as crashes) and
# slow units (not counted) go to .fuzz/artifacts/<Harness>/.
# A harness that crashes is started again for the rest of its time (at most 5 times), so one crash does not end
# its run. Prints a table (harness, seconds, executions, crashes) and exits 1 when any crash was found.
#
# Environment: FUZZ_CONFIG=release|debug (default release, with -g), FUZZ_NICE (default 19), FUZZ_SKIP_BUILD=1
# (run the harnesses already built). Exactly one harness runs at a time: the runs share the CPU with other work.
# Reproduce one artifact: .build-fuzz/release/<Harness> .fuzz/artifacts/<Harness>/crash-...
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

all=(FuzzJSON FuzzYAML FuzzCodemeta FuzzBasket FuzzRequest FuzzISO8601 FuzzUWSXML FuzzVOResource FuzzVOSI FuzzBinderEvents)
seconds=${1:-60}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
config=${FUZZ_CONFIG:-release}
nice_level=${FUZZ_NICE:-19}
samples=${SKYPORT_SAMPLES:-$root/../shared/samples}
[ -d "$samples" ] || { echo "fuzz: no samples at $samples (set SKYPORT_SAMPLES)" >&2; exit 2; }
for h in "${harnesses[@]}"; do
  [[ " ${all[*]} " == *" $h "* ]] || { echo "fuzz: unknown harness $h (one of: ${all[*]})" >&2; exit 2; }
done

mkdir -p .fuzz
flags=(-c "$config" -Xswiftc -sanitize=fuzzer,address --build-path .build-fuzz)
[ "$config" = release ] && flags+=(-Xswiftc -g)
for h in "${harnesses[@]}"; do
  [ -n "${FUZZ_SKIP_BUILD:-}" ] && [ -x ".build-fuzz/$config/$h" ] && continue
  echo "fuzz: building $h ($config)" >&2
  if ! SKYPORT_FUZZ=1 flock -o /tmp/skyport-build.lock swift build "${flags[@]}" --product "$h" 2>&1 \
      | grep -v "Cannot export local symbol" >.fuzz/build.log; then :; fi
  if [ ! -x ".build-fuzz/$config/$h" ] || grep -q "error:" .fuzz/build.log; then
    cat .fuzz/build.log >&2; rm -f .fuzz/build.log; exit 2
  fi
done
rm -f .fuzz/build.log

# The sample files each harness starts from.
samples_for() {
  case $1 in
    FuzzJSON) find "$samples" -name '*.json' ;;
    FuzzYAML) find "$samples/executionbroker" -name '*.yaml' ;;
    FuzzCodemeta) find "$samples/codemeta" -name '*.json' ;;
    FuzzBasket) find "$samples/basket" -name '*.json' ;;
    FuzzRequest) find "$samples/executionbroker" -name '*request*' \( -name '*.json' -o -name '*.yaml' \) ;;
    FuzzUWSXML) find "$samples/uws" -name '*.xml'; find "$samples/registry" -name '*uws*.xml' ;;
    FuzzVOResource) find "$samples/registry" -name '*.xml' -size -64k ;;
    FuzzVOSI) find "$samples/registry" -name '*.xml' -size -64k ;;
    FuzzISO8601 | FuzzBinderEvents) ;;  # hand-written seeds only (Fuzz/Seeds)
  esac
}
dict_for() {
  case $1 in
    FuzzJSON | FuzzCodemeta | FuzzBasket) echo Fuzz/Dictionaries/json.dict ;;
    FuzzYAML | FuzzRequest) echo Fuzz/Dictionaries/yaml.dict ;;
    FuzzUWSXML | FuzzVOResource | FuzzVOSI) echo Fuzz/Dictionaries/xml.dict ;;
    FuzzISO8601) echo Fuzz/Dictionaries/iso8601.dict ;;
    FuzzBinderEvents) echo Fuzz/Dictionaries/sse.dict ;;
  esac
}
max_len_for() {
  case $1 in
    FuzzISO8601) echo 256 ;;
    FuzzBinderEvents) echo 8192 ;;
    *) echo 65536 ;;
  esac
}

make_corpus() {
  local h=$1 dir=.fuzz/corpus/$1 f
  mkdir -p "$dir"
  while IFS= read -r f; do
    [ -n "$f" ] && cp "$f" "$dir/sample-$(basename "$(dirname "$f")")-$(basename "$f")"
  done < <(samples_for "$h")
  [ -d "Fuzz/Seeds/$h" ] && for f in "Fuzz/Seeds/$h"/*; do cp "$f" "$dir/seed-$(basename "$f")"; done
  if [ "$h" = FuzzBasket ]; then
    # Every list in the basket samples is a basket of its own, and every item_data string a seed.
    python3 - "$samples/basket" "$dir" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[2]); n = 0
def walk(v):
    global n
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "item_data" and isinstance(x, str):
                n += 1; (out / f"item-data-{n}.txt").write_text(x)
            walk(x)
    elif isinstance(v, list):
        n += 1; (out / f"list-{n}.json").write_text(json.dumps(v))
        for x in v: walk(x)
for p in pathlib.Path(sys.argv[1]).glob("*.json"):
    walk(json.loads(p.read_text()))
PY
  fi
}

results=()
found=0
for h in "${harnesses[@]}"; do
  make_corpus "$h"
  artifacts=.fuzz/artifacts/$h
  mkdir -p "$artifacts" .fuzz/logs
  before=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  started=$(date +%s)
  execs=0
  runs=0
  while :; do
    left=$(( seconds - ($(date +%s) - started) ))
    [ $left -lt 5 ] && break
    runs=$((runs + 1))
    log=.fuzz/logs/$h-${seconds}s-$runs.log
    echo "fuzz: $h for ${left}s (run $runs, log $log)" >&2
    SWIFT_BACKTRACE=enable=no nice -n "$nice_level" ".build-fuzz/$config/$h" -max_total_time="$left" -rss_limit_mb=2048 -max_len="$(max_len_for "$h")" \
      -timeout=10 -print_final_stats=1 -dict="$(dict_for "$h")" -artifact_prefix="$artifacts/" \
      ".fuzz/corpus/$h" >"$log" 2>&1
    rc=$?
    n=$(grep -E '^stat::number_of_executed_units:' "$log" | tail -1 | awk '{print $2}')
    [ -z "$n" ] && n=$(grep -E '^(#[0-9]+|Done [0-9]+ runs)' "$log" | tail -1 | sed -E 's/^#([0-9]+).*/\1/; s/^Done ([0-9]+) runs.*/\1/')
    execs=$(( execs + ${n:-0} ))
    [ $rc -eq 0 ] && break
    echo "fuzz: $h exited $rc: $(grep -m1 -E 'ERROR: |INVARIANT BROKEN|Fatal error|deadly signal' "$log")" >&2
    [ $runs -ge 5 ] && break
  done
  # slow-unit-* files are inputs that took over 10 s of wall-clock time (at nice 19 on a busy machine that is
  # usually waiting for the CPU): kept for a look, not counted.
  crashes=$(( $(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l) - before ))
  [ $crashes -gt 0 ] && found=1
  results+=("$(printf '%-18s %8s %14s %8s' "$h" "$(( $(date +%s) - started ))" "$execs" "$crashes")")
done

printf '%-18s %8s %14s %8s\n' harness seconds executions crashes
printf '%s\n' "${results[@]}"
[ $found -eq 0 ] || { echo "fuzz: crash inputs are under .fuzz/artifacts/" >&2; exit 1; }
