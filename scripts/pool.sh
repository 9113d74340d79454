# Sourced by verify.sh and fuzz.sh.
# run_pool JOBS FUNC ITEM...: runs `FUNC ITEM` in the background for each item, at most JOBS at a
# time, and waits for all of them.  FUNC reports through files (its exit status is not collected
# here), so that the caller can print the results in a fixed order.
run_pool() {
  local jobs=$1 func=$2 running=0 item
  shift 2
  for item in "$@"; do
    "$func" "$item" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait || true
}
