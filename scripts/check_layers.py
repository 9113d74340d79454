#!/usr/bin/env python3
"""The layering rule: a module includes only the public headers of modules to its left.

Order (DESIGN.md): hal -> mem -> pgwalk -> guest_kernel (+ ksym, btf) ->
watchpoint_fsm / kop_dispatch / bpf_introspect -> freeze -> cli.
'common' (status, atomics) sits below everything; ksym and btf sit beside
pgwalk, below guest_kernel.  Modules of the same rank may not include each other.
"""
import os
import re
import sys

RANK = {
    "api": 0, "status": 0, "atomic": 0, "arch": 0, "common": 0,
    "hal": 1, "qemu": 1, "kvm_x86": 1, "kvm_arm64": 1,
    "mem": 2,
    "pgwalk": 3, "ksym": 3, "btf": 3,
    "guest_kernel": 4,
    "watchpoint_fsm": 5, "kop_dispatch": 5, "bpf_introspect": 5,
    "freeze": 6,
}
# hal backends (hal/qemu, hal/kvm_*) implement the ops table; they may use mem (for
# RAM layout types) but nothing above it.
HAL_MAX_RANK = 2


def module_of(path):
    parts = path.split(os.sep)
    if parts[0] == "modules":
        return parts[1], RANK.get(parts[1])
    if parts[0] == "hal":
        return "hal/" + (parts[1] if len(parts) > 2 else ""), HAL_MAX_RANK
    return None, None


def main():
    bad = []
    inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    for top in ("modules", "hal"):
        for dirpath, _, files in os.walk(top):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                mod, rank = module_of(path)
                if rank is None:
                    bad.append("%s: module '%s' has no rank in scripts/check_layers.py" % (path, mod))
                    continue
                for no, line in enumerate(open(path, encoding="utf-8"), 1):
                    m = inc.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    if target.startswith("ktmon/"):
                        dep = os.path.splitext(os.path.basename(target))[0]
                    elif target.startswith("hal/"):
                        dep = "hal"
                    else:
                        continue  # the module's own private header
                    drank = RANK.get(dep)
                    if drank is None:
                        bad.append("%s:%d: header %s has no rank" % (path, no, target))
                    elif dep != mod and (drank > rank or (drank == rank and rank != 0)) \
                            and not (mod.startswith("hal") and dep == "hal"):
                        bad.append("%s:%d: %s (rank %d) includes %s (rank %d): data flows left to right"
                                   % (path, no, mod, rank, target, drank))
    if bad:
        print("layering: violations:")
        for b in bad:
            print("  " + b)
        return 1
    print("layering: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
