#!/usr/bin/env bash
# ThreadSanitizer run of the watchpoint slot table's concurrent stress test.
#
# `make unit` builds everything with ASan+UBSan, which cannot be combined with
# TSan, so this script builds modules/watchpoint_fsm (+ the status names it
# uses) and tests/unit/test_watchpoint_stress.c on their own with
# -fsanitize=thread and runs them.  Criterion cannot start under TSan (its
# process arena cannot be mapped), so the test is built with KM_STRESS_MAIN,
# which runs the same test body from a plain main().  Any data race report
# fails the run (halt_on_error=1, exitcode 66).  Build output stays in build/tsan/.
#
#   bash tests/tsan/run.sh            # gcc
#   CC=clang bash tests/tsan/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-gcc}
out=build/tsan
mkdir -p "$out"
flags=(-std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Iinclude -I. -Itests/unit
       -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer -fsanitize=thread)
"$CC" "${flags[@]}" -o "$out/wp-stress" \
  -DKM_STRESS_MAIN modules/common/status.c modules/watchpoint_fsm/*.c \
  tests/unit/test_watchpoint_stress.c -lpthread
log="$out/wp-stress.log"
set +e
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
  "$out/wp-stress" > "$log" 2>&1
rc=$?
set -e
grep -E 'stress|WARNING: ThreadSanitizer|SUMMARY|FAILED' "$log" || true
if [ "$rc" -ne 0 ] || grep -q 'WARNING: ThreadSanitizer' "$log"; then
  echo "tsan: FAILED (exit $rc; log $log)"
  exit 1
fi
echo "tsan: no data race reported (log $log)"
