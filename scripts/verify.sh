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
out=build/verify
mkdir -p "$out"
cache="${KTMON_CACHE:-$HOME/.cache/ktmon}/wp-cache"
mkdir -p "$cache"
fail=0
total_goals=0

for wp in verify/wp/*.wp; do
  name=$(basename "$wp" .wp)
  if [ -n "${VERIFY_ONLY:-}" ] && [ "$VERIFY_ONLY" != "$name" ]; then continue; fi
  FILES=""; INCLUDES=""; ARGS=""
  # shellcheck disable=SC1090
  . "$wp"
  log="$out/wp-$name.log"
  start=$(date +%s)
  set +e
  # shellcheck disable=SC2086
  frama-c -c11 -cpp-extra-args="-Iinclude -I. $INCLUDES" \
    -wp -wp-rte -wp-par "${WP_PAR:-2}" -wp-timeout "${WP_TIMEOUT:-20}" -wp-prover z3,cvc4 \
    -wp-cache update -wp-cache-dir "$cache" \
    -warn-unsigned-overflow -warn-unsigned-downcast $ARGS $FILES \
    -then -report-classify -report-unclassified-unknown ERROR > "$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  line=$(grep -E 'Proved goals: +[0-9]+ / [0-9]+' "$log" | tail -n 1 || true)
  proved=$(echo "$line" | sed -E 's/.*Proved goals: +([0-9]+) \/ ([0-9]+).*/\1/')
  goals=$(echo "$line" | sed -E 's/.*Proved goals: +([0-9]+) \/ ([0-9]+).*/\2/')
  if [ "$rc" -ne 0 ] || [ -z "$line" ] || [ "$proved" != "$goals" ] || [ "$goals" -eq 0 ]; then
    echo "wp $name: FAILED (${proved:-?}/${goals:-?} goals, exit $rc, ${secs}s; log $log)"
    grep -E '^\[wp\] \[(Failed|Timeout|Unknown)|ERROR|Error|error:' "$log" | head -n 30 || true
    fail=1
  else
    echo "wp $name: $proved/$goals goals proved (${secs}s)"
    total_goals=$((total_goals + goals))
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
