#!/usr/bin/env python3
"""make demo: boot the bundled sched_ext test guest and watch it end to end.

The guest (Debian's 7.3 kernel under QEMU TCG, a small sched_ext scheduler and its loader) runs the scheduler
cycle one step at a time; `ktmon watch` runs beside it and reports what it sees.  The demo checks that ktmon saw
each step and exits non-zero if it did not.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.join(TOP, 'tests', 'e2e'))
import ktvm  # noqa: E402

KTMON = os.path.join(TOP, 'build', 'ktmon')
OUT = os.path.join(TOP, 'build', 'demo')


def say(msg):
    print('\n\033[1m== %s\033[0m' % msg if sys.stdout.isatty() else '\n== %s' % msg, flush=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    say('booting the x86_64 sched_ext test guest (Debian 7.3 kernel, QEMU TCG, KASLR on)')
    vm = ktvm.boot(arch='x86_64', scenario='cycle', wait_host=True)
    lines = []
    ok = False
    try:
        print('   guest up in %.1f s: %s' % (vm.boot_seconds, vm.ground_truth['version'][:60]))
        cmd = [KTMON, 'watch', '--vmlinux', vm.kernel['vmlinux'], '--qmp', vm.tool_qmp_path,
               '--gdb', '127.0.0.1:%d' % vm.gdb_port, '--out', OUT]
        say('starting: ktmon watch --vmlinux ... --qmp ... --gdb ... --out build/demo')
        w = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        def pump():
            for line in w.stdout:
                lines.append(line)
                print('   ktmon | ' + line, end='', flush=True)
        t = threading.Thread(target=pump, daemon=True)
        t.start()

        def wait_for(text, timeout=60, since=None):
            end = time.monotonic() + timeout
            start = len(lines) if since is None else since
            while time.monotonic() < end:
                if any(text in l for l in lines[start:]):
                    return True
                if w.poll() is not None:
                    break
                time.sleep(0.1)
            raise RuntimeError('ktmon did not report "%s" in time' % text)

        def seen_since(n, text):
            return any(text in l for l in lines[n:])

        wait_for('guest kernel found', since=0)
        steps = [
            (1, 'the guest attaches the scheduler', 'scheduler attached'),
            (2, 'sysrq-S: the kernel disables it (SCX_EXIT_SYSRQ: not an error)', 'not an error exit'),
            (3, 'the guest attaches the scheduler again', 'scheduler attached'),
            (4, 'the scheduler calls scx_bpf_error() (SCX_EXIT_ERROR_BPF)', 'VM thawed'),
            (5, 'the guest attaches the scheduler again', 'scheduler attached'),
            (6, 'the loader exits: the scheduler is unregistered (detach)', 'scheduler detached'),
        ]
        for n, what, expect in steps:
            say('step %d: %s' % (n, what))
            mark = len(lines)
            vm.release_step(n)
            vm.wait_console(r'KTGT step %d \S+ done' % n, timeout=90)
            wait_for(expect, since=mark)
            if n == 4 and not seen_since(mark, 'dump written'):
                raise RuntimeError('no dump for the error exit')
        time.sleep(1)
        w.send_signal(signal.SIGINT)
        rc = w.wait(timeout=30)
        t.join(timeout=5)
        dumps = sorted(p for p in os.listdir(OUT) if p.endswith('.json'))
        say('ktmon exited with %d (1: a scheduler error exit was caught)' % rc)
        if dumps:
            path = os.path.join(OUT, dumps[-1])
            with open(path) as f:
                d = json.load(f)
            ei = d['scx'].get('exit_info', {})
            say('the JSON report: %s' % path)
            print('   trigger:   %s = %s' % (d['trigger']['exit_kind_name'], d['trigger']['value']))
            print('   reason:    %s' % ei.get('reason'))
            print('   message:   %s' % ei.get('msg'))
            print('   frozen:    jiffies %s at the start of the dump, %s at its end' % (d.get('jiffies_start'),
                                                                                     d.get('jiffies_end')))
            for c in d['cpus']:
                print('   cpu %d:     nr_running %s, scx.nr_running %s, scx.flags %s' % (
                    c['cpu'], c.get('nr_running'), c.get('scx_nr_running'), c.get('scx_flags')))
        ok = rc == 1 and bool(dumps)
    finally:
        say('stopping the guest')
        vm.stop()
    say('demo %s' % ('complete' if ok else 'FAILED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
