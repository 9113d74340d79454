#!/usr/bin/env python3
"""Seeds for tests/fuzz/fuzz_pgwalk.c (input layout: see the comment at the top of that file).

Each seed maps a few kernel VAs through real page tables so the fuzzer starts
from walks that reach a leaf: x86_64 4- and 5-level (4 KiB, 2 MiB, 1 GiB),
aarch64 4K/16K/64K granules (pages and blocks, 52-bit VA/OA with 64K), one
dense-RAM seed, and a few register sets the configuration must refuse.
Run from anywhere: python3 tests/fuzz/corpus/pgwalk/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
RAM = 256 * 1024
BASES = [0, 0x40000000, 1 << 48, (1 << 52) - RAM]

F_A64, F_LA57, F_DENSE, F_CANON, F_RAW = 0x01, 0x02, 0x04, 0x08, 0x40


def mask(hi, lo):
    return ((1 << (hi + 1)) - 1) & ~((1 << lo) - 1)


class Tables:
    """Page tables of one configuration, built in a RAM image at `base`."""

    def __init__(self, base, a64, shift=12, va_bits=48, oa_bits=48):
        self.base, self.a64, self.shift, self.oa_bits = base, a64, shift, oa_bits
        self.words = {}  # RAM word index -> value
        stride = shift - 3
        if a64:
            start = 3
            while shift + stride * (4 - start) < va_bits:
                start -= 1
            self.steps = []
            for s, lvl in enumerate(range(start, 4)):
                vs = shift + stride * (3 - lvl)
                bits = (va_bits - vs) if s == 0 else stride
                self.steps.append((lvl, vs, bits))
        else:
            n = 5 if va_bits == 57 else 4
            self.steps = [(lvl, 12 + 9 * (lvl - 1), 9) for lvl in range(n, 0, -1)]
        self.gran = 1 << shift
        # the root table: 64-byte aligned (arm64) or a page (x86), at RAM offset gran
        self.next = self.gran
        self.root = self.alloc()

    def alloc(self):
        pa = self.base + self.next
        self.next += self.gran
        assert self.next <= RAM, "RAM image too small"
        return pa

    def enc(self, addr):
        if self.a64 and self.shift == 16 and self.oa_bits == 52:
            return (addr & mask(47, 0)) | (((addr >> 48) & 0xF) << 12)
        return addr

    def dec(self, desc):
        if self.a64:
            a = desc & mask(47, self.shift)
            if self.shift == 16 and self.oa_bits == 52:
                a |= ((desc >> 12) & 0xF) << 48
            return a
        return desc & mask(51, 12)

    def put(self, pa, value):
        off = pa - self.base
        assert 0 <= off <= RAM - 8 and off % 8 == 0
        self.words[off // 8] = value

    def get(self, pa):
        return self.words.get((pa - self.base) // 8, 0)

    def map(self, va, pa, leaf_level):
        table = self.root
        for lvl, vs, bits in self.steps:
            idx = (va >> vs) & ((1 << bits) - 1)
            epa = table + 8 * idx
            if lvl == leaf_level:
                assert pa % (1 << vs) == 0 and self.get(epa) == 0, "leaf slot taken"
                if self.a64:
                    kind = 3 if lvl == 3 else 1  # page / block
                    self.put(epa, self.enc(pa) | kind | 0x400)  # AF
                else:
                    ps = 0x80 if lvl > 1 else 0
                    self.put(epa, pa | 0x3 | ps)
                return
            cur = self.get(epa)
            if cur == 0:
                nxt = self.alloc()
                self.put(epa, self.enc(nxt) | 3)
            else:
                nxt = self.dec(cur)
            table = nxt
        raise AssertionError("leaf level not on the walk")


def header(flags, ra, rb=0, rc=0, cfg2=0, vas=(0, 0, 0, 0), xor=0x1000):
    vas = list(vas) + [0] * (4 - len(vas))
    return struct.pack("<BBQQQ4QQ", flags, cfg2, ra, rb, rc, *vas, xor)


def sparse(t):
    return b"".join(struct.pack("<HQ", w, v) for w, v in sorted(t.words.items()))


def dense(t):
    top = max(t.words) + 1
    img = bytearray(8 * top)
    for w, v in t.words.items():
        img[8 * w:8 * w + 8] = struct.pack("<Q", v)
    return bytes(img)


def tcr(t1sz, tg1, ips):
    return (t1sz << 16) | (tg1 << 30) | (ips << 32) | 25  # T0SZ 25


def write(name, blob):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(blob)


def main():
    kva = 0xFFFFFFFF81234567
    dmap = 0xFFFF888000123456

    # x86_64 4-level: a 4 KiB page, a 1 GiB direct-map page, a 2 MiB page; cfg2 = LA57 flipped
    t = Tables(0, False)
    t.map(kva, 0x9000, 1)
    t.map(kva + 0x1000, 0xA000, 1)
    t.map(dmap, 0, 3)
    t.map(0xFFFFFFFF82000000, 0x40200000, 2)
    write("x86_4level", header(0, t.root | 0x5, cfg2=2,
                               vas=(kva, dmap, 0xFFFFFFFF82012345, 0x0000800000000000)) + sparse(t))

    # x86_64 5-level; cfg2 = an aarch64 configuration (shared TLB, other mode key)
    t = Tables(0, False, va_bits=57)
    t.map(kva, 0x9000, 1)
    t.map(0xFF11000000000000 | 0x123456789, 0x80000000, 3)
    t.map(0x00FF000000200000, 0x600000, 2)
    write("x86_5level", header(F_LA57, t.root, rc=tcr(16, 2, 5), cfg2=3,
                               vas=(kva, 0xFF11000123456789, 0x00FF000000212345, kva ^ (1 << 56))) + sparse(t))

    # x86_64 dense RAM image
    t = Tables(0, False)
    va = 0xFFFF800000000123
    t.map(va, 0x7000, 1)
    write("x86_dense", header(F_DENSE, t.root, vas=(va, va + 0x1000, va + 0x200000, 0)) + dense(t))

    # aarch64 4K, 48-bit VA, RAM at 0x40000000: page, 2 MiB block, 1 GiB block; cfg2 = another root
    b = BASES[1]
    t = Tables(b, True, 12, 48, 48)
    va = 0xFFFF800012345678
    t.map(va, b + 0x9000, 3)
    t.map(0xFFFF800040212345, b + 0x200000, 2)
    t.map(0xFFFF8000C0001234, 0x80000000, 1)
    write("a64_4k_48", header(F_A64 | 0x10, t.root | 1 | (7 << 48), rb=tcr(16, 2, 5), rc=b + 0x3000, cfg2=1,
                              vas=(va, 0xFFFF800040212345, 0xFFFF8000C0001234, 0x0000800012345678)) + sparse(t))

    # aarch64 4K, 39-bit VA (three levels from level 1), canonicalised VAs
    t = Tables(b, True, 12, 39, 40)
    va = 0xFFFFFF8000123000
    t.map(va, b + 0x7000, 3)
    write("a64_4k_39", header(F_A64 | F_CANON | 0x10, t.root, rb=tcr(25, 2, 2),
                              vas=(va, 0x0000008000123456, va + 0x10, 1)) + sparse(t))

    # aarch64 16K, 47-bit VA: page and 32 MiB block; cfg2 = IPS changed
    t = Tables(b, True, 14, 47, 48)
    va = 0xFFFFC00012345678
    t.map(va, b + 0x20000, 3)
    t.map(0xFFFFC00042345678, b + 0x2000000, 2)
    write("a64_16k_47", header(F_A64 | 0x10, t.root, rb=tcr(17, 1, 5), rc=1 << 32, cfg2=2,
                               vas=(va, 0xFFFFC00042345678, va + 0x4000, 0)) + sparse(t))

    # aarch64 16K, 48-bit VA: four levels, the level-0 table has two entries
    t = Tables(b, True, 14, 48, 48)
    va = 0xFFFF800012345678
    t.map(va, b + 0x30000, 3)
    write("a64_16k_48", header(F_A64 | 0x10, t.root, rb=tcr(16, 1, 5), vas=(va, va ^ (1 << 47))) + sparse(t))

    # aarch64 64K, 42-bit VA: two levels, page and 512 MiB block
    t = Tables(b, True, 16, 42, 48)
    va = 0xFFFFFC0012345678
    t.map(va, b + 0x30000, 3)
    t.map(0xFFFFFC0032345678, 0x60000000, 2)
    write("a64_64k_42", header(F_A64 | 0x10, t.root, rb=tcr(22, 3, 5),
                               vas=(va, 0xFFFFFC0032345678, va + 0x10000, 0)) + sparse(t))

    # aarch64 64K, 52-bit VA and 52-bit OA, RAM at 2^48 (OA[51:48] in descriptor bits 15:12)
    b = BASES[2]
    t = Tables(b, True, 16, 52, 52)
    va = 0xFFF8012345678ABC
    t.map(va, b + 0x30000, 3)
    t.map(0xFFF80123A0000000, (1 << 50) + 0x20000000, 2)
    ttbr = (t.root & mask(47, 6)) | (((t.root >> 48) & 0xF) << 2)
    write("a64_64k_52", header(F_A64 | 0x20, ttbr, rb=tcr(12, 3, 6), rc=1 << 33, cfg2=2,
                               vas=(va, 0xFFF80123A0012345, va + 0x10000, 0xFFFF800000000000)) + sparse(t))

    # register sets that must be refused (status, not a walk)
    write("x86_cr3_zero", header(F_RAW, 0xFFF, vas=(kva,)))
    write("a64_tcr_zero", header(F_A64 | F_RAW, 0x40001000, rb=0))
    write("a64_lpa2_ds", header(F_A64 | 0x10, 0x40001000, rb=tcr(16, 2, 5) | (1 << 59)))
    write("a64_epd1", header(F_A64 | 0x10, 0x40001000, rb=tcr(16, 2, 5) | (1 << 23)))
    write("a64_tg1_reserved", header(F_A64 | 0x10, 0x40001000, rb=tcr(16, 0, 5), rc=tcr(12, 2, 5), cfg2=2))


if __name__ == "__main__":
    main()
