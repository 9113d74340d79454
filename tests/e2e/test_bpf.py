"""e2e: `ktmon bpf maps/progs` against the test scheduler's BPF objects on real 7.x kernels (issue 8).

The guest runs the attach scenario (the ktsched scheduler stays attached) with ktbpfstats=1 (the loader holds a
BPF_ENABLE_STATS fd, so the kernel counts program runs).  Once attached, the loader prints every map and program of
its BPF object as the kernel reports them (bpf_obj_get_info_by_fd) and writes a cookie into kt_shared (.bss):
that is the ground truth.  ktmon finds the same objects by walking map_idr/prog_idr in guest memory.  The kernel may
hold other BPF objects: the loader's must be a subset of ktmon's listing, with equal fields.
"""

import re
import struct
import time

import pytest

import ktvm
from ktcli import ktmon, ok

ARCHS = ['x86_64', 'arm64']

# struct kt_shared of tests/guest/sched/ktsched.h: fail_req, stall_req, initialised, exited, exit_kind, pad,
# exit_code, nr_enqueued, nr_dispatched, nr_direct, exit_reason[128], exit_msg[256], loader_cookie
KT_SHARED = struct.Struct('<IIIIIIqQQQ128s256sQ')


def _boot_kw(arch):
    kw = dict(arch=arch, scenario='attach', extra_append='ktbpfstats=1')
    if arch == 'arm64':
        kw['pagesize'] = '4k'
    return kw


@pytest.fixture(params=ARCHS)
def vm(request, ktvm_pool):
    """A guest of the given architecture with the scheduler attached and the loader's report printed."""
    v = ktvm_pool.get(**_boot_kw(request.param))
    v.wait_console(r'^KTSCHED objects pid=\d+ ', timeout=240, from_start=True)
    return v


def target(vm):
    args = ['--vmlinux', vm.kernel['vmlinux'], '--qmp', vm.tool_qmp_path]
    if vm.arch == 'arm64':
        args += ['--gdb', '127.0.0.1:%d' % vm.gdb_port]
    return args


def _kv(line, tag):
    """'KTSCHED <tag> k=v k=v ...' -> dict (numbers as int)."""
    out = {}
    for kv in line[len('KTSCHED %s ' % tag):].split():
        k, v = kv.split('=', 1)
        out[k] = int(v, 0) if re.fullmatch(r'-?(0x[0-9a-fA-F]+|\d+)', v) else v
    return out


def loader_report(vm):
    lines = vm.console_lines()
    rep = {tag: [_kv(l, tag) for l in lines if l.startswith('KTSCHED %s ' % tag)]
           for tag in ('map', 'prog', 'shared', 'objects', 'attached', 'fail')}
    assert rep['fail'] == [], rep['fail']
    assert len(rep['objects']) == 1 and len(rep['shared']) == 1
    assert rep['objects'][0]['maps'] == len(rep['map']) >= 3
    assert rep['objects'][0]['progs'] == len(rep['prog']) >= 6
    return rep


def test_maps_are_the_kernels(vm):
    rep = loader_report(vm)
    r = ok('bpf', 'maps', '--json', *target(vm)).json()
    assert r['errors'] == [] and r['not_listed'] == 0
    assert r['count'] == len(r['maps'])
    by_id = {m['id']: m for m in r['maps']}
    assert len(by_id) == len(r['maps']), 'ids are unique'
    for m in r['maps']:
        assert m['idr_id'] == m['id'], m
    for want in rep['map']:
        got = by_id.get(want['id'])
        assert got is not None, ('map missing from ktmon', want, r['maps'])
        assert (got['name'], got['type'], got['key_size'], got['value_size'], got['max_entries'], got['flags']) == \
            (want['name'], want['type'], want['key'], want['value'], want['max'], want['flags']), (got, want)
        if want['tname'] != '-':
            assert got['type_name'] == want['tname']
    names = {m['name'] for m in rep['map']}
    assert {'ktsched.bss', 'ktsched.data', 'ktsched_ops'} <= names
    # map types are this kernel's BTF enum values
    types = ktvm.btf_enum(vm.kernel['vmlinux'], 'bpf_map_type')
    assert {m['name']: m['type'] for m in r['maps'] if m['name'] in names} == {
        'ktsched.bss': types['BPF_MAP_TYPE_ARRAY'], 'ktsched.data': types['BPF_MAP_TYPE_ARRAY'],
        'ktsched_ops': types['BPF_MAP_TYPE_STRUCT_OPS']}
    # the text form says the same
    text = ok('bpf', 'maps', *target(vm)).out
    for want in rep['map']:
        assert re.search(r'^\s*%d\s+%s\s.*\s%s\b' % (want['id'], re.escape(want['tname']), re.escape(want['name'])),
                         text, re.M), (want, text)


def _bss(vm):
    r = ok('bpf', 'maps', '--json', '--values', '--map', 'ktsched.bss', *target(vm)).json()
    assert r['count'] == 1 and r['errors'] == []
    m = r['maps'][0]
    assert m['name'] == 'ktsched.bss' and not m['values_truncated']
    assert len(m['values']) == 1 and m['values'][0]['key'] == 0
    return m, bytes.fromhex(m['values'][0]['hex'])


def test_bss_value_holds_what_the_loader_wrote(vm):
    rep = loader_report(vm)
    sh = rep['shared'][0]
    assert sh['size'] == KT_SHARED.size, 'tests/guest/sched/ktsched.h and this test disagree'
    m, raw = _bss(vm)
    assert m['id'] == sh['map_id']
    assert len(raw) == m['value_size'] >= sh['off'] + sh['size']
    (fail_req, stall_req, initialised, exited, _kind, _pad, _code, enq, disp, direct, _reason, _msg,
     cookie) = KT_SHARED.unpack_from(raw, sh['off'])
    assert cookie == sh['cookie'], 'the cookie the loader wrote after attaching'
    assert initialised == sh['initialised'] == 1, 'ops.init ran'
    assert (fail_req, stall_req, exited) == (0, 0, 0)
    assert enq + direct > 0, 'the scheduler has been scheduling'
    # read live: the scheduler's counters only grow
    time.sleep(1.0)
    _, raw2 = _bss(vm)
    later = KT_SHARED.unpack_from(raw2, sh['off'])
    assert later[12] == cookie
    assert (later[7], later[8], later[9]) >= (enq, disp, direct)
    assert later[7] + later[9] > enq + direct


def test_data_and_struct_ops_values(vm):
    r = ok('bpf', 'maps', '--json', '--values', '--map', 'ktsched.data', *target(vm)).json()
    data = bytes.fromhex(r['maps'][0]['values'][0]['hex'])
    assert b'ktsched: error requested by loader (code %u)\0' in data, 'kt_error_fmt from ktsched.bpf.c'
    r = ok('bpf', 'maps', '--json', '--values', '--map', 'ktsched_ops', *target(vm)).json()
    m = r['maps'][0]
    assert m['type'] == ktvm.btf_enum(vm.kernel['vmlinux'], 'bpf_map_type')['BPF_MAP_TYPE_STRUCT_OPS']
    kvalue = bytes.fromhex(m['values'][0]['hex'])
    assert len(kvalue) == m['value_size']
    # the kernel's copy of struct sched_ext_ops: its name and timeout_ms (2500) are in there
    data_off = int(m['data_kva'], 16) - int(m['value_kva'], 16)
    assert 0 < data_off < len(kvalue)
    assert b'ktsched\0' in kvalue[data_off:]
    assert struct.pack('<I', 2500) in kvalue[data_off:]


def test_struct_ops_programs(vm):
    rep = loader_report(vm)
    st_ops = ktvm.btf_enum(vm.kernel['vmlinux'], 'bpf_prog_type')['BPF_PROG_TYPE_STRUCT_OPS']
    r = ok('bpf', 'progs', '--json', *target(vm)).json()
    assert r['count'] == len(r['progs']) >= 6
    assert all(p['struct_ops'] and p['type'] == st_ops and p['type_name'] == 'struct_ops' for p in r['progs'])
    by_id = {p['id']: p for p in r['progs']}
    for want in rep['prog']:
        assert want['type'] == st_ops
        got = by_id.get(want['id'])
        assert got is not None, ('program missing from ktmon', want, r['progs'])
        assert (got['name'], got['type'], got['verified_insns']) == (want['name'], want['type'], want['insns'])
        assert got['verified_insns'] > 0
        assert got['stats'] == 'ok'
        # counted since before the loader's report: only more now
        assert got['run_cnt'] >= want['run_cnt'] and got['run_time_ns'] >= want['run_ns'], (got, want)
    assert {p['name'] for p in rep['prog']} >= {'kt_select_cpu', 'kt_enqueue', 'kt_dispatch', 'kt_tick', 'kt_init',
                                                'kt_exit'}
    # the loader holds a BPF_ENABLE_STATS fd: collection is on and the scheduler's programs have run
    assert rep['objects'][0]['stats'] == 1
    assert r['stats_enabled'] is True
    assert sum(by_id[p['id']]['run_cnt'] for p in rep['prog']) > 0
    assert sum(by_id[p['id']]['run_time_ns'] for p in rep['prog']) > 0
    # --all lists every program: a superset, and its struct_ops ones are the default listing
    a = ok('bpf', 'progs', '--all', '--json', *target(vm)).json()
    assert a['filtered'] == 0
    ids_all = {p['id'] for p in a['progs']}
    assert set(by_id) <= ids_all
    assert {p['id'] for p in a['progs'] if p['struct_ops']} == set(by_id)
    assert len(a['progs']) == r['count'] + r['filtered']
    text = ok('bpf', 'progs', *target(vm)).out
    assert 'run statistics are being collected' in text
    for want in rep['prog']:
        assert re.search(r'^\s*%d\s+struct_ops\s+%d\s+\d+\s+\d+\s+%s$' % (want['id'], want['insns'], want['name']),
                         text, re.M), (want, text)


def test_usage_and_target_errors(vm_x86):
    a = target(vm_x86)
    r = ktmon('bpf', *a)
    assert r.rc == 2 and "'maps' or 'progs'" in r.err, r
    r = ktmon('bpf', 'frobs', *a)
    assert r.rc == 2, r
    r = ktmon('bpf', 'progs', '--values', *a)
    assert r.rc == 2, r
    r = ktmon('bpf', 'maps', '--max-bytes', '0', *a)
    assert r.rc == 2, r
    r = ktmon('bpf', 'maps', '--vmlinux', vm_x86.kernel['vmlinux'])
    assert r.rc == 2 and 'no guest memory' in r.err, r
    # the idle guest has no scheduler: asking for its map is a target error with a clear message
    r = ktmon('bpf', 'maps', '--map', 'ktsched.bss', *a)
    assert r.rc == 3 and "no map named 'ktsched.bss'" in r.err, r
    # but listing works, and says what it found
    r = ok('bpf', 'progs', '--json', *a).json()
    assert r['stats_enabled'] is False
    assert all(p['struct_ops'] for p in r['progs'])
