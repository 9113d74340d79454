/* libFuzzer target: modules/pgwalk (both architectures) over hostile page tables.
 *
 * Input (little-endian), FZ_HDR bytes of header then guest RAM:
 *   [0]      flags:  bit 0 arch (0 x86_64, 1 aarch64)   bit 1 x86 CR4.LA57
 *                    bit 2 RAM encoding (0 sparse records, 1 dense bytes)
 *                    bit 3 canonicalise the VAs into the configured space
 *                    bits 4-5 RAM base (fz_bases[])      bit 6 registers verbatim
 *                                                        (else the root is moved into RAM)
 *   [1]      cfg2:   bits 0-1 second configuration sharing the TLB:
 *                    0 none, 1 same arch with root from regC, 2 same arch variant
 *                    (x86: LA57 flipped; arm64: TCR ^ (regC & T1SZ|TG1|IPS)), 3 the other arch
 *   [2..9]   regA    CR3 or TTBR1_EL1
 *   [10..17] regB    TCR_EL1 (aarch64)
 *   [18..25] regC    see cfg2
 *   [26..57] four VAs to translate
 *   [58..65] XOR applied to the last entry of the first successful walk (remap test)
 *   [66..]   RAM: dense = bytes copied to RAM offset 0; sparse = 10-byte records
 *            (u16 slot = 8-byte word index in RAM, u64 value).
 * RAM is FZ_RAM bytes at fz_bases[], zero outside what the input writes.  It is
 * one buffer kept across inputs and re-zeroed only where the input wrote (a
 * 256 KiB memset per input would cost more than the walks).  Sparse records
 * let a few bytes of input build a whole walk; dense mode fills RAM verbatim.
 * Seeds: tests/fuzz/corpus/pgwalk/ (written by make_seeds.py there).
 *
 * Checked besides the sanitizers (abort() on violation):
 *   - km_pgwalk_cfg_* against an independent decoding of the registers: the
 *     status (invalid combinations refused), root, levels, widths and steps;
 *   - km_pgwalk_walk against an independent reference walker written here
 *     from the SDM / Arm ARM: status, result, trace entries and fault fields;
 *     on KM_OK pa < 2^oa_bits, page_size a power of two >= 4096 equal to the
 *     span of the leaf's level, trace n <= levels; res untouched on failure;
 *     the walk with and without a trace agree;
 *   - km_pgwalk_translate_cached equals an uncached walk (two configurations
 *     sharing one TLB), a repeat is a hit, counters move by one a call; after
 *     the guest rewrites a leaf a hit returns the old answer and a miss the
 *     new one, and after km_tlb_invalidate every call the new one. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/pgwalk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_RAM (256u * 1024u) /* four 64 KiB tables: enough for a 3-level 64K walk */
#define FZ_HDR 66u
#define FZ_NVA 4u
#define FZ_REC 10u
#define FZ_MAX_REC 4096u

#define F_A64 0x01u
#define F_LA57 0x02u
#define F_DENSE 0x04u
#define F_CANON 0x08u
#define F_RAW 0x40u

static const uint64_t fz_bases[4] = {
    UINT64_C(0), UINT64_C(0x40000000), UINT64_C(1) << 48, (UINT64_C(1) << 52) - FZ_RAM,
};

static volatile uint64_t sink;
static uint8_t *ram;       /* FZ_RAM bytes, allocated once, all zero between inputs */
static km_mem mem;
static km_tlb tlb;

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8u; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

static void wr64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8u; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static uint64_t mask(unsigned hi, unsigned lo) /* bits hi..lo */
{
    uint64_t upto = (hi >= 63u) ? UINT64_MAX : ((UINT64_C(1) << (hi + 1u)) - 1u);
    return upto & ~((UINT64_C(1) << lo) - 1u);
}

/* abort() on a violated invariant, naming the line so a finding is quick to triage */
static void check_at(bool ok, int line)
{
    if (!ok) {
        fprintf(stderr, "fuzz_pgwalk: invariant at line %d violated\n", line);
        abort();
    }
}
#define check(ok) check_at((ok), __LINE__)

/* ------------------------------------------------------------ reference model */

/* What the registers should decode to, derived here independently. */
typedef struct ref_cfg {
    km_status st;
    km_status st_alt;  /* a second acceptable status (DS together with a bad field) */
    bool a64;
    uint64_t root;
    unsigned levels, shift, va_bits, oa_bits;
    int lvl[KM_PGWALK_MAX_LEVELS];
    unsigned vshift[KM_PGWALK_MAX_LEVELS], bits[KM_PGWALK_MAX_LEVELS];
    bool block[KM_PGWALK_MAX_LEVELS];
} ref_cfg;

static void ref_x86(uint64_t cr3, bool la57, ref_cfg *r)
{
    memset(r, 0, sizeof(*r));
    r->root = cr3 & mask(51, 12);
    r->st = (r->root == 0u) ? KM_ERR_BAD_REGISTERS : KM_OK;
    r->st_alt = r->st;
    r->levels = la57 ? 5u : 4u;
    r->va_bits = la57 ? 57u : 48u;
    r->shift = 12u;
    r->oa_bits = 52u;
    for (unsigned s = 0; s < r->levels; s++) {
        int l = (int)(r->levels - s); /* 5/4 PML5/PML4 .. 1 PT */
        r->lvl[s] = l;
        r->vshift[s] = 12u + 9u * (unsigned)(l - 1);
        r->bits[s] = 9u;
        r->block[s] = (l == 2) || (l == 3); /* 2 MiB and 1 GiB pages */
    }
}

static const unsigned ips_bits[8] = {32u, 36u, 40u, 42u, 44u, 48u, 52u, 52u /* reserved: as 52 */};

static void ref_a64(uint64_t ttbr, uint64_t tcr, ref_cfg *r)
{
    memset(r, 0, sizeof(*r));
    r->a64 = true;
    unsigned t1sz = (unsigned)((tcr >> 16) & 63u);
    unsigned tg1 = (unsigned)((tcr >> 30) & 3u);
    r->shift = (tg1 == 1u) ? 14u : ((tg1 == 3u) ? 16u : 12u);
    r->va_bits = 64u - t1sz;
    unsigned max_va = (r->shift == 16u) ? 52u : 48u; /* 52-bit VA with 4K/16K needs LPA2 */
    r->oa_bits = ips_bits[(tcr >> 32) & 7u];
    if ((r->shift != 16u) && (r->oa_bits > 48u)) {
        r->oa_bits = 48u;
    }
    r->root = ttbr & mask(47, 6);
    if ((r->shift == 16u) && (r->oa_bits == 52u)) {
        r->root |= ((ttbr >> 2) & 0xFu) << 48; /* BADDR[51:48] in TTBR bits 5:2 */
    }
    bool bad = (tg1 == 0u) || ((tcr & KM_A64_TCR_EPD1) != 0u) || (r->va_bits < 25u) ||
               (r->va_bits > max_va) || (r->root == 0u) ||
               ((r->root >> r->oa_bits) != 0u); /* a top table beyond IPS */
    bool ds = (tcr & KM_A64_TCR_DS) != 0u;
    r->st = ds ? KM_ERR_UNSUPPORTED : (bad ? KM_ERR_BAD_REGISTERS : KM_OK);
    r->st_alt = (ds && bad) ? KM_ERR_BAD_REGISTERS : r->st;
    if (r->st == KM_OK) {
        unsigned stride = r->shift - 3u;
        /* the page level (3) translates VA bits [shift + stride - 1 : shift]; level n
         * the stride above; start at the lowest level that covers va_bits */
        int start = 3;
        while (r->shift + stride * (unsigned)(4 - start) < r->va_bits) {
            start--;
        }
        r->levels = (unsigned)(4 - start);
        for (unsigned s = 0; s < r->levels; s++) {
            int l = start + (int)s;
            r->lvl[s] = l;
            r->vshift[s] = r->shift + stride * (unsigned)(3 - l);
            r->bits[s] = (s == 0u) ? (r->va_bits - r->vshift[s]) : stride;
            r->block[s] = (l == 2) || ((l == 1) && (r->shift == 12u));
        }
    }
}

static void check_cfg(const ref_cfg *r, km_status st, const km_pgwalk_cfg *c)
{
    check((st == r->st) || (st == r->st_alt));
    if (st == KM_OK) {
        check(c->arch == (r->a64 ? KM_ARCH_AARCH64 : KM_ARCH_X86_64));
        check(c->root_pa == r->root && c->levels == r->levels && c->page_shift == r->shift);
        check(c->va_bits == r->va_bits && c->oa_bits == r->oa_bits);
        check(c->levels >= 1u && c->levels <= KM_PGWALK_MAX_LEVELS && c->root_pa < (UINT64_C(1) << 52));
        for (unsigned s = 0; s < c->levels; s++) {
            const km_pgwalk_step *p = &c->steps[s];
            check(p->level == r->lvl[s] && p->va_shift == r->vshift[s] && p->idx_bits == r->bits[s]);
            check(p->block_ok == r->block[s]);
            check(p->idx_bits >= 1u && p->idx_bits <= 13u && p->va_shift >= c->page_shift);
            /* the steps tile [page_shift, va_bits) without gap or overlap */
            uint32_t top = (s == 0u) ? c->va_bits : c->steps[s - 1u].va_shift;
            check(p->va_shift + p->idx_bits == top);
        }
        check(c->steps[c->levels - 1u].va_shift == c->page_shift);
    }
}

static bool ref_va_ok(const ref_cfg *r, uint64_t va)
{
    bool ok;
    if (r->a64) {
        ok = (r->va_bits >= 64u) || ((va | (UINT64_MAX >> (64u - r->va_bits))) == UINT64_MAX);
    } else {
        uint64_t hi = va & mask(63, r->va_bits - 1u); /* bit va_bits-1 and above */
        ok = (hi == 0u) || (hi == mask(63, r->va_bits - 1u));
    }
    return ok;
}

static uint64_t ref_canon(const ref_cfg *r, uint64_t va)
{
    uint64_t hi = mask(63, r->va_bits);
    if (r->a64 || ((va >> (r->va_bits - 1u)) & 1u)) {
        va |= hi;
    } else {
        va &= ~hi;
    }
    return va;
}

/* Output address of a descriptor whose address field starts at bit lo. */
static uint64_t ref_oa(const ref_cfg *r, uint64_t d, unsigned lo)
{
    uint64_t oa;
    if (!r->a64) {
        oa = d & mask(51, lo);
    } else {
        oa = d & mask(47, lo);
        if ((r->shift == 16u) && (r->oa_bits == 52u)) {
            oa |= ((d >> 12) & 0xFu) << 48; /* 64K granule, 52-bit OA: OA[51:48] in bits 15:12 */
        }
    }
    return oa;
}

static bool ram_read(uint64_t base, uint64_t pa, uint64_t *v)
{
    bool ok = (pa >= base) && (pa - base <= FZ_RAM - 8u);
    if (ok) {
        *v = rd64(ram + (pa - base));
    }
    return ok;
}

static km_status ref_walk(const ref_cfg *r, uint64_t base, uint64_t va, km_pgwalk_result *res,
                          km_pgwalk_trace *t)
{
    km_status st = KM_OK;
    uint64_t table = r->root;
    memset(t, 0, sizeof(*t));
    t->va = va;
    t->fault_level = -1;
    if (!ref_va_ok(r, va)) {
        st = KM_ERR_RANGE;
        t->fault_addr = va;
    }
    bool done = false;
    for (unsigned s = 0; (st == KM_OK) && !done && (s < r->levels); s++) {
        uint64_t idx = (va >> r->vshift[s]) & ((UINT64_C(1) << r->bits[s]) - 1u);
        uint64_t epa = table + 8u * idx;
        uint64_t d = 0;
        if (!ram_read(base, epa, &d)) {
            st = KM_ERR_TABLE_OUTSIDE_RAM;
            t->fault_level = r->lvl[s];
            t->fault_addr = epa;
            break;
        }
        t->entries[t->n].level = r->lvl[s];
        t->entries[t->n].index = (uint32_t)idx;
        t->entries[t->n].entry_pa = epa;
        t->entries[t->n].value = d;
        t->n++;
        bool last = (s + 1u) == r->levels;
        bool valid = (d & 1u) != 0u;
        /* x86: PS (bit 7) asks for a large page above the PT, where it is PAT;
         * arm64: bit 1 set is table (or page at level 3), clear a block */
        bool is_leaf, is_bad;
        if (r->a64) {
            bool tp = (d & 2u) != 0u;
            is_leaf = last ? tp : (!tp && r->block[s]);
            is_bad = last ? !tp : (!tp && !r->block[s]);
        } else {
            bool ps = (d & 0x80u) != 0u;
            is_leaf = last || (ps && r->block[s]);
            is_bad = !last && ps && !r->block[s];
        }
        uint64_t addr = ref_oa(r, d, is_leaf ? r->vshift[s] : r->shift);
        if (!valid) {
            st = KM_ERR_NOT_PRESENT;
        } else if (is_bad || ((addr >> r->oa_bits) != 0u)) {
            st = KM_ERR_BAD_DESCRIPTOR; /* reserved encoding, or an address size fault */
        } else if (is_leaf) {
            uint64_t size = UINT64_C(1) << r->vshift[s];
            res->pa = addr | (va & (size - 1u));
            res->page_size = size;
            res->level = r->lvl[s];
            done = true;
        } else {
            table = addr;
        }
        if ((st != KM_OK) && (st != KM_ERR_TABLE_OUTSIDE_RAM)) {
            t->fault_level = r->lvl[s];
            t->fault_addr = epa;
        }
    }
    t->status = st;
    return st;
}

/* ------------------------------------------------------------------ checking */

static bool same_res(const km_pgwalk_result *a, const km_pgwalk_result *b)
{
    return (a->pa == b->pa) && (a->page_size == b->page_size) && (a->level == b->level);
}

static const km_pgwalk_result SENTINEL = {.pa = UINT64_C(0xdeadbeefdeadbeef), .page_size = 3u, .level = 99};

/* One VA through both walk calls, against the reference; returns the status. */
static km_status walk_checked(const km_pgwalk_cfg *c, const ref_cfg *r, uint64_t base, uint64_t va,
                              km_pgwalk_result *out, km_pgwalk_trace *out_tr)
{
    km_pgwalk_result a = SENTINEL, b = SENTINEL, want = SENTINEL;
    km_pgwalk_trace tr, rt;
    km_status sa = km_pgwalk_walk(&mem, c, va, &a, NULL);
    km_status sb = km_pgwalk_walk(&mem, c, va, &b, &tr);
    km_status sr = ref_walk(r, base, va, &want, &rt);
    check(sa == sb && sa == sr);
    check(same_res(&a, &b) && same_res(&a, &want)); /* untouched (SENTINEL) on failure */
    check(tr.status == sa && tr.va == va && tr.n <= c->levels && tr.n == rt.n);
    for (uint32_t i = 0; i < tr.n; i++) {
        const km_pgwalk_entry *e = &tr.entries[i], *w = &rt.entries[i];
        check(e->level == w->level && e->index == w->index && e->entry_pa == w->entry_pa && e->value == w->value);
    }
    if (sa == KM_OK) {
        check(tr.n >= 1u && a.level == tr.entries[tr.n - 1u].level);
        check((c->oa_bits >= 64u) || ((a.pa >> c->oa_bits) == 0u));
        check(a.page_size >= 4096u && (a.page_size & (a.page_size - 1u)) == 0u);
        check(a.page_size == (UINT64_C(1) << c->steps[tr.n - 1u].va_shift));
        check((a.pa & (a.page_size - 1u)) == (va & (a.page_size - 1u)));
    } else if (sa != KM_ERR_RANGE) {
        check(tr.fault_level == rt.fault_level && tr.fault_addr == rt.fault_addr);
    } else {
        check(tr.n == 0u);
    }
    sink += a.pa + tr.n + (uint64_t)sa;
    *out = a;
    *out_tr = tr;
    return sa;
}

/* The cache must answer what a walk answers; a repeat of a success is a hit. */
static void cached_checked(const km_pgwalk_cfg *c, uint64_t va)
{
    km_pgwalk_result u = SENTINEL, x = SENTINEL, y = SENTINEL;
    km_status su = km_pgwalk_walk(&mem, c, va, &u, NULL);
    uint64_t calls = tlb.hits + tlb.misses;
    km_status sx = km_pgwalk_translate_cached(&mem, c, &tlb, va, &x);
    check(sx == su && same_res(&x, &u));
    check(tlb.hits + tlb.misses == calls + 1u);
    if (su == KM_OK) {
        uint64_t hits = tlb.hits;
        km_status sy = km_pgwalk_translate_cached(&mem, c, &tlb, va, &y);
        check(sy == KM_OK && same_res(&y, &u) && tlb.hits == hits + 1u);
    }
}

/* Move the address field of a register into RAM (unless verbatim). */
static uint64_t place_x86(uint64_t cr3, uint64_t base, bool raw)
{
    uint64_t off = (cr3 & mask(51, 12)) % FZ_RAM;
    return raw ? cr3 : ((cr3 & ~mask(51, 12)) | (base + off));
}

static uint64_t place_a64(uint64_t ttbr, uint64_t base, bool raw)
{
    uint64_t root = base + ((ttbr & mask(47, 6)) % FZ_RAM);
    return raw ? ttbr : ((ttbr & ~(mask(47, 6) | mask(5, 2))) | (root & mask(47, 6)) | (((root >> 48) & 0xFu) << 2));
}

static km_status make_cfg(bool a64, uint64_t ra, uint64_t tcr, bool la57, uint64_t base, bool raw,
                          km_pgwalk_cfg *c, ref_cfg *r)
{
    km_status st;
    memset(c, 0xA5, sizeof(*c));
    if (a64) {
        uint64_t ttbr = place_a64(ra, base, raw);
        ref_a64(ttbr, tcr, r);
        st = km_pgwalk_cfg_aarch64(ttbr, tcr, c);
    } else {
        uint64_t cr3 = place_x86(ra, base, raw);
        ref_x86(cr3, la57, r);
        st = km_pgwalk_cfg_x86_64(cr3, la57, c);
    }
    check_cfg(r, st, c);
    if (st != KM_OK) {
        const uint8_t *b = (const uint8_t *)c;
        for (size_t i = 0; i < sizeof(*c); i++) {
            check(b[i] == 0xA5u); /* written only on success */
        }
    }
    return st;
}

static void load_ram(const uint8_t *p, size_t n, bool dense)
{
    if (dense) {
        memcpy(ram, p, (n < FZ_RAM) ? n : FZ_RAM);
    } else {
        for (size_t k = 0; (k + FZ_REC <= n) && (k < FZ_MAX_REC * FZ_REC); k += FZ_REC) {
            uint32_t slot = ((uint32_t)p[k] | ((uint32_t)p[k + 1u] << 8)) % (FZ_RAM / 8u);
            wr64(ram + 8u * slot, rd64(p + k + 2u));
        }
    }
}

/* Back to all-zero: only what load_ram wrote. */
static void clear_ram(const uint8_t *p, size_t n, bool dense)
{
    if (dense) {
        memset(ram, 0, (n < FZ_RAM) ? n : FZ_RAM);
    } else {
        for (size_t k = 0; (k + FZ_REC <= n) && (k < FZ_MAX_REC * FZ_REC); k += FZ_REC) {
            uint32_t slot = ((uint32_t)p[k] | ((uint32_t)p[k + 1u] << 8)) % (FZ_RAM / 8u);
            wr64(ram + 8u * slot, 0u);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FZ_HDR) {
        return 0;
    }
    if (ram == NULL) {
        ram = calloc(1u, FZ_RAM); /* once: re-zeroing 256 KiB an input would dominate the run */
        if (ram == NULL) {
            return 0;
        }
    }
    /* Own copy so ASan sees any read past the end of the input. */
    uint8_t *in = malloc(size);
    if (in == NULL) {
        return 0;
    }
    memcpy(in, data, size);
    const uint8_t flags = in[0];
    const unsigned kind2 = in[1] & 3u;
    const uint64_t ra = rd64(in + 2), rb = rd64(in + 10), rc = rd64(in + 18);
    const uint64_t xr = rd64(in + 58);
    const uint64_t base = fz_bases[(flags >> 4) & 3u];
    const bool a64 = (flags & F_A64) != 0u, la57 = (flags & F_LA57) != 0u, raw = (flags & F_RAW) != 0u;
    const bool dense = (flags & F_DENSE) != 0u;
    const uint8_t *rp = in + FZ_HDR;
    const size_t rn = size - FZ_HDR;

    load_ram(rp, rn, dense);
    km_mem_init(&mem);
    check(km_mem_add_region(&mem, base, FZ_RAM, ram, false) == KM_OK);

    km_pgwalk_cfg c1, c2;
    ref_cfg r1, r2;
    km_status s1 = make_cfg(a64, ra, rb, la57, base, raw, &c1, &r1);
    km_status s2 = KM_ERR_STATE;
    if (kind2 == 1u) {
        s2 = make_cfg(a64, rc, rb, la57, base, raw, &c2, &r2);
    } else if (kind2 == 2u) {
        const uint64_t fields = mask(21, 16) | mask(31, 30) | mask(34, 32);
        s2 = make_cfg(a64, ra, rb ^ (rc & fields), !la57, base, raw, &c2, &r2);
    } else if (kind2 == 3u) {
        s2 = make_cfg(!a64, ra, rc, la57, base, raw, &c2, &r2);
    } else {
        /* one configuration */
    }

    if (s1 == KM_OK) {
        uint64_t va[FZ_NVA];
        for (unsigned i = 0; i < FZ_NVA; i++) {
            va[i] = rd64(in + 26u + 8u * i);
            if ((flags & F_CANON) != 0u) {
                va[i] = ref_canon(&r1, va[i]);
            }
        }
        km_tlb_init(&tlb);
        check(tlb.hits == 0u && tlb.misses == 0u);
        km_pgwalk_trace first_tr;
        int first_i = -1;
        for (unsigned i = 0; i < FZ_NVA; i++) {
            km_pgwalk_result res;
            km_pgwalk_trace tr;
            if ((walk_checked(&c1, &r1, base, va[i], &res, &tr) == KM_OK) && (first_i < 0)) {
                first_tr = tr;
                first_i = (int)i;
            }
            if (s2 == KM_OK) {
                (void)walk_checked(&c2, &r2, base, va[i], &res, &tr);
            }
        }
        /* Both configurations through one TLB, interleaved, and a second VA of each page. */
        for (unsigned i = 0; i < FZ_NVA; i++) {
            cached_checked(&c1, va[i]);
            if (s2 == KM_OK) {
                cached_checked(&c2, va[i]);
            }
            cached_checked(&c1, va[i] ^ 0x18u);
        }
        if (first_i >= 0) {
            /* The guest rewrites the leaf entry of the first successful walk.  Probed
             * through the cache: its VA (cached above, a hit unless evicted) and the
             * next granule (a miss; inside the same leaf when that is a block). */
            const km_pgwalk_entry *leaf = &first_tr.entries[first_tr.n - 1u];
            const uint64_t probe[2] = {va[first_i], va[first_i] ^ (UINT64_C(1) << c1.page_shift)};
            km_pgwalk_result old[2] = {SENTINEL, SENTINEL};
            km_status old_st[2];
            for (unsigned k = 0; k < 2u; k++) {
                old_st[k] = km_pgwalk_walk(&mem, &c1, probe[k], &old[k], NULL);
            }
            uint8_t *host = ram + (leaf->entry_pa - base);
            wr64(host, leaf->value ^ xr);
            for (unsigned k = 0; k < 2u; k++) {
                km_pgwalk_result now = SENTINEL, got = SENTINEL;
                km_pgwalk_trace tr;
                km_status sn = walk_checked(&c1, &r1, base, probe[k], &now, &tr);
                uint64_t hits = tlb.hits;
                km_status sg = km_pgwalk_translate_cached(&mem, &c1, &tlb, probe[k], &got);
                if (tlb.hits != hits) {
                    check(old_st[k] == KM_OK && sg == KM_OK && same_res(&got, &old[k])); /* stale until invalidated */
                } else {
                    check(sg == sn && same_res(&got, &now));
                }
            }
            km_tlb_invalidate(&tlb);
            for (unsigned i = 0; i < FZ_NVA; i++) {
                cached_checked(&c1, va[i]);
            }
            wr64(host, leaf->value);
        }
        km_tlb_invalidate(&tlb);
        for (unsigned i = 0; i < FZ_NVA; i++) {
            cached_checked(&c1, va[i]);
        }
        sink += tlb.hits + tlb.misses;
    }
    clear_ram(rp, rn, dense);
    free(in);
    return 0;
}
