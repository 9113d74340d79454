#!/usr/bin/env bash
# Run libFuzzer targets.  usage: fuzz.sh short|long BIN...
#   short: FUZZ_SHORT_SECONDS each (default 15), at most FUZZ_SHORT_RUNS executions (default 1000000), from the
#          committed seed corpus and the cached corpus: part of make test.  FUZZ_JOBS targets run at once
#          (default: one a core), each a single-threaded process.
#   long:  FUZZ_SECONDS per target, corpus grown in $KTMON_CACHE/fuzz-corpus/NAME, one target at a time
# A crash, leak or sanitizer report fails; artifacts go to build/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pool.sh
. scripts/pool.sh
mode=$1; shift
art=build/fuzz/artifacts
mkdir -p "$art"
fail=0

# One target: its result line goes to build/fuzz/NAME.result; exits non-zero on a finding.
run_one() {
  local bin=$1 name seeds work log runs
  name=$(basename "$bin")
  seeds=tests/fuzz/corpus/${name#fuzz_}
  work="${KTMON_CACHE:-$HOME/.cache/ktmon}/fuzz-corpus/${name#fuzz_}"
  mkdir -p "$work"
  local dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  local opts
  if [ "$mode" = short ]; then
    opts=(-max_total_time="${FUZZ_SHORT_SECONDS:-15}" -runs="${FUZZ_SHORT_RUNS:-1000000}")
  else
    opts=(-max_total_time="${FUZZ_SECONDS:-300}")
  fi
  log=build/fuzz/$name.log
  if "$bin" "${opts[@]}" -artifact_prefix="$art/$name-" -print_final_stats=1 "${dirs[@]}" > "$log" 2>&1; then
    runs=$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
    echo "fuzz $name: ${runs:-?} executions, no finding" > "build/fuzz/$name.result"
  else
    { echo "fuzz $name: FINDING (log $log)"; tail -n 30 "$log"; } > "build/fuzz/$name.result"
    return 1
  fi
}

jobs=1
[ "$mode" = short ] && jobs=${FUZZ_JOBS:-$(nproc)}
for bin in "$@"; do
  rm -f "build/fuzz/$(basename "$bin").result"
done
run_pool "$jobs" run_one "$@"
for bin in "$@"; do
  r="build/fuzz/$(basename "$bin").result"
  if [ -f "$r" ]; then
    cat "$r"
    grep -q "no finding" "$r" || fail=1
  else
    echo "fuzz $(basename "$bin"): FAILED (no result)"; fail=1
  fi
done
exit "$fail"
