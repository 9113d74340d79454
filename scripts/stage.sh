#!/usr/bin/env bash
# usage: stage.sh NAME CMD...   (make test's stages)
# Runs CMD, prints "== stage NAME: N s" and appends "NAME N" to $STAGE_TIMES (make test passes
# $(BUILD)/stage-times.txt, the file its closing line reads), so that a
# CI log shows where make test's time goes against its 25-minute budget.  Exits with CMD's status.
set -u
name=$1; shift
times=${STAGE_TIMES:-build/stage-times.txt}
mkdir -p "$(dirname "$times")"
start=$(date +%s)
"$@"
rc=$?
secs=$(( $(date +%s) - start ))
echo "$name $secs" >> "$times"
if [ "$rc" -eq 0 ]; then
  echo "== stage $name: ${secs} s"
else
  echo "== stage $name: FAILED after ${secs} s (exit $rc)"
fi
exit "$rc"
