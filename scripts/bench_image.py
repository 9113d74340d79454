#!/usr/bin/env python3
"""Prepare the guest image `make bench` measures (once; cached) and run the live measurements.

usage: bench_image.py image DIR        boot the x86_64 guest, freeze it, keep its RAM, layout and CR3/CR4 in DIR
       bench_image.py live BENCH_BIN   boot a guest running the hostname scenario and run BENCH_BIN's live modes
"""
import os
import shutil
import subprocess
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.join(TOP, 'tests', 'e2e'))
import ktvm  # noqa: E402


def image(d):
    if os.path.exists(os.path.join(d, 'regs.txt')):
        return
    os.makedirs(d, exist_ok=True)
    vm = ktvm.boot(arch='x86_64', scenario='idle')
    try:
        vm.qmp('stop')
        regs = vm.registers()
        # a kernel-thread CR3 is as good as any for the kernel half; init_top_pgt is what ktmon settles on
        with open(os.path.join(d, 'layout.txt'), 'w') as f:
            for gpa, off, size in vm.ram_layout:
                f.write('%x %x %x\n' % (gpa, off, size))
        shutil.copyfile(vm.ram_path, os.path.join(d, 'ram.img'))
        with open(os.path.join(d, 'regs.txt.tmp'), 'w') as f:
            f.write('cr3 %x cr4 %x\n' % (regs['CR3'], regs['CR4']))
        os.rename(os.path.join(d, 'regs.txt.tmp'), os.path.join(d, 'regs.txt'))
        with open(os.path.join(d, 'vmlinux.path'), 'w') as f:
            f.write(vm.kernel['vmlinux'] + '\n')
    finally:
        vm.stop()


def live(bench):
    vm = ktvm.boot(arch='x86_64', scenario='hostname', pause=1)
    try:
        subprocess.run([bench, 'live', vm.tool_qmp_path, str(vm.gdb_port)], check=True)
        kva = vm.sym('dirty_writeback_interval')
        subprocess.run([bench, 'live-hit', vm.tool_qmp_path, str(vm.gdb_port), '0x%x' % kva, '10'], check=True)
    finally:
        vm.stop()


if __name__ == '__main__':
    if sys.argv[1] == 'image':
        image(sys.argv[2])
    else:
        live(sys.argv[2])
