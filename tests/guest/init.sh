#!/bin/busybox sh
# /init of the e2e rig's guest (busybox sh, PID 1). Prints ground truth to the console as `KTGT <key> ...`
# lines, then `KTGT ready`, then runs the scenario named by ktscenario= on the kernel command line.
# Line formats are documented in tests/guest/README.md; keep the two in step.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# the image carries no /dev/console node: (re)open the console once devtmpfs is there
exec </dev/console >/dev/console 2>&1
mount -t tmpfs tmpfs /tmp

gt() { echo "KTGT $*"; }

SCEN=idle PAUSE=1 WAITMODE=none WAITMAX=900
for w in $(cat /proc/cmdline); do
  case "$w" in
    ktscenario=*) SCEN=${w#ktscenario=} ;;
    ktpause=*) PAUSE=${w#ktpause=} ;;
    ktwait=*) WAITMODE=${w#ktwait=} ;;
    ktwaitmax=*) WAITMAX=${w#ktwaitmax=} ;;
    ktbpfstats=*) export KTSCHED_BPF_STATS=${w#ktbpfstats=} ;; # the loader counts BPF program runs
  esac
done
# u32 kernel variable behind a sysctl: the user-watch target and the host->guest "go" mailbox
UW_SYM=dirty_writeback_interval
UW_PATH=/proc/sys/vm/dirty_writeback_centisecs
SCX=/sys/kernel/sched_ext

# ---- ground truth -------------------------------------------------------------------------------------------
gt begin scenario=$SCEN pause=$PAUSE wait=$WAITMODE
gt version "$(cat /proc/version)"
gt uname_r "$(uname -r)"
gt uname_m "$(uname -m)"
gt uname_n "$(uname -n)"
gt hostname "$(hostname)"
gt cmdline "$(cat /proc/cmdline)"
echo 0 >/proc/sys/kernel/kptr_restrict
gt kptr_restrict "$(cat /proc/sys/kernel/kptr_restrict)"
SYMS="linux_banner init_task _text _stext _etext _end runqueues __per_cpu_offset scx_root page_offset_base
 phys_base init_top_pgt swapper_pg_dir jiffies_64 map_idr prog_idr init_uts_ns $UW_SYM __pgtable_l5_enabled
 scx_watchdog_timeout scx_tasks ext_sched_class kernel_cpustat kstat tick_cpu_sched entry_SYSCALL_64
 vectors memstart_addr kimage_voffset __per_cpu_start"
awk -v want="$SYMS" '
  BEGIN { n = split(want, a, /[ \n]+/); for (i = 1; i <= n; i++) if (a[i] != "") w[a[i]] = 1 }
  NF == 3 && ($3 in w) && !($3 in seen) { seen[$3] = 1; print "KTGT sym " $3 " " $1 " " $2 }
  END { for (k in w) if (!(k in seen)) print "KTGT nosym " k }' /proc/kallsyms
gt uwatch $UW_SYM "$(cat $UW_PATH)" $UW_PATH
grep -E 'Kernel (code|data|bss)|System RAM' /proc/iomem | sed 's/^ *//' | while read -r l; do gt iomem "$l"; done
gt pagesize_kb "$(awk '/^KernelPageSize/ { print $2; exit }' /proc/self/smaps)"
gt meminfo_kb MemTotal "$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
gt meminfo_kb VmallocTotal "$(awk '/^VmallocTotal/ { print $2 }' /proc/meminfo)"
if grep -qw la57 /proc/cpuinfo; then gt cpuflag la57 1; else gt cpuflag la57 0; fi
gt cpus_online "$(cat /sys/devices/system/cpu/online)"
gt cpus_possible "$(cat /sys/devices/system/cpu/possible)"
gt ncpus_online "$(grep -c '^processor' /proc/cpuinfo)"
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  n=${c##*/cpu}
  on=1
  [ -f "$c/online" ] && on=$(cat "$c/online")
  gt cpu "$n" online=$on
done
grep '^cpu[0-9]' /proc/stat | while read -r l; do gt cpustat "$l"; done
ntask=0
for t in /proc/[0-9]*/task/[0-9]*; do
  p=${t#/proc/}
  comm=$(cat "$t/comm" 2>/dev/null) || continue
  gt task "${t##*/}" "${p%%/*}" "$comm"
  ntask=$((ntask + 1))
done
gt ntasks $ntask

# sched_ext state: every single-value file of /sys/kernel/sched_ext plus root/ops, on one line
scx_line() {
  s="KTGT scx $1"
  if [ -d $SCX ]; then
    for f in $SCX/*; do [ -f "$f" ] && s="$s ${f##*/}=$(head -n1 "$f" 2>/dev/null | tr ' ' '_')"; done
    ops=$(cat $SCX/root/ops 2>/dev/null)
    s="$s ops=${ops:--}"
  else
    s="$s state=absent"
  fi
  echo "$s"
}
DMESG_SEEN=0
scx_dmesg() { # new kernel log lines about sched_ext since the last call
  dmesg | grep 'sched_ext' >/tmp/scx.dmesg
  n=$(wc -l </tmp/scx.dmesg)
  tail -n +$((DMESG_SEEN + 1)) /tmp/scx.dmesg | while read -r l; do gt dmesg "$l"; done
  DMESG_SEEN=$n
}
scx_line boot
scx_dmesg
gt uptime "$(cat /proc/uptime)"
gt ready

# ---- scenario helpers -----------------------------------------------------------------------------------------
STEP=0
pause() { [ "$WAITMODE" = host ] || sleep "$PAUSE"; }
# In ktwait=host mode every step first waits until the host has written the step number into the u32 kernel
# variable $UW_SYM (the guest reads it back through its sysctl file).
step() { # name
  STEP=$((STEP + 1))
  if [ "$WAITMODE" = host ]; then
    gt wait "$STEP" "$1" sym=$UW_SYM
    i=0
    while [ "$(cat $UW_PATH)" != "$STEP" ]; do
      sleep 0.1
      i=$((i + 1))
      [ $i -ge $((WAITMAX * 10)) ] && { gt waittimeout "$STEP"; break; }
    done
  fi
  gt step "$STEP" "$1" begin
}
step_done() { # name rc
  scx_line "after-$1"
  scx_dmesg
  gt step "$STEP" "$1" done rc=$2
}
wait_state() { # state seconds
  i=0
  while [ $i -lt $(($2 * 10)) ]; do
    [ "$(cat $SCX/state 2>/dev/null)" = "$1" ] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
LPID=
attach() {
  step attach
  /sched/ktsched-loader /sched/ktsched.bpf.o &
  LPID=$!
  rc=0
  wait_state enabled 120 || rc=1
  [ "$(cat $SCX/root/ops 2>/dev/null)" = ktsched ] || rc=1
  step_done attach $rc
  pause
}
# trigger an exit, wait for the kernel to finish disabling and for the loader to report and exit
scx_exit() { # name seconds command...
  name=$1 secs=$2
  shift 2
  step "$name"
  "$@"
  rc=0
  wait_state disabled "$secs" || rc=1
  [ -n "$LPID" ] && wait "$LPID"
  LPID=
  step_done "$name" $rc
  pause
}
sysrq_s() { echo S >/proc/sysrq-trigger; }
have_sched() { [ -x /sched/ktsched-loader ] && [ -d $SCX ]; }

gt scenario "$SCEN"
case "$SCEN" in
  idle) ;;
  cycle)
    if have_sched; then
      attach
      scx_exit sysrq 60 sysrq_s
      attach
      scx_exit error 60 kill -USR1 "$LPID"
      attach
      scx_exit unreg 60 kill -TERM "$LPID"
      attach
      scx_exit stall 120 kill -USR2 "$LPID"
    else
      gt unsupported cycle no-scheduler-in-image
    fi
    ;;
  attach) have_sched && attach ;;
  error) have_sched && { attach; scx_exit error 60 kill -USR1 "$LPID"; } ;;
  stall) have_sched && { attach; scx_exit stall 120 kill -USR2 "$LPID"; } ;;
  sysrq) have_sched && { attach; scx_exit sysrq 60 sysrq_s; } ;;
  hostname)
    i=0
    while :; do
      i=$((i + 1))
      hostname "kt-$i"
      echo $((1000 + i)) >$UW_PATH
      gt hostname_set "$i" "$(hostname)" $UW_SYM=$(cat $UW_PATH)
      sleep "$PAUSE"
    done
    ;;
  observe)
    # prints, never sets: the host changes these kernel variables (ktmon write / kop) and reads the console
    i=0
    while :; do
      i=$((i + 1))
      gt observe "$i" nodename="$(uname -n)" $UW_SYM=$(cat $UW_PATH) \
        dirty_expire_interval=$(cat /proc/sys/vm/dirty_expire_centisecs)
      sleep "$PAUSE"
    done
    ;;
  *) gt unknown_scenario "$SCEN" ;;
esac
gt done "$SCEN"
while :; do sleep 3600; done
