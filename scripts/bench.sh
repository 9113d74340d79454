#!/usr/bin/env bash
# make bench: one run, one guest image, one table (and the same as JSON in build/bench/results.json).
# Never part of make test: the numbers are measurements, not pass/fail checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
C=${KTMON_CACHE:-$HOME/.cache/ktmon}
img=$C/bench-image
out=build/bench
mkdir -p "$out"
/usr/bin/python3 scripts/bench_image.py image "$img"
vmlinux=$(cat "$img/vmlinux.path")
raw=$out/raw.txt
: > "$raw"
# the steady-state numbers, under strace so that the system calls of the tick loop can be counted
strace -f -qq -o "$out/strace.txt" "$bin" "$img" "$vmlinux" | tee -a "$raw"
# system calls between the two getppid() markers of the tick loop
awk '/getppid\(/{n++; next} n==1{c++} END{printf "tick_syscalls %.6f per_tick\n", c/200000}' \
  "$out/strace.txt" | tee -a "$raw"
# nm on the same file, for the symbol-load comparison (warm: third run)
for i in 1 2 3; do s=$(date +%s%N); nm "$vmlinux" > /dev/null; e=$(date +%s%N); done
echo "nm_warm $(( (e - s) / 1000000 )) ms" | tee -a "$raw"
# cold page cache: symbols + BTF once more after dropping caches (root only)
if [ "$(id -u)" -eq 0 ]; then
  sync; echo 3 > /proc/sys/vm/drop_caches
  "$bin" load-only "$vmlinux" | tee -a "$raw"
  sync; echo 3 > /proc/sys/vm/drop_caches
  s=$(date +%s%N); nm "$vmlinux" > /dev/null; e=$(date +%s%N)
  echo "nm_cold $(( (e - s) / 1000000 )) ms" | tee -a "$raw"
fi
# the same kernel's 412 MB vmlinux with DWARF (what the -dbg package installs), extracted once from
# the package the rig downloaded; symbols + BTF and nm, warm (third run) and cold
deb=$(ls "$C"/apt/dl/linux-image-*-cloud-amd64-dbg_*_amd64.deb 2>/dev/null | head -n 1 || true)
dwarf=$C/dwarf/vmlinux-dwarf
if [ ! -s "$dwarf" ] && [ -n "$deb" ]; then
  mkdir -p "$C/dwarf"
  member=$(dpkg-deb -c "$deb" | awk '$1 ~ /^-/ && $NF ~ /\/vmlinux$/ {print $NF; exit}')
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "$member" > "$dwarf.tmp" && mv "$dwarf.tmp" "$dwarf"
fi
if [ -s "$dwarf" ]; then
  echo "dwarf_vmlinux_size $(( $(stat -c %s "$dwarf") / 1000000 )) MB" | tee -a "$raw"
  for i in 1 2 3; do "$bin" load-only "$dwarf" dwarf_warm > "$out/dwarf.txt"; done
  tee -a "$raw" < "$out/dwarf.txt"
  for i in 1 2 3; do s=$(date +%s%N); nm "$dwarf" > /dev/null; e=$(date +%s%N); done
  echo "nm_dwarf_warm $(( (e - s) / 1000000 )) ms" | tee -a "$raw"
  if [ "$(id -u)" -eq 0 ]; then
    sync; echo 3 > /proc/sys/vm/drop_caches
    "$bin" load-only "$dwarf" dwarf_cold | tee -a "$raw"
    sync; echo 3 > /proc/sys/vm/drop_caches
    s=$(date +%s%N); nm "$dwarf" > /dev/null; e=$(date +%s%N)
    echo "nm_dwarf_cold $(( (e - s) / 1000000 )) ms" | tee -a "$raw"
  fi
else
  echo "# no -dbg package in the cache (run make guest): the DWARF vmlinux rows are left out" | tee -a "$raw"
fi
# live QEMU numbers
/usr/bin/python3 scripts/bench_image.py live "$bin" | tee -a "$raw"
/usr/bin/python3 scripts/bench_table.py "$raw" "$out/results.json"
