#!/usr/bin/env bash
# Run libFuzzer targets.  usage: fuzz.sh short|long BIN...
#   short: FUZZ_SHORT_SECONDS each (default 15), at most FUZZ_SHORT_RUNS executions (default 1000000), from the
#          committed seed corpus and the cached corpus: part of make test
#   long:  FUZZ_SECONDS per target, corpus grown in $KTMON_CACHE/fuzz-corpus/NAME
# A crash, leak or sanitizer report fails; artifacts go to build/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=$1; shift
art=build/fuzz/artifacts
mkdir -p "$art"
fail=0
for bin in "$@"; do
  name=$(basename "$bin")
  seeds=tests/fuzz/corpus/${name#fuzz_}
  work="${KTMON_CACHE:-$HOME/.cache/ktmon}/fuzz-corpus/${name#fuzz_}"
  mkdir -p "$work"
  dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  if [ "$mode" = short ]; then
    opts=(-max_total_time="${FUZZ_SHORT_SECONDS:-15}" -runs="${FUZZ_SHORT_RUNS:-1000000}")
  else
    opts=(-max_total_time="${FUZZ_SECONDS:-300}")
  fi
  log=build/fuzz/$name.log
  if "$bin" "${opts[@]}" -artifact_prefix="$art/$name-" -print_final_stats=1 "${dirs[@]}" > "$log" 2>&1; then
    runs=$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
    echo "fuzz $name: ${runs:-?} executions, no finding"
  else
    echo "fuzz $name: FINDING (log $log)"; tail -n 30 "$log"; fail=1
  fi
done
exit "$fail"
