"""e2e: kernel operations (issue 7) on real 7.x guests: `ktmon write` cold (QMP stop ... cont) and hot, OrU32,
`ktmon kop` batches from JSON and from wire frames, and the refusals.

The guest runs the `observe` scenario (tests/guest/init.sh): every 0.25 s it prints its nodename and the two u32
sysctl variables dirty_writeback_interval and dirty_expire_interval, and never sets them; so what the console
shows after a write is what the kernel itself reads back through uname(2) and /proc/sys.
"""

import json
import re
import struct
import zlib

import pytest

import ktvm
from ktcli import ktmon, ok

KORQ = 0x4B4F5251
KORP = 0x4B4F5250


@pytest.fixture
def vm_observe(ktvm_pool):
    return ktvm_pool.get(arch='x86_64', scenario='observe', pause=0.25)


def args(vm):
    a = ['--vmlinux', vm.kernel['vmlinux'], '--qmp', vm.tool_qmp_path]
    if vm.arch == 'arm64':
        a += ['--gdb', '127.0.0.1:%d' % vm.gdb_port]
    return a


def observed(vm, pattern, timeout=30):
    """The next `KTGT observe` line matching pattern (regex over the whole line)."""
    return vm.wait_console(r'KTGT observe \d+ .*' + pattern, timeout=timeout)


def current(vm):
    m = vm.wait_console(r'KTGT observe \d+ nodename=(\S+) dirty_writeback_interval=(\d+) '
                        r'dirty_expire_interval=(\d+)', timeout=30)
    return m.group(1), int(m.group(2)), int(m.group(3))


def running(vm):
    return vm.qmp('query-status')['running']


def test_cold_write_of_the_hostname_is_seen_by_the_guest(vm_observe):
    vm = vm_observe
    a = args(vm)
    r = ok('write', '--json', 'init_uts_ns.name.nodename', 'str:kt-cold-1', *a).json()
    assert r['applied'] is True and r['mode'] == 'cold' and r['type'] == 'bytes', r
    # the address is the guest's own: init_uts_ns (from /proc/kallsyms) + the member offset
    vml = vm.kernel['vmlinux']
    assert int(r['kva'], 16) - vm.sym('init_uts_ns') == (ktvm.btf_member_offset(vml, 'uts_namespace', 'name') +
                                                         ktvm.btf_member_offset(vml, 'new_utsname', 'nodename'))
    assert running(vm), 'the VM runs again after the cold write (QMP cont)'
    observed(vm, r'nodename=kt-cold-1 ')
    # read back through the same dispatcher, cold and hot
    assert ok('read', 'init_uts_ns.name.nodename', '--type', 'str', '--cold', *a).out == 'kt-cold-1\n'
    assert ok('read', 'init_uts_ns.name.nodename', '--type', 'str', *a).out == 'kt-cold-1\n'
    assert running(vm)


def test_or_u32_sets_one_bit_and_leaves_the_rest(vm_observe):
    vm = vm_observe
    a = args(vm)
    _, wb0, ex0 = current(vm)
    assert ex0 & 0x30000 == 0, ex0
    # dirty_writeback_interval is the u32 right after dirty_expire_interval: an 8-byte RMW would clobber it
    e = ok('read', '--json', 'dirty_expire_interval', '--type', 'u32', *a).json()
    w = ok('read', '--json', 'dirty_writeback_interval', '--type', 'u32', *a).json()
    assert int(e['value'], 16) == ex0 and int(w['value'], 16) == wb0
    ok('write', 'dirty_expire_interval', '--or', '0x10000', *a)             # cold (QMP stop/cont)
    observed(vm, r'dirty_writeback_interval=%d dirty_expire_interval=%d$' % (wb0, ex0 | 0x10000))
    ok('write', 'dirty_expire_interval', '--or', '0x20000', '--hot', *a)    # hot: compare-and-swap
    observed(vm, r'dirty_writeback_interval=%d dirty_expire_interval=%d$' % (wb0, ex0 | 0x30000))
    # restore (cold u32 write; width from the symbol's size)
    ok('write', 'dirty_expire_interval', str(ex0), *a)
    observed(vm, r'dirty_expire_interval=%d$' % ex0)


def test_hot_u32_write_is_seen_by_the_guest(vm_observe):
    vm = vm_observe
    a = args(vm)
    _, wb0, _ = current(vm)
    r = ok('write', '--json', 'dirty_writeback_interval', '4242', '--hot', *a).json()
    assert r['applied'] and r['mode'] == 'hot' and r['type'] == 'u32', r
    assert int(r['pa'], 16) == vm.kimage_pa(vm.sym('dirty_writeback_interval'))
    observed(vm, r'dirty_writeback_interval=4242 ')
    assert vm.read_u32_sym('dirty_writeback_interval') == 4242
    ok('write', 'dirty_writeback_interval', str(wb0), '--hot', *a)
    observed(vm, r'dirty_writeback_interval=%d ' % wb0)


def test_kop_batch_from_json_and_first_failure(vm_observe, tmp_path):
    vm = vm_observe
    a = args(vm)
    _, wb0, _ = current(vm)
    good = {'request_id': 11, 'mode': 'cold', 'direction': 'write', 'tag': 'e2e batch',
            'entries': [{'target': 'init_uts_ns.name.nodename', 'value': {'str': 'kt-batch'}},
                        {'target': 'dirty_writeback_interval', 'value': {'u32': 777}}]}
    f = tmp_path / 'good.json'
    f.write_text(json.dumps(good))
    r = ok('kop', str(f), '--json', *a).json()
    assert r['success'] and r['completed'] == 2 and r['writes_applied'] == 2 and r['failed_index'] is None, r
    observed(vm, r'nodename=kt-batch dirty_writeback_interval=777 ')
    # the second entry fails: the first stays applied, the third never runs, and the reply says so
    bad = {'request_id': 12, 'mode': 'cold', 'direction': 'write',
           'entries': [{'target': 'dirty_writeback_interval', 'value': {'u32': 778}},
                       {'target': 'no_such_symbol_xyz', 'value': {'u32': 1}},
                       {'target': 'init_uts_ns.name.nodename', 'value': {'str': 'kt-never'}}]}
    f.write_text(json.dumps(bad))
    res = ktmon('kop', str(f), '--json', *a)
    assert res.rc == 3, res
    r = res.json()
    assert not r['success'] and r['failed_index'] == 1 and r['completed'] == 1 and r['writes_applied'] == 1, r
    assert r['reason'] == "entry[1]: no symbol 'no_such_symbol_xyz' in the vmlinux", r
    assert r['status'] == 'no such symbol'
    assert running(vm)
    observed(vm, r'nodename=kt-batch dirty_writeback_interval=778 ')
    # a read batch: values by entry index
    rd = {'request_id': 13, 'mode': 'hot', 'direction': 'read',
          'entries': [{'target': 'dirty_writeback_interval', 'value': 'u32'},
                      {'target': 'init_uts_ns.name.nodename', 'value': 'bytes:9'},
                      {'target': 'percpu:runqueues.cpu@1', 'value': 'u32'},
                      {'target': 'task:1.pid', 'value': 'u32'}]}
    f.write_text(json.dumps(rd))
    r = ok('kop', str(f), '--json', *a).json()
    vals = {x['index']: x for x in r['reads']}
    assert int(vals[0]['value'], 16) == 778
    assert bytes.fromhex(vals[1]['value']) == b'kt-batch\0'
    assert int(vals[2]['value'], 16) == 1
    assert int(vals[3]['value'], 16) == 1
    ok('write', 'dirty_writeback_interval', str(wb0), *a)


def test_kop_wire_frames_round_trip(vm_observe, tmp_path):
    vm = vm_observe
    a = args(vm)
    req = {'request_id': 21, 'mode': 'cold', 'direction': 'write', 'tag': 'wire',
           'entries': [{'target': 'init_uts_ns.name.nodename', 'value': {'bytes': b'kt-wire\0'.hex()}}]}
    j = tmp_path / 'req.json'
    j.write_text(json.dumps(req))
    frame = tmp_path / 'req.korq'
    ok('kop', str(j), '--encode', str(frame))     # no guest needed to encode
    raw = frame.read_bytes()
    tag, length, crc, pad = struct.unpack_from('<IIII', raw)
    assert (tag, pad, length) == (KORQ, 0, len(raw) - 16)
    assert crc == zlib.crc32(raw[16:]), 'the frame CRC is IEEE CRC-32 (zlib agrees)'
    reply = tmp_path / 'reply.korp'
    r = ok('kop', str(frame), '--json', '--reply-out', str(reply), *a).json()
    assert r['success'] and r['request_id'] == 21
    observed(vm, r'nodename=kt-wire ')
    rep = reply.read_bytes()
    tag, length, crc, pad = struct.unpack_from('<IIII', rep)
    assert (tag, pad, length) == (KORP, 0, len(rep) - 16) and crc == zlib.crc32(rep[16:])
    version, success, status, request_id = struct.unpack_from('<HBBQ', rep, 16)
    assert (version, success, status, request_id) == (1, 1, 0, 21)
    # a corrupted frame is refused before anything is done
    bad = bytearray(raw)
    bad[-1] ^= 0xff
    frame.write_bytes(bytes(bad))
    res = ktmon('kop', str(frame), *a)
    assert res.rc == 2 and 'CRC32 mismatch' in res.err, res
    frame.write_bytes(raw + b'\0')
    res = ktmon('kop', str(frame), *a)
    assert res.rc == 2 and 'trailing bytes' in res.err, res


def test_refusals_are_clear(vm_observe, tmp_path):
    vm = vm_observe
    a = args(vm)
    r = ktmon('write', 'init_uts_ns.name.nodename', 'str:nope', '--hot', *a)
    assert r.rc == 3 and 'hot Bytes writes are refused' in r.err, r
    r = ktmon('write', 'dirty_writeback_interval+2', '1', '--type', 'u32', '--hot', *a)
    assert r.rc == 3 and 'not 4-byte aligned' in r.err, r
    r = ktmon('write', 'kva:0x7fff00001000', '1', '--type', 'u32', *a)
    assert r.rc == 3 and 'not a kernel-half address' in r.err, r
    r = ktmon('write', 'direct:0x1000', '1', '--type', 'u32', *a)
    assert r.rc == 3 and 'outside the direct map' in r.err, r
    f = tmp_path / 'or_read.json'
    f.write_text(json.dumps({'mode': 'cold', 'direction': 'read',
                             'entries': [{'target': 'dirty_writeback_interval', 'value': 'or_u32'}]}))
    r = ktmon('kop', str(f), '--json', *a)
    assert r.rc == 3 and 'OrU32 is a write, not a read width' in r.json()['reason'], r
    # cold needs a way to freeze: the RAM file alone is not enough
    r = ktmon('write', 'pa:0x1000', '1', '--type', 'u32', '--mem', 'qemu-ram:' + vm.ram_path)
    assert r.rc == 2 and 'freeze the VM over QMP' in r.err, r
    r = ktmon('write', 'dirty_writeback_interval', *a)
    assert r.rc == 2, r
    assert running(vm)
    current(vm)  # the guest still runs and prints


def test_arm64_cold_or_and_restore(vm_arm64):
    """The cold path on arm64: registers through the gdbstub while QMP holds the VM stopped."""
    vm = vm_arm64
    a = args(vm)
    v0 = int(ok('read', '--json', 'dirty_expire_interval', '--type', 'u32', *a).json()['value'], 16)
    ok('write', 'dirty_expire_interval', '--or', '0x40000', *a)
    assert running(vm)
    v1 = int(ok('read', '--json', 'dirty_expire_interval', '--type', 'u32', *a).json()['value'], 16)
    assert v1 == v0 | 0x40000
    ok('write', 'dirty_expire_interval', str(v0), '--hot', *a)
    v2 = int(ok('read', '--json', 'dirty_expire_interval', '--type', 'u32', *a).json()['value'], 16)
    assert v2 == v0
    assert running(vm)
