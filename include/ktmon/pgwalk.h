/* ktmon: guest page-table walkers.
 *
 * A km_pgwalk_cfg is decoded once from the guest's registers (x86_64: CR3 and
 * whether LA57 is on; aarch64: TTBR1_EL1 and TCR_EL1) and says everything the
 * walker needs: the top table, how many levels, which bits index each level
 * and where block (huge-page) descriptors are legal.  The walker is generic;
 * what differs per architecture is the descriptor decoding, kept in a const
 * ops table per architecture (pgwalk_x86_64.c, pgwalk_aarch64.c).
 *
 * Every entry the walker reads goes through km_mem, so a table outside guest
 * RAM is a status, not a crash, and a walk reads at most KM_PGWALK_MAX_LEVELS
 * entries: a table that points to itself cannot make it loop.
 *
 * Levels are numbered as each architecture names them:
 *   x86_64:  5 = PML5, 4 = PML4, 3 = PDPT (1 GiB leaf), 2 = PD (2 MiB), 1 = PT (4 KiB)
 *   aarch64: 0 .. 3, 3 being the last (page) level.
 *
 * Nothing here allocates or makes a system call. */
#ifndef KTMON_PGWALK_H
#define KTMON_PGWALK_H

#include <stdbool.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/arch.h"
#include "ktmon/mem.h"
#include "ktmon/status.h"

#define KM_PGWALK_MAX_LEVELS 5u

/* Register bits used to build a configuration. */
#define KM_X86_CR4_LA57 (UINT64_C(1) << 12)
#define KM_X86_CR3_ADDR_MASK UINT64_C(0x000FFFFFFFFFF000)
#define KM_A64_TCR_T1SZ_SHIFT 16u
#define KM_A64_TCR_EPD1 (UINT64_C(1) << 23)
#define KM_A64_TCR_TG1_SHIFT 30u
#define KM_A64_TCR_IPS_SHIFT 32u
#define KM_A64_TCR_DS (UINT64_C(1) << 59)

/* One walk step, derived from the registers.  The last three fields are
 * precomputed by the km_pgwalk_cfg_* functions so that the walker needs no
 * variable shift that could overflow: it indexes with a remainder and aligns
 * with a remainder, which is also what lets WP prove it. */
typedef struct km_pgwalk_step {
    uint32_t va_shift;   /* lowest VA bit indexed at this step */
    uint32_t idx_bits;   /* number of VA bits indexing this table */
    int32_t level;       /* architectural level number (see above) */
    bool block_ok;       /* may a descriptor here map a block (huge page)? */
    uint32_t entries;    /* 1 << idx_bits: index = (va >> va_shift) % entries */
    uint64_t size;       /* 1 << va_shift: bytes mapped by a page/block descriptor here */
} km_pgwalk_step;

typedef struct km_pgwalk_cfg {
    km_arch arch;
    uint64_t root_pa;      /* physical address of the top table */
    uint32_t levels;       /* steps walked: 1 .. KM_PGWALK_MAX_LEVELS */
    uint32_t page_shift;   /* 12 (4K), 14 (16K) or 16 (64K) */
    uint32_t va_bits;      /* width of the translated VA space */
    uint32_t oa_bits;      /* output (physical) address width */
    km_pgwalk_step steps[KM_PGWALK_MAX_LEVELS];
    uint64_t mode_key;     /* identifies arch/levels/granule for the cache */
    uint64_t page_size;    /* 1 << page_shift (the granule; tables are aligned to it) */
} km_pgwalk_cfg;

/* A successful translation. */
typedef struct km_pgwalk_result {
    uint64_t pa;         /* physical address of va */
    uint64_t page_size;  /* bytes mapped by the leaf entry */
    int32_t level;       /* architectural level of the leaf */
} km_pgwalk_result;

/* One table entry read during a walk. */
typedef struct km_pgwalk_entry {
    int32_t level;       /* architectural level of the table */
    uint32_t index;      /* index into the table */
    uint64_t entry_pa;   /* physical address of the entry */
    uint64_t value;      /* the entry as read */
} km_pgwalk_entry;

/* The record of one walk: every entry read, and how it ended.  Unlike the
 * result, it is filled whatever the status (it is what a reviewer needs to
 * see why a walk failed).  On failure fault_level is the level whose entry
 * (or table, for KM_ERR_TABLE_OUTSIDE_RAM) stopped the walk and fault_addr
 * the physical address involved. */
typedef struct km_pgwalk_trace {
    uint64_t va;
    km_status status;
    uint32_t n;                                   /* entries read, <= levels */
    km_pgwalk_entry entries[KM_PGWALK_MAX_LEVELS];
    int32_t fault_level;
    uint64_t fault_addr;
} km_pgwalk_trace;

/* Physical addresses are below 2^52 on both architectures (x86 MAXPHYADDR,
 * arm64 52-bit OA); table and page addresses the walker produces stay below it. */
#define KM_PGWALK_PA_LIMIT (UINT64_C(1) << 52)

/* What the walker relies on (established by the km_pgwalk_cfg_* functions):
 * bounded shifts, table sizes and page sizes that are powers of two, sizes
 * that divide 2^52, and the granule.  Not stated (checked by the unit tests
 * for every configuration): entries == 1 << idx_bits, size == 1 << va_shift. */
/*@ predicate km_pgwalk_is_pow2(integer m) =
        m == 0x1 || m == 0x2 || m == 0x4 || m == 0x8 ||
        m == 0x10 || m == 0x20 || m == 0x40 || m == 0x80 ||
        m == 0x100 || m == 0x200 || m == 0x400 || m == 0x800 ||
        m == 0x1000 || m == 0x2000 || m == 0x4000 || m == 0x8000 ||
        m == 0x10000 || m == 0x20000 || m == 0x40000 || m == 0x80000 ||
        m == 0x100000 || m == 0x200000 || m == 0x400000 || m == 0x800000 ||
        m == 0x1000000 || m == 0x2000000 || m == 0x4000000 || m == 0x8000000 ||
        m == 0x10000000 || m == 0x20000000 || m == 0x40000000 || m == 0x80000000 ||
        m == 0x100000000 || m == 0x200000000 || m == 0x400000000 || m == 0x800000000 ||
        m == 0x1000000000 || m == 0x2000000000 || m == 0x4000000000 || m == 0x8000000000 ||
        m == 0x10000000000 || m == 0x20000000000 || m == 0x40000000000 || m == 0x80000000000 ||
        m == 0x100000000000 || m == 0x200000000000 || m == 0x400000000000 ||
        m == 0x800000000000 || m == 0x1000000000000 || m == 0x2000000000000 ||
        m == 0x4000000000000 || m == 0x8000000000000 || m == 0x10000000000000;

    predicate km_pgwalk_step_ok(km_pgwalk_step st, integer page_shift) =
        page_shift <= st.va_shift <= 51 &&
        1 <= st.idx_bits <= 13 && st.va_shift + st.idx_bits <= 64 &&
        1 <= st.entries <= 8192 && km_pgwalk_is_pow2(st.entries) &&
        4096 <= st.size <= (1 << 51) && km_pgwalk_is_pow2(st.size) && (1 << 52) % st.size == 0;

    predicate km_pgwalk_cfg_ok(km_pgwalk_cfg *c) =
        \valid_read(c) && 1 <= c->levels <= KM_PGWALK_MAX_LEVELS &&
        (c->arch == KM_ARCH_X86_64 || c->arch == KM_ARCH_AARCH64) &&
        ((c->page_shift == 12 && c->page_size == 4096) ||
         (c->page_shift == 14 && c->page_size == 16384) ||
         (c->page_shift == 16 && c->page_size == 65536)) &&
        (c->arch == KM_ARCH_X86_64 ==> c->page_size == 4096) &&
        c->oa_bits <= 52 && 25 <= c->va_bits <= 57 &&
        c->root_pa < (1 << 52) &&
        (\forall integer s; 0 <= s < c->levels ==> km_pgwalk_step_ok(c->steps[s], c->page_shift)); */

/* x86_64: 4-level, or 5-level when la57 (CR4.LA57) is set.  CR3's PCID and
 * flag bits are ignored.  A zero table address is KM_ERR_BAD_REGISTERS. */
/*@ requires \valid(out);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_BAD_REGISTERS;
    ensures \result == KM_OK ==> km_pgwalk_cfg_ok(out) && out->arch == KM_ARCH_X86_64 &&
        out->levels == (la57 ? 5 : 4) && out->va_bits == (la57 ? 57 : 48);
    ensures \result != KM_OK ==> *out == \old(*out); */
KM_API km_status km_pgwalk_cfg_x86_64(uint64_t cr3, bool la57, km_pgwalk_cfg *out);

/* aarch64 TTBR1 (kernel half) walks from TCR_EL1: refuses TCR = 0, EPD1,
 * T1SZ out of range and the reserved TG1 encoding (KM_ERR_BAD_REGISTERS), and
 * LPA2 (TCR.DS, KM_ERR_UNSUPPORTED). */
/*@ requires \valid(out);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_BAD_REGISTERS || \result == KM_ERR_UNSUPPORTED;
    ensures \result == KM_OK ==> km_pgwalk_cfg_ok(out) && out->arch == KM_ARCH_AARCH64 &&
        out->levels <= 4;
    ensures \result != KM_OK ==> *out == \old(*out); */
KM_API km_status km_pgwalk_cfg_aarch64(uint64_t ttbr1, uint64_t tcr, km_pgwalk_cfg *out);

/* Translate va.  Statuses: KM_ERR_RANGE (va outside the configured VA space:
 * non-canonical on x86, not a TTBR1 address on arm64), KM_ERR_NOT_PRESENT,
 * KM_ERR_BAD_DESCRIPTOR, KM_ERR_TABLE_OUTSIDE_RAM.  res is written only on
 * success; trace (may be NULL) always. */
/*@ requires km_mem_ok(m) && km_pgwalk_cfg_ok(cfg) && \valid(res);
    requires trace == \null || \valid(trace);
    requires \separated(res, m) && \separated(res, cfg);
    requires trace != \null ==> \separated(trace, m) && \separated(trace, cfg) && \separated(trace, res);
    assigns *res, *trace;
    ensures \result == KM_OK || \result == KM_ERR_RANGE || \result == KM_ERR_NOT_PRESENT ||
            \result == KM_ERR_BAD_DESCRIPTOR || \result == KM_ERR_TABLE_OUTSIDE_RAM;
    ensures \result != KM_OK ==> *res == \old(*res);
    ensures \result == KM_OK ==> \exists integer k; 0 <= k < \old(cfg->levels) &&
        res->page_size == \old(cfg->steps[k].size) && res->level == \old(cfg->steps[k].level);
    ensures \result == KM_OK ==> 4096 <= res->page_size <= (1 << 51);
    ensures \result == KM_OK ==> res->pa < (1 << 52);
    ensures \result == KM_OK ==> res->pa >= va % res->page_size &&
        (res->pa - va % res->page_size) % res->page_size == 0;
    behavior traced:
      assumes trace != \null;
      assigns *res, *trace;
      ensures trace->n <= \old(cfg->levels) && trace->status == \result;
    behavior untraced:
      assumes trace == \null;
      assigns *res;
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_pgwalk_walk(const km_mem *m, const km_pgwalk_cfg *cfg, uint64_t va,
                                km_pgwalk_result *res, km_pgwalk_trace *trace);

/* ---------------------------------------------------------------- translation cache */

/* Set-associative: KM_TLB_SETS sets of KM_TLB_WAYS entries.  A direct-mapped
 * table of the same size lost a quarter of a 256-page hot set to collisions
 * (random KASLR pages); four ways keep nearly all of it. */
#define KM_TLB_WAYS 4u
#define KM_TLB_SETS 256u
#define KM_TLB_ENTRIES (KM_TLB_WAYS * KM_TLB_SETS)

typedef struct km_tlb_entry {
    uint64_t vpage;      /* va >> page_shift */
    uint64_t root_pa;
    uint64_t mode_key;
    uint64_t ppage;      /* pa >> page_shift */
    uint64_t page_size;  /* leaf size (for reporting) */
    int32_t level;
    uint32_t valid;
} km_tlb_entry;

typedef struct km_tlb {
    km_tlb_entry e[KM_TLB_ENTRIES];  /* set s holds e[s * KM_TLB_WAYS .. + KM_TLB_WAYS - 1] */
    uint32_t victim[KM_TLB_SETS];    /* next way to replace in each set (round robin) */
    uint64_t hits;
    uint64_t misses;
} km_tlb;

/*@ requires \valid(t);
    assigns *t;
    ensures t->hits == 0 && t->misses == 0;
    ensures \forall integer i; 0 <= i < KM_TLB_ENTRIES ==> t->e[i].valid == 0; */
KM_API void km_tlb_init(km_tlb *t);

/* Drop every entry: call on thaw and whenever the page-table root changes. */
/*@ requires \valid(t);
    assigns t->e[0 .. KM_TLB_ENTRIES - 1];
    ensures \forall integer i; 0 <= i < KM_TLB_ENTRIES ==> t->e[i].valid == 0; */
KM_API void km_tlb_invalidate(km_tlb *t);

/* km_pgwalk_walk through the cache: a hit costs one table lookup; only
 * successful walks are cached. */
/*@ requires km_mem_ok(m) && km_pgwalk_cfg_ok(cfg) && \valid(t) && \valid(res);
    requires \separated(t, m) && \separated(t, cfg) && \separated(t, res);
    requires \separated(res, m) && \separated(res, cfg);
    assigns *t, *res;
    ensures \result == KM_OK || \result == KM_ERR_RANGE || \result == KM_ERR_NOT_PRESENT ||
            \result == KM_ERR_BAD_DESCRIPTOR || \result == KM_ERR_TABLE_OUTSIDE_RAM;
    ensures \result != KM_OK ==> *res == \old(*res);
    ensures \result == KM_OK ==> res->page_size >= 4096; */
KM_API km_status km_pgwalk_translate_cached(const km_mem *m, const km_pgwalk_cfg *cfg, km_tlb *t,
                                            uint64_t va, km_pgwalk_result *res);

#endif /* KTMON_PGWALK_H */
