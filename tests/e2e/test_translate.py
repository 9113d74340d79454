"""e2e: `ktmon translate` on real 7.x kernels (issue 4).

ktmon gets nothing but the guest's registers (QMP for x86 CR3/CR4, the gdbstub for arm64 TTBR1/TCR) and its RAM;
the addresses come from the guest's own /proc/kallsyms and the bytes found there must be what the guest
reports (/proc/version) or what its BTF says (init_task.comm == "swapper/0").
"""

import os
import struct

import pytest

import ktvm
from ktcli import ktmon, ok


def translate(vm, *kvas, regs='qmp'):
    args = ['translate', '--json', '--qmp', vm.tool_qmp_path]
    if regs == 'gdb':
        args += ['--gdb', '127.0.0.1:%d' % vm.gdb_port]
    r = ok(*(args + ['0x%x' % k for k in kvas]))
    out = r.json()
    assert len(out) == len(kvas)
    return out


def check_banner_and_comm(vm, regs='qmp'):
    banner = vm.sym('linux_banner')
    init_task = vm.sym('init_task')
    comm_off = ktvm.btf_member_offset(vm.kernel['vmlinux'], 'task_struct', 'comm')
    tr = translate(vm, banner, init_task + comm_off, regs=regs)
    for t in tr:
        assert 'error' not in t, t
        assert int(t['page_size'], 16) >= 4096
        assert len(t['entries']) >= 1
        # the last entry is the leaf that mapped the page
        assert t['entries'][-1]['level'] == t['level']
    text = vm.read_phys(int(tr[0]['pa'], 16), len(vm.ground_truth['version']))
    assert text.decode() == vm.ground_truth['version']
    comm = vm.read_phys(int(tr[1]['pa'], 16), 16).split(b'\0')[0]
    assert comm == b'swapper/0'
    # and QEMU's own page walk agrees
    assert vm.gva2gpa(banner) == int(tr[0]['pa'], 16)
    return tr


def test_x86_kaslr_banner_and_init_task(vm_x86):
    tr = check_banner_and_comm(vm_x86)
    assert [e['level'] for e in tr[0]['entries']][0] == 4  # 4-level paging


def test_x86_la57_walks_five_levels(vm_x86_la57):
    assert vm_x86_la57.ground_truth['cpuflags'].get('la57') == 1
    tr = check_banner_and_comm(vm_x86_la57)
    assert tr[0]['entries'][0]['level'] == 5
    assert len(tr[0]['entries']) >= 3


def test_arm64_4k_via_gdbstub_system_registers(vm_arm64):
    tr = check_banner_and_comm(vm_arm64, regs='gdb')
    assert vm_arm64.qmp('query-status')['running'], 'the gdbstub detach must leave the VM running'
    assert tr[0]['entries'][0]['level'] in (0, 1)


def test_arm64_16k_via_gdbstub_system_registers(vm_arm64_16k_nolpa2):
    vm = vm_arm64_16k_nolpa2
    tr = check_banner_and_comm(vm, regs='gdb')
    assert vm.qmp('query-status')['running']
    pages = {int(t['page_size'], 16) for t in tr}
    assert all(p % 16384 == 0 for p in pages), pages


def test_x86_ram_above_4g_uses_qemu_layout(vm_x86_3g):
    vm = vm_x86_3g
    # the layout QEMU reports has RAM at 4 GiB, above the PCI hole
    assert any(gpa >= 1 << 32 for gpa, off, size in vm.ram_layout), vm.ram_layout
    pob = vm.read_u64_sym('page_offset_base')
    high = (1 << 32) + 0x12340
    tr = translate(vm, pob + high)
    assert int(tr[0]['pa'], 16) == high
    # the bytes ktmon would read there are the bytes QEMU reads at that guest PA
    assert vm.read_phys(high, 8) == struct.pack('<Q', vm.xp(high)[0])


def test_translate_failures_are_reported_with_the_level(vm_x86):
    r = ktmon('translate', '--json', '--qmp', vm_x86.tool_qmp_path, '0xffff800000000000', '0x1')
    assert r.rc == 3, r
    out = r.json()
    assert out[0]['error'] == 'not present'
    assert out[0]['fault_level'] in (4, 3, 2, 1)
    assert out[1]['error'] in ('not present',)
    r = ktmon('translate', '--qmp', vm_x86.tool_qmp_path, '0x8000000000000000')
    assert r.rc == 3 and 'out of range' in r.out, r


def test_elf_core_dump_translates_like_the_live_guest(vm_x86, tmp_path):
    vm = vm_x86
    core = str(tmp_path / 'guest.core')
    banner = vm.sym('linux_banner')
    vm.qmp('stop')  # one CR3 for the live walk, the register read and the dump
    try:
        regs = vm.registers()
        cr3 = regs['CR3']
        la57 = bool(regs['CR4'] & (1 << 12))
        live = translate(vm, banner)[0]
        vm.qmp('dump-guest-memory', {'paging': False, 'protocol': 'file:' + core})
    finally:
        vm.qmp('cont')
    try:
        args = ['translate', '--json', '--mem', 'core:' + core, '--cr3', '0x%x' % cr3]
        if la57:
            args.append('--la57')
        out = ok(*(args + ['0x%x' % banner])).json()[0]
        assert out['pa'] == live['pa']
        assert out['entries'] == live['entries']
        # the banner bytes are in the core at that physical address
        pa = int(out['pa'], 16)
        with open(core, 'rb') as f:
            data = f.read()
        phoff, = struct.unpack_from('<Q', data, 0x20)
        phnum, = struct.unpack_from('<H', data, 0x38)
        found = None
        for i in range(phnum):
            p_type, _, p_off, _, p_paddr, p_filesz = struct.unpack_from('<IIQQQQ', data, phoff + 56 * i)
            if p_type == 1 and p_paddr <= pa < p_paddr + p_filesz:
                found = data[p_off + pa - p_paddr:p_off + pa - p_paddr + 14]
        assert found == b'Linux version '
    finally:
        os.unlink(core)


def test_usage_errors_exit_2():
    assert ktmon('translate').rc == 2
    assert ktmon('translate', '--cr3').rc == 2
    assert ktmon('translate', '--cr3', '0x1000', 'notanumber').rc == 2
    r = ktmon('translate', '--ttbr1', '0x40000000', '0xffff000000000000')
    assert r.rc == 2 and '--tcr' in r.err
