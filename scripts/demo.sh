#!/usr/bin/env bash
# make demo: boot the bundled sched_ext test guest and watch it end to end (scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 scripts/demo.py
