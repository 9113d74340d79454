"""The real-kernel e2e rig itself: every guest configuration boots, reports ground truth that agrees with the
kernel's own files and with QEMU, and the test scheduler goes through its sched_ext state changes.

Run: /usr/bin/python3 -m pytest -v tests/e2e/test_rig.py   (after `make -C tests/guest`)
"""

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

import ktvm

X86_DIRECT_MAP_4L = 0xffff888000000000  # page_offset_base without KASLR, 4-level paging
X86_DIRECT_MAP_5L = 0xff11000000000000  # the same with 5-level paging
CR4_LA57 = 1 << 12
VMALLOC_TOTAL_4L_KB = (32 << 40) // 1024 - 1  # 32 TiB vmalloc space, as /proc/meminfo prints it

COMMON_SYMS = ['linux_banner', 'init_task', '_text', '_stext', 'runqueues', '__per_cpu_offset', 'scx_root',
               'jiffies_64', 'map_idr', 'prog_idr', 'init_uts_ns', 'dirty_writeback_interval']
X86_SYMS = ['page_offset_base', 'phys_base', 'init_top_pgt']
ARM64_SYMS = ['swapper_pg_dir']


# ---------------------------------------------------------------------------------------------------------------
# shared checks


def check_ground_truth(vm, kinfo):
    gt = vm.ground_truth
    assert gt['ready']
    # /proc/version: parsed, names the kernel we booted, and is the vmlinux's own banner string
    assert gt['version_release'] == kinfo['KRELEASE']
    assert gt['uname_r'] == kinfo['KRELEASE']
    assert gt['version'] == ktvm.vmlinux_banner(kinfo['vmlinux'])
    assert gt['uname_m'] == {'x86_64': 'x86_64', 'arm64': 'aarch64'}[vm.arch]
    assert gt['kptr_restrict'] == 0
    # symbols: all present with non-zero kernel addresses
    want = COMMON_SYMS + (X86_SYMS if vm.arch == 'x86_64' else ARM64_SYMS)
    missing = [s for s in want if s not in gt['syms']]
    assert not missing, 'symbols missing from kallsyms ground truth: %s' % missing
    lowest = 0xffff000000000000 if vm.arch == 'arm64' else 0xffffffff80000000
    for s in want:
        assert vm.sym(s) >= lowest, (s, hex(vm.sym(s)))
    # every reported address keeps its link-time distance to _text (one KASLR offset for the whole image)
    link = ktvm.elf_symbols(kinfo['vmlinux'], list(gt['syms']))
    base = vm.sym('_text') - link['_text']
    moved = {s: hex(vm.sym(s) - link[s]) for s in gt['syms'] if s in link and vm.sym(s) - link[s] != base}
    assert not moved, 'symbols with a different offset than _text (%#x): %s' % (base, moved)
    # tasks: pid 1 is our init; kernel threads are there; counts agree
    tids = {t[0]: t for t in gt['tasks']}
    assert 1 in tids and tids[1][2] == 'init', tids.get(1)
    assert 2 in tids and tids[2][2] == 'kthreadd'
    assert gt['ntasks'] == len(gt['tasks']) > 10
    # CPUs
    assert gt['ncpus_online'] == vm.cpus == len(gt['cpus']) == len(gt['cpustat'])
    assert gt['cpus_online'] == '0-%d' % (vm.cpus - 1)
    assert all(c.get('online') == '1' for c in gt['cpus'].values())
    # sched_ext is built in and idle at boot
    assert gt['scx']['boot']['state'] == 'disabled'
    assert gt['scx']['boot']['ops'] == '-'
    # the u32 user-watch variable: the value the guest read through its sysctl is in guest RAM at the symbol
    assert vm.read_u32_sym(gt['uwatch']['symbol']) == gt['uwatch']['value'] == 500
    # kernel-image address -> guest PA: our /proc/iomem anchor agrees with QEMU's own page walk, and the bytes
    # at that PA in the shared RAM file are the banner the guest printed
    banner = vm.sym('linux_banner')
    pa = vm.kimage_pa(banner)
    assert vm.gva2gpa(banner) == pa
    text = gt['version'].encode()
    assert vm.read_phys(pa, len(text) + 1) == text + b'\n'
    # the gdbstub listens on the port we chose
    assert _listening(vm.gdb_port)
    # page size
    assert gt['pagesize_kb'] == {'4k': 4, '16k': 16}[vm.pagesize]


def _listening(port):
    want = ':%04X' % port
    with open('/proc/net/tcp') as f:
        return any(l.split()[1].endswith(want) and l.split()[3] == '0A' for l in list(f)[1:])


def check_x86_levels(vm, five):
    gt = vm.ground_truth
    cr4 = vm.registers()['CR4']
    assert bool(cr4 & CR4_LA57) == five, 'CR4=%#x' % cr4
    assert gt['cpuflags']['la57'] == int(five)
    if five:
        assert gt['meminfo_kb']['VmallocTotal'] > VMALLOC_TOTAL_4L_KB
        assert vm.read_u64_sym('page_offset_base') < 0xffff000000000000
    else:
        assert gt['meminfo_kb']['VmallocTotal'] == VMALLOC_TOTAL_4L_KB
        assert vm.read_u64_sym('page_offset_base') >= 0xffff800000000000


# ---------------------------------------------------------------------------------------------------------------
# boot configurations


def test_x86_64_kaslr(vm_x86, kernel_x86):
    check_ground_truth(vm_x86, kernel_x86)
    gt = vm_x86.ground_truth
    assert 'nokaslr' not in gt['cmdline'].split()
    link_text = ktvm.elf_symbols(kernel_x86['vmlinux'], ['_text'])['_text']
    # KASLR moves the kernel text and the direct map (each picks a random slot; offset 0 is ~1 in 500)
    assert vm_x86.sym('_text') != link_text
    assert vm_x86.read_u64_sym('page_offset_base') != X86_DIRECT_MAP_4L
    check_x86_levels(vm_x86, five=False)
    assert vm_x86.ram_layout[0][:2] == (0, 0)
    assert all(gpa == off for gpa, off, _ in vm_x86.ram_layout)


def test_x86_64_nokaslr(vm_x86_nokaslr, kernel_x86):
    check_ground_truth(vm_x86_nokaslr, kernel_x86)
    gt = vm_x86_nokaslr.ground_truth
    assert 'nokaslr' in gt['cmdline'].split()
    link = ktvm.elf_symbols(kernel_x86['vmlinux'], ['_text', 'linux_banner'])
    assert vm_x86_nokaslr.sym('_text') == link['_text'] == 0xffffffff81000000
    assert vm_x86_nokaslr.sym('linux_banner') == link['linux_banner']
    assert vm_x86_nokaslr.read_u64_sym('page_offset_base') == X86_DIRECT_MAP_4L
    check_x86_levels(vm_x86_nokaslr, five=False)


def test_x86_64_la57(vm_x86_la57, kernel_x86):
    check_ground_truth(vm_x86_la57, kernel_x86)
    check_x86_levels(vm_x86_la57, five=True)


def test_x86_64_ram_above_4g(vm_x86_3g, kernel_x86):
    vm = vm_x86_3g
    check_ground_truth(vm, kernel_x86)
    layout = vm.ram_layout
    low = [r for r in layout if r[0] < 1 << 32]
    high = [r for r in layout if r[0] >= 1 << 32]
    # below 4 GiB: guest PA == file offset (minus the legacy VGA/ROM windows under 1 MiB), up to the PCI hole
    assert all(gpa == off for gpa, off, _ in low)
    assert sum(size for gpa, _, size in low if gpa < 1 << 20) < 1 << 20
    low_end = max(gpa + size for gpa, _, size in low)
    assert low_end in (0x80000000, 0xb0000000), 'low RAM must stop at the PCI hole: %#x' % low_end
    # above it: the rest of the RAM file, at guest PA 4 GiB
    assert len(high) == 1 and high[0][0] == 1 << 32 and high[0][1] == low_end, layout
    assert low_end + high[0][2] == 3072 << 20
    # the PCI hole is not RAM
    with pytest.raises(ValueError):
        vm.file_offset(low_end)
    # the guest sees its RAM where the layout says: System RAM above 4 GiB in /proc/iomem ...
    ram = [(s, e) for s, e, n in vm.ground_truth['iomem'] if n == 'System RAM']
    assert any(s == 1 << 32 and e == (1 << 32) + high[0][2] - 1 for s, e in ram), ram
    # ... and QEMU's view of a PA above 4 GiB is the RAM file at the mapped offset (memblock allocates top-down,
    # so the end of high RAM holds kernel data)
    with open(vm.ram_path, 'rb') as f:
        f.seek(high[0][1] + high[0][2] - (64 << 20))
        blob = f.read(64 << 20)
    nz = next(i for i in range(len(blob) - 64, 0, -4096) if any(blob[i:i + 32]))
    pa = high[0][0] + high[0][2] - (64 << 20) + nz
    assert vm.xp(pa, 4) == list(struct.unpack('<4Q', vm.read_phys(pa, 32)))
    assert any(vm.xp(pa, 4))


def check_arm64_kaslr(vm, kinfo):
    link_text = ktvm.elf_symbols(kinfo['vmlinux'], ['_text'])['_text']
    assert 'nokaslr' not in vm.ground_truth['cmdline'].split()
    assert vm.sym('_text') != link_text  # QEMU's virt board hands the kernel a kaslr-seed


def test_arm64_4k(vm_arm64, kernel_arm64):
    check_ground_truth(vm_arm64, kernel_arm64)
    check_arm64_kaslr(vm_arm64, kernel_arm64)
    assert vm_arm64.ram_layout == [(ktvm.ARM64_DRAM_BASE, 0, 512 << 20)]
    assert kernel_arm64['PAGESIZE'] == '4k'


def test_arm64_16k(vm_arm64_16k, kernel_arm64_16k):
    check_ground_truth(vm_arm64_16k, kernel_arm64_16k)
    check_arm64_kaslr(vm_arm64_16k, kernel_arm64_16k)
    assert vm_arm64_16k.ram_layout == [(ktvm.ARM64_DRAM_BASE, 0, 512 << 20)]
    assert kernel_arm64_16k['PAGESIZE'] == '16k'


# ---------------------------------------------------------------------------------------------------------------
# the scheduler


def _cycle_record(vm, timeout):
    vm.wait_console(r'^KTGT done cycle', timeout=timeout, from_start=True)
    lines = vm.console_lines()
    steps = [l.split()[2:] for l in lines if l.startswith('KTGT step ') and ' done ' in l]
    scx = {}
    for l in lines:
        m = re.match(r'KTGT scx (\S+) (.*)', l)
        if m:
            scx.setdefault(m.group(1), []).append(dict(kv.split('=', 1) for kv in m.group(2).split()))
    rx = re.compile(r'KTSCHED exit pid=(?P<pid>\d+) kind=(?P<kind>\d+) code=(?P<code>-?\d+) '
                    r'reason=(?P<reason>.*) msg=(?P<msg>.*)$')
    exits = [rx.match(l).groupdict() for l in lines if l.startswith('KTSCHED exit ')]
    attached = [l for l in lines if l.startswith('KTSCHED attached ')]
    dmesg = [l for l in lines if l.startswith('KTGT dmesg ')]
    return steps, scx, exits, attached, dmesg


@pytest.mark.parametrize('fixture', ['vm_x86_cycle', 'vm_arm64_cycle'])
def test_scheduler_cycle(fixture, request):
    """attach -> sysrq-S -> attach -> scx_bpf_error -> attach -> unregister -> attach -> watchdog stall."""
    vm = request.getfixturevalue(fixture)
    scx_exit_kind = ktvm.btf_enum(vm.kernel['vmlinux'], 'scx_exit_kind')
    steps, scx, exits, attached, dmesg = _cycle_record(vm, timeout=300)
    names = [s[1] for s in steps]
    assert names == ['attach', 'sysrq', 'attach', 'error', 'attach', 'unreg', 'attach', 'stall']
    assert all(s[3] == 'rc=0' for s in steps), steps
    # each attach enabled our scheduler, each exit disabled it; enable_seq counts the attaches
    assert [(r['state'], r['ops']) for r in scx['after-attach']] == [('enabled', 'ktsched')] * 4
    assert [int(r['enable_seq']) for r in scx['after-attach']] == [1, 2, 3, 4]
    for tag in ('after-sysrq', 'after-error', 'after-unreg', 'after-stall'):
        assert scx[tag][0]['state'] == 'disabled' and scx[tag][0]['ops'] == '-', (tag, scx[tag])
    # the exit kinds the scheduler's ops.exit saw, against the values in this kernel's BTF
    assert [int(e['kind']) for e in exits] == [scx_exit_kind['SCX_EXIT_SYSRQ'], scx_exit_kind['SCX_EXIT_ERROR_BPF'],
                                               scx_exit_kind['SCX_EXIT_UNREG'],
                                               scx_exit_kind['SCX_EXIT_ERROR_STALL']]
    assert 'ktsched: error requested by loader' in exits[1]['msg']
    assert scx_exit_kind['SCX_EXIT_ERROR_BPF'] >= scx_exit_kind['SCX_EXIT_ERROR'] > scx_exit_kind['SCX_EXIT_SYSRQ']
    # four loaders, four attaches
    pids = {re.search(r'pid=(\d+)', l).group(1) for l in attached}
    assert len(attached) == 4 and len(pids) == 4
    # and the kernel said so in its log
    log = '\n'.join(dmesg)
    assert log.count('BPF scheduler "ktsched" enabled') == 4
    for reason in ('disabled by sysrq-S', 'scx_bpf_error', 'unregistered from user space', 'runnable task stall'):
        assert 'BPF scheduler "ktsched" disabled (%s)' % reason in log, reason
    assert 'ktsched: error requested by loader (code' in log


def test_x86_64_wait_for_host(vm_x86_cycle_host):
    vm = vm_x86_cycle_host
    vm.wait_console(r'^KTGT wait 1 attach sym=dirty_writeback_interval$', timeout=60, from_start=True)
    time.sleep(2)
    assert not any(l.startswith('KTGT step 1 ') for l in vm.console_lines()), 'step ran before the host said so'
    vm.release_step(1)
    vm.wait_console(r'^KTGT step 1 attach done rc=0$', timeout=120)
    vm.wait_console(r'^KTGT wait 2 sysrq ', timeout=30)
    assert vm.read_u32_sym('dirty_writeback_interval') == 1
    vm.release_step(2)
    vm.wait_console(r'^KTGT step 2 sysrq done rc=0$', timeout=120)
    assert re.search(r'KTSCHED exit pid=\d+ kind=%d ' % ktvm.btf_enum(vm.kernel['vmlinux'], 'scx_exit_kind')[
        'SCX_EXIT_SYSRQ'], vm.console_text())


def test_x86_64_hostname_scenario(fresh_vm, kernel_x86):
    vm = fresh_vm(arch='x86_64', scenario='hostname', pause=0.5)
    m = vm.wait_console(r'^KTGT hostname_set 3 (\S+) dirty_writeback_interval=(\d+)$', timeout=60)
    assert m.group(1) == 'kt-3' and m.group(2) == '1003'
    # the guest's hostname lives in init_uts_ns.name.nodename; find it with BTF offsets and read guest RAM
    off = ktvm.btf_member_offset(kernel_x86['vmlinux'], 'uts_namespace', 'name') + \
        ktvm.btf_member_offset(kernel_x86['vmlinux'], 'new_utsname', 'nodename')
    raw = vm.read_phys(vm.kimage_pa(vm.sym('init_uts_ns')) + off, 65)
    name = raw.split(b'\0', 1)[0].decode()
    n = int(re.fullmatch(r'kt-(\d+)', name).group(1))
    assert 3 <= n <= 6
    assert 1003 <= vm.read_u32_sym('dirty_writeback_interval') <= 1006


# ---------------------------------------------------------------------------------------------------------------
# cleanup guarantees


def test_boot_timeout_cleans_up():
    before = set(ktvm.our_qemu_pids())
    with pytest.raises(ktvm.BootError):
        ktvm.boot(arch='x86_64', timeout=2)
    assert set(ktvm.our_qemu_pids()) == before
    assert all(any(f == v.ram_path for v in ktvm.live_vms()) for f in ktvm.our_shm_files())


def test_boot_timeout_is_retried_once_from_scratch(monkeypatch):
    """A guest that stalls before its ready line is booted once more, and the retry is recorded with where the
    first one stalled. The first attempt is made to stall by starting its QEMU with -S (no guest code runs)."""
    before = set(ktvm.our_qemu_pids())
    argv = ktvm.VM._qemu_argv
    calls = []

    def first_one_stalls(self):
        calls.append(1)
        return argv(self) + (['-S'] if len(calls) == 1 else [])

    monkeypatch.setattr(ktvm.VM, '_qemu_argv', first_one_stalls)
    n = len(ktvm.retried_boots)
    vm = ktvm.boot(arch='x86_64', timeout=20, attempts=2)
    try:
        assert vm.running and vm.ground_truth['ready']
        assert len(calls) == 2
        assert len(ktvm.retried_boots) == n + 1
        config, err = ktvm.retried_boots[-1]
        assert config.startswith('x86_64/4k')
        assert 'timeout after 20 s' in err
        # -S leaves the vCPU at the reset vector (real mode: EIP=0xfff0)
        assert re.search(r'vCPU 0 at (RIP|EIP|PC)=0x[0-9a-f]+', err), err
        # the stalled attempt's QEMU and RAM file are gone; only the second guest's remain
        assert set(ktvm.our_qemu_pids()) - before == {vm.pid}
    finally:
        vm.stop()
        del ktvm.retried_boots[n:]
    # an explicit timeout alone is one attempt (the timeout test above relies on it)
    with pytest.raises(ktvm.BootTimeout):
        ktvm.boot(arch='x86_64', timeout=2)
    assert set(ktvm.our_qemu_pids()) == before


# the child is interrupted while it waits for its guest to boot (the common Ctrl-C case)
_CHILD = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, %r)
    import ktvm
    vm = ktvm.VM(arch='x86_64')
    def hold(timeout):
        print('READY', vm.pid, vm.ram_path, flush=True)
        time.sleep(600)
    vm._await_ready = hold
    vm.start()
''')


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_owner_leaves_nothing(sig):
    """A Python process booting a guest is interrupted (Ctrl-C), terminated or killed outright: its QEMU must
    die and its RAM file must go (SIGKILL: QEMU dies by PDEATHSIG; the next session's sweep removes the file)."""
    child = subprocess.Popen([sys.executable, '-c', _CHILD % os.path.dirname(os.path.abspath(__file__))],
                             stdout=subprocess.PIPE, universal_newlines=True)
    try:
        line = child.stdout.readline().split()
        assert line and line[0] == 'READY', line
        qpid, ram = int(line[1]), line[2]
        assert qpid in ktvm.our_qemu_pids(owner=child.pid) and os.path.exists(ram)
        child.send_signal(sig)
        child.wait(timeout=30)
        end = time.monotonic() + 10
        while qpid in ktvm.our_qemu_pids(owner=None) and time.monotonic() < end:
            time.sleep(0.1)
        assert qpid not in ktvm.our_qemu_pids(owner=None)
        if sig == signal.SIGKILL:
            ktvm.sweep_stale()
        assert not os.path.exists(ram)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
