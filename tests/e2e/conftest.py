"""Shared fixtures of ktmon's end-to-end tests (real kernels under QEMU TCG; see tests/guest/README.md).

Boots are expensive, so one boot per configuration is shared by every test of the session through a pool
(`ktvm_pool`, session scope). The pool keeps at most KTMON_E2E_MAX_VMS (default 2) guests alive, stopping the
least recently used one when another configuration is needed: keep tests of one configuration together.

Fixtures
    ktvm_pool              VMPool: .get(**boot_kwargs) -> running shared VM; .boot(**kw) -> private VM
    vm_x86                 x86_64 7.x, KASLR on, 512 MiB, 2 vCPUs, scenario idle
    vm_x86_nokaslr         same with nokaslr
    vm_x86_la57            same with -cpu max (5-level paging)
    vm_x86_3g              3072 MiB RAM (RAM above the PCI hole at guest PA 4 GiB)
    vm_arm64               arm64 4K (cortex-a57), scenario idle
    vm_arm64_16k           arm64 16K (-cpu max: FEAT_LPA2, so the kernel runs 52-bit VAs, TCR_EL1.DS=1)
    vm_arm64_16k_nolpa2    arm64 16K with lpa2=off (the same kernel falls back to 48-bit VAs, DS=0)
    vm_x86_cycle           x86_64 running the scheduler cycle scenario (ktpause=1)
    vm_x86_cycle_host      x86_64 cycle in ktwait=host mode: call vm.release_step(n) to run step n
    vm_arm64_cycle         arm64 4K running the scheduler cycle scenario (ktpause=1)
    fresh_vm               factory: fresh_vm(**boot_kwargs) boots a private VM, stopped after the test
    scx_exit_kind          {'SCX_EXIT_NONE': 0, ...} read from the x86_64 vmlinux BTF
    kernel_x86, kernel_arm64, kernel_arm64_16k   ktvm.kernel_info() dicts (paths + VERSION facts)
Functions
    scx_enum(enum_name, arch='x86_64', pagesize='4k')   any enum of that kernel's BTF (cached)

After every test an autouse check asserts that no QEMU of ours runs and no /dev/shm/ktmon-* file exists other
than those of the pool's live guests; at the end of the session, that none at all remain.
"""

import collections
import functools
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ktvm  # noqa: E402


@functools.lru_cache(maxsize=None)
def _enum_cached(vmlinux, enum_name):
    return dict(ktvm.btf_enum(vmlinux, enum_name))


def scx_enum(enum_name, arch='x86_64', pagesize='4k'):
    """Values of `enum_name` from the BTF of the rig's kernel for arch/pagesize (never hard-code them)."""
    return dict(_enum_cached(ktvm.kernel_info(arch, pagesize)['vmlinux'], enum_name))


class VMPool:
    def __init__(self, max_live=2):
        self.max_live = max(1, max_live)
        self._vms = collections.OrderedDict()
        self.boots = []  # (key, seconds) of every boot, for reports

    @staticmethod
    def _key(kw):
        return tuple(sorted(kw.items()))

    def get(self, **kw):
        key = self._key(kw)
        vm = self._vms.get(key)
        if vm is not None and vm.running:
            self._vms.move_to_end(key)
            return vm
        if vm is not None:
            vm.stop()
            del self._vms[key]
        while len(self._vms) >= self.max_live:
            _, old = self._vms.popitem(last=False)
            old.stop()
        vm = ktvm.boot(**kw)
        self.boots.append((key, vm.boot_seconds))
        self._vms[key] = vm
        return vm

    def release(self, **kw):
        vm = self._vms.pop(self._key(kw), None)
        if vm is not None:
            vm.stop()

    def live(self):
        return [v for v in self._vms.values() if v.running]

    def close(self):
        while self._vms:
            _, vm = self._vms.popitem()
            vm.stop()


def _require_images():
    missing = [p for p in (ktvm.initramfs_path('x86_64'), ktvm.initramfs_path('arm64')) if not os.path.exists(p)]
    try:
        ktvm.kernels_env()
    except FileNotFoundError as e:
        missing.append(str(e))
    if missing:
        pytest.fail('e2e rig not built (%s): run `make -C tests/guest`' % ', '.join(missing), pytrace=False)


@pytest.fixture(scope='session')
def ktvm_pool():
    _require_images()
    ktvm.sweep_stale()
    pool = VMPool(int(os.environ.get('KTMON_E2E_MAX_VMS', '2')))
    yield pool
    pool.close()
    ktvm.stop_all()
    assert ktvm.our_qemu_pids() == [], 'QEMU processes left at session end'
    assert ktvm.our_shm_files() == [], '/dev/shm/ktmon-* files left at session end'


@pytest.fixture(autouse=True)
def _no_leaked_guests():
    yield
    live = ktvm.live_vms()
    pids = {v.pid for v in live if v.running}
    files = {v.ram_path for v in live}
    leaked_pids = [p for p in ktvm.our_qemu_pids() if p not in pids]
    leaked_files = [f for f in ktvm.our_shm_files() if f not in files]
    assert not leaked_pids, 'QEMU processes of ours outside the live guests: %s' % leaked_pids
    assert not leaked_files, 'stray RAM files: %s' % leaked_files


@pytest.fixture
def fresh_vm():
    _require_images()
    started = []

    def _boot(**kw):
        vm = ktvm.boot(**kw)
        started.append(vm)
        return vm
    yield _boot
    for vm in started:
        vm.stop()


@pytest.fixture
def vm_x86(ktvm_pool):
    return ktvm_pool.get(arch='x86_64')


@pytest.fixture
def vm_x86_nokaslr(ktvm_pool):
    return ktvm_pool.get(arch='x86_64', kaslr=False)


@pytest.fixture
def vm_x86_la57(ktvm_pool):
    return ktvm_pool.get(arch='x86_64', la57=True)


@pytest.fixture
def vm_x86_3g(ktvm_pool):
    return ktvm_pool.get(arch='x86_64', ram_mb=3072)


@pytest.fixture
def vm_arm64(ktvm_pool):
    return ktvm_pool.get(arch='arm64', pagesize='4k')


@pytest.fixture
def vm_arm64_16k(ktvm_pool):
    return ktvm_pool.get(arch='arm64', pagesize='16k')


@pytest.fixture
def vm_arm64_16k_nolpa2(ktvm_pool):
    return ktvm_pool.get(arch='arm64', pagesize='16k', lpa2=False)


@pytest.fixture
def vm_x86_cycle(ktvm_pool):
    return ktvm_pool.get(arch='x86_64', scenario='cycle', pause=1)


@pytest.fixture
def vm_arm64_cycle(ktvm_pool):
    return ktvm_pool.get(arch='arm64', pagesize='4k', scenario='cycle', pause=1)


@pytest.fixture
def vm_x86_cycle_host(ktvm_pool):
    return ktvm_pool.get(arch='x86_64', scenario='cycle', wait_host=True)


@pytest.fixture(scope='session')
def scx_exit_kind():
    _require_images()
    return scx_enum('scx_exit_kind')


@pytest.fixture(scope='session')
def kernel_x86():
    _require_images()
    return ktvm.kernel_info('x86_64')


@pytest.fixture(scope='session')
def kernel_arm64():
    _require_images()
    return ktvm.kernel_info('arm64', '4k')


@pytest.fixture(scope='session')
def kernel_arm64_16k():
    _require_images()
    return ktvm.kernel_info('arm64', '16k')


def pytest_terminal_summary(terminalreporter):
    """Boots that timed out and were tried again (ktvm.boot): never silent."""
    if ktvm.retried_boots:
        terminalreporter.section('ktvm: %d boot(s) retried after a timeout' % len(ktvm.retried_boots))
        for config, err in ktvm.retried_boots:
            terminalreporter.write_line('%s: %s' % (config, err.splitlines()[0][:300]))
