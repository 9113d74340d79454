"""ktvm: boots the e2e rig's guests under QEMU (TCG) and exposes what ktmon's end-to-end tests need.

Python 3 standard library only.

    vm = ktvm.boot(arch='x86_64', kaslr=True, la57=False, ram_mb=512, cpus=2, scenario='idle',
                   pagesize='4k', extra_append='')
    vm.ground_truth['syms']['linux_banner'][0]   # runtime address from the guest's /proc/kallsyms
    vm.ram_path, vm.qmp_path, vm.gdb_port, vm.serial_log, vm.pid, vm.ram_layout
    vm.wait_console(r'KTGT done cycle', timeout=120)
    vm.qmp('query-status'); vm.hmp('info registers')
    vm.stop()                                    # always: kills QEMU by pid, removes RAM file, socket, temp dir

A VM is also a context manager; every VM is registered so that an atexit hook (and SIGTERM) stops whatever is
still running. Guest-side line formats (KTGT ..., KTSCHED ...) are described in tests/guest/README.md.
"""

import atexit
import ctypes
import errno
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(REPO, 'build', 'guest')
CACHE = os.environ.get('KTMON_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'ktmon')
SHM_DIR = '/dev/shm'
SHM_PREFIX = 'ktmon-'
ARM64_DRAM_BASE = 0x40000000
X86_START_KERNEL_MAP = 0xffffffff80000000

_live = {}  # id(vm) -> vm
_live_lock = threading.Lock()


class BootError(RuntimeError):
    """The guest did not reach `KTGT ready` (QEMU exited, timeout, or a bad image)."""


class BootTimeout(BootError):
    """The guest was still running but had not reached its ready line in time."""


class QMPError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------------------------
# where things are


def _read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#') and '=' in line:
                k, v = line.split('=', 1)
                env[k] = v
    return env


def kernels_env():
    """KEY=VALUE facts of the fetched kernels ($KTMON_CACHE/kernels/current.env, written by fetch-kernels.sh)."""
    for p in (os.path.join(CACHE, 'kernels', 'current.env'), os.path.join(BUILD, 'kernels.env')):
        if os.path.exists(p):
            return _read_env(p)
    raise FileNotFoundError('no kernels: run `make -C tests/guest` (fetch-kernels.sh) first')


def kernel_dir(arch='x86_64', pagesize='4k'):
    env = kernels_env()
    if arch == 'x86_64':
        if pagesize != '4k':
            raise ValueError('x86_64 has only 4k pages')
        return env['KT_X86_64_DIR']
    if arch == 'arm64':
        return {'4k': env['KT_ARM64_DIR'], '16k': env['KT_ARM64_16K_DIR']}[pagesize]
    raise ValueError('arch must be x86_64 or arm64')


def kernel_info(arch='x86_64', pagesize='4k'):
    """Paths and VERSION facts of one kernel: dict with dir, image, vmlinux, system_map, config + VERSION keys."""
    d = kernel_dir(arch, pagesize)
    info = _read_env(os.path.join(d, 'VERSION'))
    info.update(dir=d, image=os.path.join(d, info['IMAGE']), vmlinux=os.path.join(d, 'vmlinux'),
                system_map=os.path.join(d, 'System.map'), config=os.path.join(d, 'config'))
    return info


def initramfs_path(arch):
    return os.path.join(BUILD, 'initramfs-%s.cpio.gz' % arch)


# ---------------------------------------------------------------------------------------------------------------
# vmlinux helpers (host side)


def elf_symbols(path, names):
    """Link-time addresses of `names` from an ELF64 LE file's .symtab: {name: value} (first definition wins)."""
    want = set(names)
    out = {}
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise ValueError('%s: not an ELF64 little-endian file' % path)
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum = struct.unpack_from('<HH', data, 0x3a)
    for i in range(shnum):
        sh = struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize)
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        sym_off, sym_size, link, entsize = sh[4], sh[5], sh[6], sh[9]
        strtab = struct.unpack_from('<IIQQQQIIQQ', data, shoff + link * shentsize)
        str_off = strtab[4]
        for j in range(sym_size // entsize):
            st_name, st_info, st_other, st_shndx, st_value, st_size = struct.unpack_from(
                '<IBBHQQ', data, sym_off + j * entsize)
            if st_shndx == 0 or st_name == 0:
                continue
            end = data.index(b'\0', str_off + st_name)
            n = data[str_off + st_name:end].decode('latin-1')
            if n in want and n not in out:
                out[n] = st_value
        break
    return out


def elf_read(path, vaddr, size):
    """`size` bytes at link-time address `vaddr` of an ELF64 LE file (from the section that holds it)."""
    with open(path, 'rb') as f:
        data = f.read()
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum = struct.unpack_from('<HH', data, 0x3a)
    for i in range(shnum):
        _, sh_type, _, sh_addr, sh_offset, sh_size = struct.unpack_from('<IIQQQQ', data, shoff + i * shentsize)
        if sh_type == 1 and sh_addr <= vaddr and vaddr + size <= sh_addr + sh_size:  # SHT_PROGBITS
            return data[sh_offset + vaddr - sh_addr:sh_offset + vaddr - sh_addr + size]
    raise ValueError('%s: 0x%x (+%d) is in no PROGBITS section' % (path, vaddr, size))


def vmlinux_banner(path):
    """The string at the vmlinux's `linux_banner` symbol (what /proc/version prints), without the newline."""
    addr = elf_symbols(path, ['linux_banner'])['linux_banner']
    raw = elf_read(path, addr, 512)
    return raw.split(b'\0', 1)[0].decode('latin-1').rstrip('\n')


_btf_raw_cache = {}


def btf_raw(vmlinux, bpftool='bpftool'):
    """`bpftool btf dump file VMLINUX format raw` text (cached per path and mtime)."""
    key = (os.path.abspath(vmlinux), os.stat(vmlinux).st_mtime)
    if key not in _btf_raw_cache:
        _btf_raw_cache[key] = subprocess.run([bpftool, 'btf', 'dump', 'file', vmlinux, 'format', 'raw'],
                                             check=True, stdout=subprocess.PIPE,
                                             universal_newlines=True).stdout
    return _btf_raw_cache[key]


def btf_member_offset(vmlinux, struct_name, member):
    """Byte offset of a direct member of `struct struct_name` from the vmlinux BTF (first such struct)."""
    inside = False
    for line in btf_raw(vmlinux).splitlines():
        if line.startswith('['):
            if inside:
                break
            inside = bool(re.match(r"\[\d+\] STRUCT '%s' size=" % re.escape(struct_name), line))
            continue
        if inside:
            m = re.match(r"\s+'(\w*)' type_id=\d+ bits_offset=(\d+)", line)
            if m and m.group(1) == member:
                return int(m.group(2)) // 8
    raise KeyError('%s.%s not in the BTF of %s' % (struct_name, member, vmlinux))


def btf_enum(vmlinux, enum_name):
    """Values of one enum from the vmlinux BTF: {'SCX_EXIT_NONE': 0, ...} (bpftool btf dump ... format raw)."""
    out = btf_raw(vmlinux)
    vals = {}
    inside = False
    for line in out.splitlines():
        if line.startswith('['):
            if inside:
                break
            inside = bool(re.match(r"\[\d+\] ENUM(?:64)? '%s' " % re.escape(enum_name), line))
            continue
        if inside:
            m = re.match(r"\s+'(\w+)' val=(-?\d+)", line)
            if m:
                vals[m.group(1)] = int(m.group(2))
    if not vals:
        raise KeyError('enum %s not in %s' % (enum_name, vmlinux))
    return vals


# ---------------------------------------------------------------------------------------------------------------
# ground truth parsing


def parse_ground_truth(lines):
    """Parse `KTGT <key> ...` lines (already stripped to start at 'KTGT ') into a dict.

    Keys: begin{}, version, uname_r, uname_m, uname_n, hostname, cmdline, kptr_restrict, syms{name:(addr,type)},
    nosyms[set], uwatch{symbol,value,path}, iomem[(start,end,name)], pagesize_kb, meminfo_kb{}, cpuflags{},
    cpus_online, cpus_possible, ncpus_online, cpus{n:{online}}, cpustat[], tasks[(tid,tgid,comm)], ntasks,
    scx{tag:{k:v}}, dmesg[], uptime, ready(bool), raw[(key,rest)].
    """
    gt = {'syms': {}, 'nosyms': set(), 'iomem': [], 'meminfo_kb': {}, 'cpuflags': {}, 'cpus': {},
          'cpustat': [], 'tasks': [], 'scx': {}, 'dmesg': [], 'raw': [], 'ready': False}
    for line in lines:
        parts = line.split(' ', 2)
        if len(parts) < 2 or parts[0] != 'KTGT':
            continue
        key = parts[1]
        rest = parts[2] if len(parts) > 2 else ''
        gt['raw'].append((key, rest))
        f = rest.split()
        if key == 'begin':
            gt['begin'] = dict(x.split('=', 1) for x in f if '=' in x)
        elif key in ('version', 'uname_r', 'uname_m', 'uname_n', 'hostname', 'cmdline', 'cpus_online',
                     'cpus_possible'):
            gt[key] = rest
        elif key in ('kptr_restrict', 'pagesize_kb', 'ncpus_online', 'ntasks'):
            gt[key] = int(rest)
        elif key == 'sym' and len(f) == 3:
            gt['syms'][f[0]] = (int(f[1], 16), f[2])
        elif key == 'nosym':
            gt['nosyms'].add(rest)
        elif key == 'uwatch' and len(f) == 3:
            gt['uwatch'] = {'symbol': f[0], 'value': int(f[1]), 'path': f[2]}
        elif key == 'iomem':
            m = re.match(r'([0-9a-f]+)-([0-9a-f]+) : (.*)', rest)
            if m:
                gt['iomem'].append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
        elif key == 'meminfo_kb' and len(f) == 2:
            gt['meminfo_kb'][f[0]] = int(f[1])
        elif key == 'cpuflag' and len(f) == 2:
            gt['cpuflags'][f[0]] = int(f[1])
        elif key == 'cpu' and len(f) >= 1:
            gt['cpus'][int(f[0])] = dict(x.split('=', 1) for x in f[1:] if '=' in x)
        elif key == 'cpustat':
            gt['cpustat'].append(f)
        elif key == 'task':
            t = rest.split(' ', 2)
            if len(t) >= 2:
                gt['tasks'].append((int(t[0]), int(t[1]), t[2] if len(t) > 2 else ''))
        elif key == 'scx' and f:
            gt['scx'][f[0]] = dict(x.split('=', 1) for x in f[1:] if '=' in x)
        elif key == 'dmesg':
            gt['dmesg'].append(rest)
        elif key == 'uptime' and f:
            gt['uptime'] = float(f[0])
        elif key == 'ready':
            gt['ready'] = True
            break
    v = gt.get('version', '')
    m = re.match(r'Linux version (\S+) ', v)
    gt['version_release'] = m.group(1) if m else None
    return gt


def parse_mtree_ram(text, backend='mem'):
    """Guest-PA -> RAM-file-offset ranges from HMP `info mtree -f`: [(gpa, file_offset, size), ...], merged.

    Uses the first flat view that serves address space "memory"; keeps the ram entries whose region is the
    memory backend `backend` (its `@offset` is the offset inside the backend, i.e. inside the RAM file).
    """
    ranges = []
    in_view = False
    seen_view = False
    for line in text.splitlines():
        if line.startswith('FlatView'):
            if seen_view:
                break
            in_view = False
            continue
        if line.strip() == 'AS "memory", root: system' or re.match(r'\s*AS "memory"', line):
            in_view = True
            seen_view = True
            continue
        if not in_view:
            continue
        m = re.match(r'\s+([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, (\w+)\): (\S+)(?: @([0-9a-f]+))?', line)
        if not m or m.group(3) != 'ram' or m.group(4) != backend:
            continue
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        off = int(m.group(5), 16) if m.group(5) else 0
        ranges.append([start, off, end - start + 1])
    ranges.sort()
    merged = []
    for r in ranges:
        if merged and merged[-1][0] + merged[-1][2] == r[0] and merged[-1][1] + merged[-1][2] == r[1]:
            merged[-1][2] += r[2]
        else:
            merged.append(r)
    return [tuple(r) for r in merged]


# ---------------------------------------------------------------------------------------------------------------
# QMP


class QMP:
    """Minimal QMP client over a unix socket (synchronous; events are collected in .events)."""

    def __init__(self, path, timeout=30.0):
        self.path = path
        self.events = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(path)
        self._buf = b''
        greeting = self._recv()
        if 'QMP' not in greeting:
            raise QMPError('unexpected QMP greeting: %r' % greeting)
        self.execute('qmp_capabilities')

    def _recv(self):
        while b'\n' not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise QMPError('QMP connection closed')
            self._buf += chunk
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line.decode())

    def execute(self, cmd, args=None):
        """Run a QMP command; returns its 'return' value, raises QMPError on an 'error' reply."""
        msg = {'execute': cmd}
        if args:
            msg['arguments'] = args
        with self._lock:
            self._sock.sendall(json.dumps(msg).encode() + b'\n')
            while True:
                r = self._recv()
                if 'event' in r:
                    self.events.append(r)
                    continue
                if 'error' in r:
                    raise QMPError('%s: %s' % (cmd, r['error'].get('desc', r['error'])))
                return r.get('return')

    def hmp(self, command_line):
        """An HMP command through QMP's human-monitor-command; returns its text output."""
        return self.execute('human-monitor-command', {'command-line': command_line})

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------------------------
# processes


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _pdeathsig():
    # QEMU dies with the Python process even if that one is SIGKILLed (PR_SET_PDEATHSIG = 1). Only used when
    # spawning from the main thread: the signal fires when the spawning *thread* exits.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass
    os.setsid()


def our_qemu_pids(owner=-1):
    """PIDs of running QEMUs whose command line names a /dev/shm/ktmon-OWNER-* RAM file. owner=-1 (default):
    this process; owner=None: any owner (every run of the rig on this machine)."""
    if owner == -1:
        owner = os.getpid()
    tag = (SHM_DIR + '/' + SHM_PREFIX + ('' if owner is None else '%d-' % owner)).encode()
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                cmd = f.read().split(b'\0')
        except OSError:
            continue
        if cmd and b'qemu-system' in os.path.basename(cmd[0]) and \
                any(tag in a for a in cmd):
            # a zombie still has /proc/PID but an empty cmdline; those are skipped above
            pids.append(int(d))
    return sorted(pids)


def our_shm_files(owner=-1):
    """/dev/shm/ktmon-OWNER-* RAM files; owner as for our_qemu_pids()."""
    if owner == -1:
        owner = os.getpid()
    prefix = SHM_PREFIX + ('' if owner is None else '%d-' % owner)
    try:
        return sorted(os.path.join(SHM_DIR, n) for n in os.listdir(SHM_DIR) if n.startswith(prefix))
    except OSError:
        return []


def live_vms():
    with _live_lock:
        return list(_live.values())


def stop_all():
    for vm in live_vms():
        vm.stop()


def sweep_stale():
    """Remove RAM files of earlier runs whose owner process (pid in the file name) is gone; kill their QEMUs."""
    for path in our_shm_files(owner=None):
        m = re.match(re.escape(SHM_PREFIX) + r'(\d+)-', os.path.basename(path))
        if not m:
            continue
        owner = int(m.group(1))
        if owner == os.getpid() or os.path.exists('/proc/%d' % owner):
            continue
        for pid in our_qemu_pids(owner=None):
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    if path.encode() in f.read():
                        os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.unlink(path)
        except OSError:
            pass


atexit.register(stop_all)
_prev_sigterm = None


def _on_sigterm(signum, frame):
    stop_all()
    signal.signal(signal.SIGTERM, _prev_sigterm if _prev_sigterm is not None else signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm():
    global _prev_sigterm
    if threading.current_thread() is not threading.main_thread():
        return
    cur = signal.getsignal(signal.SIGTERM)
    if cur is not _on_sigterm:
        _prev_sigterm = cur if callable(cur) or cur == signal.SIG_IGN else signal.SIG_DFL
        if _prev_sigterm == signal.SIG_IGN:
            return
        signal.signal(signal.SIGTERM, _on_sigterm)


# ---------------------------------------------------------------------------------------------------------------
# the VM


class VM:
    """One QEMU TCG guest of the rig. Construct through boot()."""

    def __init__(self, arch='x86_64', kaslr=True, la57=False, ram_mb=512, cpus=2, scenario='idle',
                 pagesize='4k', extra_append='', pause=None, wait_host=False, loglevel=3, lpa2=True):
        if arch not in ('x86_64', 'arm64'):
            raise ValueError('arch must be x86_64 or arm64')
        if la57 and arch != 'x86_64':
            raise ValueError('la57 is an x86_64 option')
        self.arch, self.kaslr, self.la57, self.ram_mb, self.cpus = arch, kaslr, la57, ram_mb, cpus
        # arm64 -cpu max implements FEAT_LPA2: the 16K kernel then runs 52-bit VAs with TCR_EL1.DS=1.
        # lpa2=False hides the feature, and the same kernel falls back to 48-bit VAs (DS=0).
        self.lpa2 = lpa2
        self.scenario, self.pagesize, self.extra_append = scenario, pagesize, extra_append
        self.pause, self.wait_host, self.loglevel = pause, wait_host, loglevel
        self.kernel = kernel_info(arch, pagesize)
        self.initramfs = initramfs_path(arch)
        self.tmpdir = None
        self.ram_path = None
        self.qmp_path = None
        self.tool_qmp_path = None  # a second QMP monitor, free for the tool under test (ktmon)
        self.serial_log = None
        self.pidfile = None
        self.gdb_port = None
        self.pid = None
        self.proc = None
        self.cmdline = None
        self.append = None
        self.ground_truth = None
        self.ram_layout = None
        self.boot_seconds = None
        self._qmp = None
        self._pos = 0
        self._stopped = False

    # -- lifecycle --

    def _qemu_argv(self):
        size = '%dM' % self.ram_mb
        app = ['loglevel=%d' % self.loglevel, 'panic=-1', 'ktscenario=%s' % self.scenario]
        if self.pause is not None:
            app.append('ktpause=%s' % self.pause)
        if self.wait_host:
            app.append('ktwait=host')
        if not self.kaslr:
            app.append('nokaslr')
        common = ['-accel', 'tcg,thread=single', '-smp', str(self.cpus), '-m', size,
                  '-object', 'memory-backend-file,id=mem,size=%s,mem-path=%s,share=on' % (size, self.ram_path),
                  '-nodefaults', '-display', 'none', '-no-reboot',
                  '-serial', 'file:%s' % self.serial_log,
                  '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path,
                  '-qmp', 'unix:%s,server=on,wait=off' % self.tool_qmp_path,
                  '-gdb', 'tcp:127.0.0.1:%d' % self.gdb_port,
                  '-pidfile', self.pidfile,
                  '-kernel', self.kernel['image'], '-initrd', self.initramfs]
        if self.arch == 'x86_64':
            argv = ['qemu-system-x86_64', '-machine', 'q35,memory-backend=mem']
            if self.la57:
                argv += ['-cpu', 'max']
            app.insert(0, 'console=ttyS0')
        else:
            # cortex-a57 has no 16K granule; `max` has, and its pointer authentication is far cheaper under
            # TCG with the implementation-defined algorithm (boot to ready: ~9 s instead of ~50 s)
            cpu = 'cortex-a57' if self.pagesize == '4k' else 'max,pauth-impdef=on'
            if self.pagesize != '4k' and not self.lpa2:
                cpu += ',lpa2=off'
            argv = ['qemu-system-aarch64', '-machine', 'virt,memory-backend=mem', '-cpu', cpu]
            app.insert(0, 'console=ttyAMA0')
        if self.extra_append:
            app.append(self.extra_append)
        self.append = ' '.join(app)
        return argv + common + ['-append', self.append]

    def start(self, timeout=None, paused=False):
        """Start QEMU and wait for the guest's ready line.  paused=True starts QEMU with -S (no guest code
        has run) and returns as soon as its monitors are up: call finish_boot() after `cont`."""
        for p in (self.kernel['image'], self.initramfs):
            if not os.path.exists(p):
                raise FileNotFoundError('%s missing: run `make -C tests/guest`' % p)
        _install_sigterm()
        self.tmpdir = tempfile.mkdtemp(prefix='ktmon-vm-')
        self.ram_path = os.path.join(SHM_DIR, '%s%d-%s' % (SHM_PREFIX, os.getpid(), uuid.uuid4().hex[:12]))
        self.qmp_path = os.path.join(self.tmpdir, 'qmp.sock')
        self.tool_qmp_path = os.path.join(self.tmpdir, 'qmp-tool.sock')
        self.serial_log = os.path.join(self.tmpdir, 'serial.log')
        self.pidfile = os.path.join(self.tmpdir, 'qemu.pid')
        with _live_lock:
            _live[id(self)] = self
        if timeout is None:
            timeout = 180 if self.arch == 'x86_64' else 300
        t0 = time.monotonic()
        try:
            for attempt in range(3):
                self.gdb_port = _free_port()
                self.cmdline = self._qemu_argv() + (['-S'] if paused else [])
                open(self.serial_log, 'w').close()
                self._errlog = open(os.path.join(self.tmpdir, 'qemu.stderr'), 'w+')
                main = threading.current_thread() is threading.main_thread()
                self.proc = subprocess.Popen(self.cmdline, stdin=subprocess.DEVNULL, stdout=self._errlog,
                                             stderr=subprocess.STDOUT,
                                             preexec_fn=_pdeathsig if main else os.setsid)
                self.pid = self.proc.pid
                # QEMU exits at once when the gdb port was taken in the meantime: retry with another port
                if self._wait_qmp_socket(15):
                    break
                err = self._stderr()
                self._kill()
                if 'gdb' not in err.lower() or attempt == 2:
                    raise BootError('QEMU did not start: %s' % err.strip()[-2000:])
            self._qmp = QMP(self.qmp_path)
            self._t0 = t0
            self._timeout = timeout
            if not paused:
                self.finish_boot()
        except BaseException:
            self.stop()
            raise
        return self

    def finish_boot(self):
        """Wait for the ready line and parse ground truth and RAM layout (start() does it unless paused)."""
        try:
            self._await_ready(self._timeout - (time.monotonic() - self._t0))
            self.boot_seconds = time.monotonic() - self._t0
            self.ram_layout = parse_mtree_ram(self.hmp('info mtree -f'))
        except BaseException:
            self.stop()
            raise
        return self

    def _stderr(self):
        try:
            self._errlog.flush()
            self._errlog.seek(0)
            return self._errlog.read()
        except (OSError, ValueError):
            return ''

    def _wait_qmp_socket(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            if os.path.exists(self.qmp_path):
                return True
            time.sleep(0.02)
        return False

    def _await_ready(self, timeout):
        try:
            self.wait_console(r'KTGT ready', timeout=timeout)
        except BootTimeout as e:
            raise BootTimeout('%s %s: %s%s' % (self.arch, self.pagesize, e, self._cpu_state()))
        except BootError as e:
            raise BootError('%s %s: %s' % (self.arch, self.pagesize, e))
        lines = [l for l in self.console_lines() if l.startswith('KTGT ')]
        self.ground_truth = parse_ground_truth(lines)
        if not self.ground_truth['ready']:
            raise BootError('ready line seen but ground truth did not parse')
        # the pidfile names the same process we started
        with open(self.pidfile) as f:
            pf = int(f.read().strip())
        if pf != self.pid:
            raise BootError('pidfile says %d, started %d' % (pf, self.pid))

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def stop(self):
        """Kill QEMU by pid and remove the RAM file, sockets and temp dir. Idempotent; never raises."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._qmp is not None:
                self._qmp.close()
        except Exception:
            pass
        try:
            self._kill()
        except Exception:
            pass
        try:
            self._errlog.close()
        except Exception:
            pass
        for p in (self.ram_path,):
            if p:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        if self.tmpdir:
            keep = os.environ.get('KTMON_KEEP_LOGS')
            if keep and self.serial_log and os.path.exists(self.serial_log):
                os.makedirs(keep, exist_ok=True)
                shutil.copy(self.serial_log, os.path.join(keep, '%s-%s-%d.log' % (
                    self.arch, self.scenario, self.pid or 0)))
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        with _live_lock:
            _live.pop(id(self), None)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- console --

    def console_text(self):
        with open(self.serial_log, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def console_lines(self):
        """Console lines; a line containing 'KTGT ' or 'KTSCHED ' is cut to start there (kernel messages can
        share a line with guest output)."""
        out = []
        for line in self.console_text().replace('\r', '').split('\n'):
            for tag in ('KTGT ', 'KTSCHED '):
                i = line.find(tag)
                if i > 0:
                    line = line[i:]
                    break
            out.append(line)
        return out

    def wait_console(self, pattern, timeout=60.0, from_start=False):
        """Wait for a console line matching regex `pattern`, scanning from the end of the previous match (or the
        start with from_start=True). Returns the re.Match. Raises BootError on timeout or if QEMU exits."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        pos = 0 if from_start else self._pos
        while True:
            text = self.console_text().replace('\r', '')
            # only complete lines
            last_nl = text.rfind('\n')
            complete = text[:last_nl + 1] if last_nl >= 0 else ''
            off = pos
            for line in complete[pos:].split('\n'):
                m = rx.search(line)
                if m:
                    self._pos = off + len(line) + 1
                    return m
                off += len(line) + 1
            if self.proc is not None and self.proc.poll() is not None:
                raise BootError('QEMU exited (status %s) waiting for %r; console tail:\n%s' % (
                    self.proc.returncode, pattern, '\n'.join(text.splitlines()[-25:])))
            if time.monotonic() > end:
                raise BootTimeout('timeout after %.0f s waiting for %r; console tail:\n%s' % (
                    timeout, pattern, '\n'.join(text.splitlines()[-25:])))
            time.sleep(0.05)

    # -- monitor --

    def qmp(self, cmd, args=None):
        return self._qmp.execute(cmd, args)

    def hmp(self, command_line):
        return self._qmp.hmp(command_line)

    def _cpu_state(self):
        """'; vCPU 0 at RIP=...' (EIP, PC) for a boot error (where a stalled guest is), or '' if QEMU cannot say."""
        try:
            regs = self.registers()
        except Exception:
            return ''
        # RIP in long mode, EIP before it (a guest still in firmware), PC on arm64
        for pc in ('RIP', 'EIP', 'PC'):
            if pc in regs:
                return '; vCPU 0 at %s=0x%x' % (pc, regs[pc])
        return ''

    def registers(self):
        """HMP `info registers` of the current vCPU as {NAME: int} for the NAME=HEX pairs it prints."""
        text = self.hmp('info registers')
        return {k: int(v, 16) for k, v in re.findall(r'\b([A-Z][A-Z0-9_]*)=([0-9a-fA-F]{4,16})\b', text)}

    def gva2gpa(self, va):
        """Guest virtual -> guest physical through QEMU's own page walk (HMP gva2gpa) on the current vCPU."""
        text = self.hmp('gva2gpa 0x%x' % va)
        m = re.search(r'gpa:\s*(0x[0-9a-fA-F]+)', text)
        if not m:
            raise QMPError('gva2gpa 0x%x: %s' % (va, text.strip()))
        return int(m.group(1), 16)

    def xp(self, pa, count=1):
        """`count` u64 values at guest PA through QEMU (HMP xp)."""
        text = self.hmp('xp /%dgx 0x%x' % (count, pa))
        vals = re.findall(r'0x([0-9a-fA-F]{16})', text.split(':', 1)[1] if ':' in text else text)
        return [int(v, 16) for v in vals[:count]]

    # -- guest memory through the shared RAM file --

    def file_offset(self, gpa, size=1):
        for start, off, length in self.ram_layout or ():
            if start <= gpa and gpa + size <= start + length:
                return off + (gpa - start)
        raise ValueError('guest PA 0x%x (+%d) is not in guest RAM %s' % (gpa, size, self.ram_layout))

    def read_phys(self, gpa, size):
        with open(self.ram_path, 'rb') as f:
            f.seek(self.file_offset(gpa, size))
            return f.read(size)

    def write_phys(self, gpa, data):
        with open(self.ram_path, 'r+b') as f:
            f.seek(self.file_offset(gpa, len(data)))
            f.write(data)

    def sym(self, name):
        """Runtime address of a kernel symbol as the guest reported it (KeyError if absent)."""
        return self.ground_truth['syms'][name][0]

    def kimage_pa(self, kva):
        """Guest PA of a kernel-image address, anchored on /proc/iomem's `Kernel code`, which starts at _text
        (x86_64 and arm64 7.x; the e2e tests cross-check this with QEMU's own gva2gpa)."""
        anchor = '_text'
        code = [s for s, e, n in self.ground_truth['iomem'] if n == 'Kernel code']
        if not code:
            raise KeyError('no Kernel code range in the ground truth')
        return code[0] + (kva - self.sym(anchor))

    def read_u32_sym(self, name):
        return struct.unpack('<I', self.read_phys(self.kimage_pa(self.sym(name)), 4))[0]

    def read_u64_sym(self, name):
        return struct.unpack('<Q', self.read_phys(self.kimage_pa(self.sym(name)), 8))[0]

    def release_step(self, n):
        """ktwait=host: let the guest run step `n` by writing n into the mailbox variable (see README)."""
        sym = self.ground_truth['uwatch']['symbol']
        self.write_phys(self.kimage_pa(self.sym(sym)), struct.pack('<I', n))

    def __repr__(self):
        return '<VM %s/%s scenario=%s pid=%s ram=%s>' % (self.arch, self.pagesize, self.scenario, self.pid,
                                                         self.ram_path)


# Boots that timed out and were tried again (boot()): (configuration, error) pairs, reported at the end of an
# e2e session by conftest.py so that a retry is never silent.
retried_boots = []


def boot(arch='x86_64', kaslr=True, la57=False, ram_mb=512, cpus=2, scenario='idle', pagesize='4k',
         extra_append='', pause=None, wait_host=False, timeout=None, loglevel=3, lpa2=True, paused=False,
         attempts=None):
    """Start a guest and wait for its `KTGT ready` line. Returns a running VM (stop it, or use `with`).

    A guest that does not reach its ready line within the timeout is booted once more from scratch (attempts=2
    by default): under TCG on a loaded 2-core host a guest very rarely stalls before init (once in about five
    CI runs of the whole suite, 2026-12-07: an x86 nokaslr guest printed nothing in 180 s; 14 boots of the same
    configuration in a row then took 6-8 s each). Nothing of ktmon runs during a boot, so a retry hides no
    ktmon failure; it is recorded in `retried_boots` with the first attempt's error, which names the vCPU's
    RIP/PC. A QEMU that exits is never retried, and neither is a boot with an explicit timeout unless attempts
    is given (a test of the timeout itself wants exactly one)."""
    if attempts is None:
        attempts = 2 if timeout is None else 1
    for attempt in range(attempts):
        vm = VM(arch=arch, kaslr=kaslr, la57=la57, ram_mb=ram_mb, cpus=cpus, scenario=scenario,
                pagesize=pagesize, extra_append=extra_append, pause=pause, wait_host=wait_host,
                loglevel=loglevel, lpa2=lpa2)
        try:
            return vm.start(timeout=timeout, paused=paused)
        except BootError as e:
            if attempt + 1 >= attempts or not isinstance(e, BootTimeout):
                raise
            retried_boots.append(('%s/%s kaslr=%s scenario=%s' % (arch, pagesize, kaslr, scenario), str(e)))
            sys.stderr.write('ktvm: boot timed out, booting once more: %s\n' % e)
    raise AssertionError('unreachable')
