#!/usr/bin/env bash
# make verify: Frama-C WP (with RTE guards) over every verify/wp/*.wp harness, and spin over
# every Promela model in verify/models.  Any unproved goal, any failed assertion in a model
# that must hold, or a model that must fail but does not, fails the target.
#
#   verify/wp/NAME.wp       shell fragment: FILES="..." [INCLUDES="-I..."] [ARGS="..."]
#   verify/models/X.pml     must verify (spin: errors: 0)
#   verify/models/X.fail.pml   must FAIL (a deliberately broken variant: proves the check can fail)
#
# VERIFY_ONLY=name restricts to one harness/model (e.g. VERIFY_ONLY=mem).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/pool.sh
. scripts/pool.sh
out=build/verify
mkdir -p "$out"
cache="${KTMON_CACHE:-$HOME/.cache/ktmon}/wp-cache"
mkdir -p "$cache"
fail=0
total_goals=0

# One harness: prints its result line (and the unproved goals) into $out/wp-NAME.result and
# exits non-zero unless every goal is proved.
run_wp() {
  local wp=$1 name log start rc secs line proved goals
  name=$(basename "$wp" .wp)
  FILES=""; INCLUDES=""; ARGS=""
  # shellcheck disable=SC1090
  . "$wp"
  log="$out/wp-$name.log"
  start=$(date +%s)
  set +e
  # shellcheck disable=SC2086
  frama-c -c11 -cpp-extra-args="-Iinclude -I. $INCLUDES" \
    -wp -wp-rte -wp-par "$WP_PAR" -wp-timeout "${WP_TIMEOUT:-20}" -wp-prover "$WP_PROVERS" \
    -wp-cache update -wp-cache-dir "$cache" \
    -warn-unsigned-overflow -warn-unsigned-downcast $ARGS $FILES \
    -then -report-classify -report-unclassified-unknown ERROR > "$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  line=$(grep -E 'Proved goals: +[0-9]+ / [0-9]+' "$log" | tail -n 1 || true)
  proved=$(echo "$line" | sed -E 's/.*Proved goals: +([0-9]+) \/ ([0-9]+).*/\1/')
  goals=$(echo "$line" | sed -E 's/.*Proved goals: +([0-9]+) \/ ([0-9]+).*/\2/')
  if [ "$rc" -ne 0 ] || [ -z "$line" ] || [ "$proved" != "$goals" ] || [ "${goals:-0}" -eq 0 ]; then
    { echo "wp $name: FAILED (${proved:-?}/${goals:-?} goals, exit $rc, ${secs}s; log $log)"
      grep -E '^\[wp\] \[(Failed|Timeout|Unknown)|ERROR|Error|error:' "$log" | head -n 30 || true
    } > "$out/wp-$name.result"
    return 1
  fi
  echo "wp $name: $proved/$goals goals proved (${secs}s)" > "$out/wp-$name.result"
  echo "$secs" > "$times/$name"
  echo "$goals" > "$out/wp-$name.goals"
}

# WP tries the provers in the order given, each until it answers or times out.  cvc4 first:
# when it cannot prove a goal it says so within a second, where z3 nearly always runs to the
# timeout; z3 then gets the goals cvc4 gave up on.  With z3 first a cold proof of the tree took
# 32 minutes, nearly all of it z3 timing out on goals cvc4 proves in 0.1 s (docs/proof-status.md).
WP_PROVERS=${WP_PROVERS:-cvc4,z3}

# Harnesses run VERIFY_JOBS at a time (default 2).  With a warm proof cache nearly all the time
# is WP's own goal generation and simplification (Qed), single-threaded per frama-c process, so
# two processes use both cores; each gets WP_PAR prover processes (default 1 when running two).
jobs=${VERIFY_JOBS:-2}
WP_PAR=${WP_PAR:-$(( jobs > 1 ? 1 : 2 ))}
# Longest first, so that the last harness to start is a short one: by the time each took on
# this machine before ($KTMON_CACHE/wp-times/NAME), else by the size of its sources (a rough
# 1 s for 100 bytes).  Alphabetical order left kop_wire (6 minutes) to start last but four.
times="${KTMON_CACHE:-$HOME/.cache/ktmon}/wp-times"
mkdir -p "$times"
harnesses=()
while read -r _ wp; do
  harnesses+=("$wp")
done < <(for wp in verify/wp/*.wp; do
           name=$(basename "$wp" .wp)
           if [ -n "${VERIFY_ONLY:-}" ] && [ "$VERIFY_ONLY" != "$name" ]; then continue; fi
           rm -f "$out/wp-$name.result" "$out/wp-$name.goals"
           if [ -s "$times/$name" ]; then
             est=$(cat "$times/$name")
           else
             FILES=""; . "$wp"
             # shellcheck disable=SC2086
             est=$(( $(cat $FILES | wc -c) / 100 ))
           fi
           echo "$est $wp"
         done | sort -k1,1 -n -r)
run_pool "$jobs" run_wp "${harnesses[@]}"
for wp in $(printf '%s\n' "${harnesses[@]}" | sort); do
  name=$(basename "$wp" .wp)
  if [ -f "$out/wp-$name.result" ]; then cat "$out/wp-$name.result"; else echo "wp $name: FAILED (no result)"; fi
  if [ -f "$out/wp-$name.goals" ]; then
    total_goals=$((total_goals + $(cat "$out/wp-$name.goals")))
  else
    fail=1
  fi
done

for pml in verify/models/*.pml; do
  [ -e "$pml" ] || continue
  base=$(basename "$pml" .pml)
  name=${base%.fail}
  if [ -n "${VERIFY_ONLY:-}" ] && [ "$VERIFY_ONLY" != "$name" ] && [ "$VERIFY_ONLY" != "$base" ]; then continue; fi
  dir="$out/spin-$base"
  rm -rf "$dir"; mkdir -p "$dir"
  cp "$pml" "$dir/model.pml"
  ( cd "$dir" && spin -a model.pml > spin.log 2>&1 && gcc -O2 -DSAFETY -DNOREDUCE -o pan pan.c >> spin.log 2>&1 \
      && ./pan -m100000 > pan.log 2>&1 ) || true
  errors=$(sed -n -E 's/.*errors: ([0-9]+).*/\1/p' "$dir/pan.log" 2>/dev/null | tail -n 1)
  states=$(sed -n -E 's/^ *([0-9e+.]+) states, stored.*/\1/p' "$dir/pan.log" 2>/dev/null | tail -n 1)
  if [ -z "$errors" ]; then
    echo "spin $base: FAILED to run (see $dir/spin.log)"
    fail=1
  elif [ "$base" != "$name" ]; then
    if [ "$errors" -gt 0 ]; then
      echo "spin $base: fails as it must ($errors error(s); trail in $dir)"
    else
      echo "spin $base: FAILED: this broken variant must violate an assertion but verified"
      fail=1
    fi
  elif [ "$errors" -eq 0 ]; then
    echo "spin $base: verified ($states states)"
  else
    echo "spin $base: FAILED: $errors error(s); replay: cd $dir && spin -t -p model.pml"
    fail=1
  fi
done

if [ "$fail" -ne 0 ]; then
  echo "make verify: FAILED"
  exit 1
fi
echo "make verify: passed ($total_goals WP goals)"
