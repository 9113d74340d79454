"""e2e: `ktmon watch` / `ktmon dump` against a real sched_ext guest (issue 8).

The guest runs the scheduler cycle in wait-for-host mode: the test releases each step (attach, sysrq-S,
attach, scx_bpf_error, attach, unregister, attach, stall) and checks what ktmon reported for it.  Exit-kind
values come from the kernel's BTF.
"""

import glob
import json
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

import ktvm
from conftest import scx_enum
from ktcli import KTMON, ok, ktmon


class Watcher:
    """ktmon watch --json in the background; events are collected as they arrive."""

    def __init__(self, vm, out_dir, *extra):
        self.vm = vm
        self.out_dir = out_dir
        args = [KTMON, 'watch', '--json', '--vmlinux', vm.kernel['vmlinux'], '--qmp', vm.tool_qmp_path,
                '--gdb', '127.0.0.1:%d' % vm.gdb_port, '--out', out_dir] + list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events = []
        self._q = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {'event': 'unparsed', 'text': line}
            self.events.append(ev)
            self._q.put(ev)

    def wait(self, name, timeout=60, pred=None):
        """Wait for the next event called `name` (matching pred); events in between are kept."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ev = self._q.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self._q.empty():
                    break
                continue
            if ev['event'] == name and (pred is None or pred(ev)):
                return ev
        raise AssertionError('no %s event within %ss; events: %s; stderr: %s' % (
            name, timeout, [e['event'] for e in self.events], self._stderr()))

    def _stderr(self):
        if self.proc.poll() is None:
            return '(running)'
        return self.proc.stderr.read()

    def stop(self, sig=signal.SIGINT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        self._t.join(timeout=10)
        return rc

    def names(self):
        return [e['event'] for e in self.events]


def step(vm, n, timeout=90):
    vm.release_step(n)
    vm.wait_console(r'KTGT step %d \S+ done' % n, timeout=timeout)


def load_dump(path):
    with open(path) as f:
        return json.load(f)


def check_error_dump(path, kind_name, msg_part, arch='x86_64'):
    d = load_dump(path)
    kinds = scx_enum('scx_exit_kind', arch)
    assert d['trigger']['kind'] == 'scx_exit'
    assert d['trigger']['value'] == kinds[kind_name]
    assert d['trigger']['exit_kind_name'] == kind_name
    assert d['scx']['exit_kind'] == kinds[kind_name]
    ei = d['scx']['exit_info']
    assert ei['kind'] == kinds[kind_name]
    assert msg_part in ei['msg'], ei
    assert ei['reason']
    # frozen while dumped: the guest's jiffies did not move between the first and the last read
    assert d['jiffies_start'] == d['jiffies_end'], (d['jiffies_start'], d['jiffies_end'])
    assert len(d['cpus']) >= 1 and all(c.get('rq_cpu') == c['cpu'] for c in d['cpus'])
    assert len(d['vcpus']) >= 1 and 'error' not in d['vcpus'][0]
    # the erroring scheduler's BPF maps and struct_ops programs, read from the frozen guest
    maps = {m.get('name'): m for m in d['bpf']['maps']}
    assert 'ktsched.bss' in maps and maps['ktsched.bss']['type_name'] == 'array'
    assert maps['ktsched.bss']['values'][0]['hex']
    progs = {p['name']: p for p in d['bpf']['struct_ops_progs']}
    assert 'kt_enqueue' in progs and progs['kt_enqueue']['verified_insns'] > 0
    return d


def run_cycle(vm, tmp_path, arch):
    kinds = scx_enum('scx_exit_kind', arch)
    out = str(tmp_path)
    w = Watcher(vm, out)
    try:
        w.wait('init-ok', timeout=60)
        step(vm, 1)                                    # attach
        p1 = w.wait('published')
        step(vm, 2)                                    # sysrq-S: below the gate
        h = w.wait('hit', pred=lambda e: e['value'] == kinds['SCX_EXIT_SYSRQ'])
        w.wait('below-gate', pred=lambda e: e['value'] == kinds['SCX_EXIT_SYSRQ'])
        w.wait('detached')
        assert 'dump' not in w.names() and 'error-exit' not in w.names()
        step(vm, 3)                                    # attach again
        p2 = w.wait('published')
        assert p2['id'] != p1['id']
        step(vm, 4)                                    # scx_bpf_error: caught by the watchpoint
        e = w.wait('error-exit', pred=lambda e: e['value'] == kinds['SCX_EXIT_ERROR_BPF'])
        d1 = w.wait('dump')
        w.wait('thawed')
        check_error_dump(d1['text'], 'SCX_EXIT_ERROR_BPF', 'error requested by loader', arch)
        w.wait('detached')
        step(vm, 5)                                    # the guest runs on after the thaw
        w.wait('published')
        step(vm, 6)                                    # unregister: below the gate
        w.wait('below-gate', pred=lambda e: e['value'] == kinds['SCX_EXIT_UNREG'])
        w.wait('detached')
        step(vm, 7)
        w.wait('published')
        step(vm, 8)                                    # watchdog stall
        w.wait('error-exit', pred=lambda e: e['value'] == kinds['SCX_EXIT_ERROR_STALL'])
        d2 = w.wait('dump')
        check_error_dump(d2['text'], 'SCX_EXIT_ERROR_STALL', 'watchdog', arch)
        w.wait('detached')
    finally:
        rc = w.stop()
    assert rc == 1, 'exit status 1: a scheduler error exit was caught'
    # each attach published exactly once, each detach disarmed
    assert w.names().count('published') == 4
    assert w.names().count('detached') == 4
    assert w.names().count('dump') == 2
    assert not glob.glob(os.path.join(out, '.*.tmp'))
    return w


def test_x86_full_cycle(fresh_vm, tmp_path):
    vm = fresh_vm(arch='x86_64', scenario='cycle', wait_host=True)
    run_cycle(vm, tmp_path, 'x86_64')


def test_arm64_full_cycle(fresh_vm, tmp_path):
    vm = fresh_vm(arch='arm64', scenario='cycle', wait_host=True)
    run_cycle(vm, tmp_path, 'arm64')


def test_rebind_disarms_then_publishes_next_tick(fresh_vm, tmp_path):
    """A detach and re-attach between two ticks: the next tick sees another instance (same address reused,
    new scx_sched.id, or a new address): REBIND_DISARMED, and PUBLISHED on the tick after."""
    vm = fresh_vm(arch='x86_64', scenario='cycle', wait_host=True)
    w = Watcher(vm, str(tmp_path), '--tick-ms', '8000')
    try:
        w.wait('init-ok', timeout=60)
        step(vm, 1)
        p1 = w.wait('published', timeout=30)
        # sysrq-S and the next attach right after each other, well inside one 8 s tick
        step(vm, 2)
        step(vm, 3)
        r = w.wait('rebind', timeout=30)
        assert r['id'] != p1['id']
        p2 = w.wait('published', timeout=30)
        assert p2['id'] == r['id'] and p2['kva'] == r['kva']
        assert p2['t'] - r['t'] > 7.0, 'published on the tick after the rebind'
        assert 'detached' not in w.names()
    finally:
        w.stop()


def test_user_watch_captures_a_dump_when_the_guest_writes(fresh_vm, tmp_path):
    vm = fresh_vm(arch='x86_64', scenario='hostname', pause=2)
    w = Watcher(vm, str(tmp_path), '--user', 'dirty_writeback_interval')
    try:
        armed = w.wait('user-armed', timeout=60)
        assert armed['kva'] == '0x%x' % vm.sym('dirty_writeback_interval')
        hit = w.wait('user-hit', timeout=30)
        assert hit['value'] > 1000  # the scenario writes 1000+N
        d = load_dump(w.wait('dump', timeout=30)['text'])
        assert d['trigger']['kind'] == 'user_watch' and d['trigger']['value'] == hit['value']
        assert d['jiffies_start'] == d['jiffies_end']
        w.wait('thawed')
        # the guest runs on: it sets the next hostname
        vm.wait_console(r'KTGT hostname_set', timeout=30, from_start=False)
    finally:
        rc = w.stop()
    assert rc == 0


def test_killing_qemu_mid_watch_exits_3_and_leaves_complete_dumps(fresh_vm, tmp_path):
    vm = fresh_vm(arch='x86_64', scenario='hostname', pause=1)
    w = Watcher(vm, str(tmp_path), '--user', 'dirty_writeback_interval')
    w.wait('dump', timeout=90)
    os.kill(vm.pid, signal.SIGKILL)
    rc = w.proc.wait(timeout=60)
    err = w.proc.stderr.read()
    assert rc == 3, err
    assert 'lost the VM' in err
    dumps = glob.glob(os.path.join(str(tmp_path), '*.json'))
    assert dumps
    for p in dumps:
        load_dump(p)  # every dump is complete JSON
    assert not glob.glob(os.path.join(str(tmp_path), '.*.tmp'))


def test_dump_command_freezes_and_thaws(vm_x86, tmp_path):
    r = ok('dump', '--json', '--out', str(tmp_path), '--vmlinux', vm_x86.kernel['vmlinux'],
           '--qmp', vm_x86.tool_qmp_path, '--gdb', '127.0.0.1:%d' % vm_x86.gdb_port)
    d = load_dump(r.json()['dump'])
    assert d['trigger']['kind'] == 'manual'
    assert d['jiffies_start'] == d['jiffies_end']
    assert d['scx']['attached'] is False
    assert len(d['cpus']) == vm_x86.ground_truth['ncpus_online']
    assert vm_x86.qmp('query-status')['running']


def test_watch_usage_errors():
    assert ktmon('watch').rc == 2
    assert ktmon('watch', '--vmlinux', '/nonexistent', '--qmp', '/x', '--gdb', '1:2', '--tick-ms', '5').rc == 2
    r = ktmon('watch', '--vmlinux', '/nonexistent', '--qmp', '/x', '--gdb', 'nocolon')
    assert r.rc == 2
    r = ktmon('watch', '--vmlinux', '/nonexistent', '--qmp', '/nonexistent.sock', '--gdb', '127.0.0.1:1')
    assert r.rc == 3 and r.err
