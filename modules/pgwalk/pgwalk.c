/* ktmon: the generic page walker and the translation cache.
 *
 * The walk is a loop over at most cfg->levels (<= 5) steps: each reads one
 * 8-byte entry through km_mem and asks the architecture's ops to decode it.
 * Proved by WP (verify/wp/pgwalk.wp): every index stays inside its table,
 * entry addresses cannot overflow, the loop terminates, outputs are written
 * only on success, and a translation is the leaf's base plus va's offset in
 * the leaf (docs/proof-status.md says what is and is not proved). */
#include "ktmon/pgwalk.h"

#include <stddef.h>

#include "pgwalk_arch.h"

uint64_t km_pgwalk_pow2(uint32_t sh)
{
    /* A table, not a shift: nothing to overflow, and WP proves the bounds
     * of a lookup by cases. */
    static const uint64_t km_pgwalk_pow2_table[KM_PGWALK_POW2_MAX + 1u] = {
        UINT64_C(1) << 0,  UINT64_C(1) << 1,  UINT64_C(1) << 2,  UINT64_C(1) << 3,
        UINT64_C(1) << 4,  UINT64_C(1) << 5,  UINT64_C(1) << 6,  UINT64_C(1) << 7,
        UINT64_C(1) << 8,  UINT64_C(1) << 9,  UINT64_C(1) << 10, UINT64_C(1) << 11,
        UINT64_C(1) << 12, UINT64_C(1) << 13, UINT64_C(1) << 14, UINT64_C(1) << 15,
        UINT64_C(1) << 16, UINT64_C(1) << 17, UINT64_C(1) << 18, UINT64_C(1) << 19,
        UINT64_C(1) << 20, UINT64_C(1) << 21, UINT64_C(1) << 22, UINT64_C(1) << 23,
        UINT64_C(1) << 24, UINT64_C(1) << 25, UINT64_C(1) << 26, UINT64_C(1) << 27,
        UINT64_C(1) << 28, UINT64_C(1) << 29, UINT64_C(1) << 30, UINT64_C(1) << 31,
        UINT64_C(1) << 32, UINT64_C(1) << 33, UINT64_C(1) << 34, UINT64_C(1) << 35,
        UINT64_C(1) << 36, UINT64_C(1) << 37, UINT64_C(1) << 38, UINT64_C(1) << 39,
        UINT64_C(1) << 40, UINT64_C(1) << 41, UINT64_C(1) << 42, UINT64_C(1) << 43,
        UINT64_C(1) << 44, UINT64_C(1) << 45, UINT64_C(1) << 46, UINT64_C(1) << 47,
        UINT64_C(1) << 48, UINT64_C(1) << 49, UINT64_C(1) << 50, UINT64_C(1) << 51,
        UINT64_C(1) << 52,
    };
    return km_pgwalk_pow2_table[sh];
}

uint64_t km_pgwalk_align_down(uint64_t x, uint64_t align)
{
    return x - (x % align);
}

km_pgwalk_step km_pgwalk_make_step(int32_t level, uint32_t vshift, uint32_t bits, bool block_ok,
                                   uint32_t page_shift)
{
    km_pgwalk_step st;
    (void)page_shift; /* named in the contract only */
    st.level = level;
    st.va_shift = vshift;
    st.idx_bits = bits;
    st.entries = (uint32_t)km_pgwalk_pow2(bits);
    st.size = km_pgwalk_pow2(vshift);
    st.block_ok = block_ok;
    return st;
}

uint64_t km_pgwalk_mode_key(km_arch arch, uint32_t levels, uint32_t page_shift, uint32_t va_bits,
                            uint32_t oa_bits)
{
    /* + and * rather than | and <<: the same value, as the bytes do not overlap. */
    return (uint64_t)arch + ((uint64_t)levels * 0x100u) + ((uint64_t)page_shift * 0x10000u) +
           ((uint64_t)va_bits * 0x1000000u) + ((uint64_t)oa_bits * 0x100000000u);
}

km_pgwalk_step km_pgwalk_unused_step(uint32_t page_shift, uint64_t page_size)
{
    km_pgwalk_step st;
    st.level = 0;
    st.va_shift = page_shift;
    st.idx_bits = 0u;
    st.entries = 1u;
    st.size = page_size;
    st.block_ok = false;
    return st;
}

/*@ requires arch == KM_ARCH_X86_64 || arch == KM_ARCH_AARCH64;
    assigns \result \from arch;
    ensures \result == &km_pgwalk_ops_x86_64 || \result == &km_pgwalk_ops_aarch64; */
static const km_pgwalk_ops *km_pgwalk_ops_for(km_arch arch)
{
    return (arch == KM_ARCH_AARCH64) ? &km_pgwalk_ops_aarch64 : &km_pgwalk_ops_x86_64;
}

/* Dispatch through the architecture's const ops table.  The `calls` clauses
 * make WP prove that the pointer is one of the listed functions and use
 * their contracts. */
/*@ requires km_pgwalk_cfg_ok(cfg);
    assigns \nothing; */
static bool km_pgwalk_va_ok(const km_pgwalk_cfg *cfg, uint64_t va)
{
    const km_pgwalk_ops *ops = km_pgwalk_ops_for(cfg->arch);
    bool ok;
    /*@ calls km_pgwalk_x86_64_va_ok, km_pgwalk_aarch64_va_ok; */
    ok = ops->va_ok(cfg, va);
    return ok;
}

/*@ requires km_pgwalk_cfg_ok(cfg) && step < cfg->levels && \valid(addr) && \separated(addr, cfg);
    assigns *addr;
    ensures km_pgwalk_decoded(cfg, step, desc, \result, *addr, \old(*addr)); */
static km_desc_kind km_pgwalk_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                     uint64_t *addr)
{
    const km_pgwalk_ops *ops = km_pgwalk_ops_for(cfg->arch);
    km_desc_kind kind;
    /*@ calls km_pgwalk_x86_64_decode, km_pgwalk_aarch64_decode; */
    kind = ops->decode(cfg, step, desc, addr);
    return kind;
}

/* The address va translates to inside a leaf mapping size bytes at base:
 * base is aligned to size, so + is the | of the two parts. */
/*@ requires 4096 <= size <= (1 << 51) && (1 << 52) % size == 0;
    requires base < (1 << 52) && base % size == 0;
    assigns \nothing;
    ensures \result == base + va % size;
    ensures \result < (1 << 52); */
static uint64_t km_pgwalk_leaf_pa(uint64_t base, uint64_t size, uint64_t va)
{
    return base + (va % size);
}

/* Store a translation. */
/*@ requires \valid(res);
    assigns *res;
    ensures res->pa == r.pa && res->page_size == r.page_size && res->level == r.level; */
static void km_result_store(km_pgwalk_result *res, km_pgwalk_result r)
{
    res->pa = r.pa;
    res->page_size = r.page_size;
    res->level = r.level;
}

/* What one walk step found. */
typedef struct km_pgwalk_visit {
    bool read_ok;         /* the entry was inside guest RAM */
    km_desc_kind kind;    /* its decoding (when read_ok) */
    uint64_t addr;        /* next table (TABLE) or leaf base (LEAF) */
    km_pgwalk_entry ent;  /* the entry, for the trace */
} km_pgwalk_visit;

/* Read and decode the entry for va in the table at `table`, step s. */
/*@ requires km_mem_ok(m) && km_pgwalk_cfg_ok(cfg) && s < cfg->levels && table < (1 << 52);
    assigns \nothing;
    ensures \result.ent.entry_pa < (1 << 52) + 0x10000;
    ensures \result.read_ok ==> (\result.kind == KM_DESC_NOT_PRESENT ||
        \result.kind == KM_DESC_BAD || \result.kind == KM_DESC_TABLE || \result.kind == KM_DESC_LEAF);
    ensures \result.read_ok && \result.kind == KM_DESC_TABLE ==> \result.addr < (1 << 52);
    ensures \result.read_ok && \result.kind == KM_DESC_LEAF ==>
        \result.addr < (1 << 52) && \result.addr % cfg->steps[s].size == 0; */
static km_pgwalk_visit km_pgwalk_visit_step(const km_mem *m, const km_pgwalk_cfg *cfg, uint32_t s,
                                            uint64_t table, uint64_t va)
{
    km_pgwalk_visit v = {false, KM_DESC_NOT_PRESENT, 0u, {0, 0u, 0u, 0u}};
    km_pgwalk_step step = cfg->steps[s];
    /* entries is a power of two: the remainder is the index bits. */
    uint64_t idx = (va >> step.va_shift) % step.entries;
    uint64_t desc = 0u;
    v.ent.level = step.level;
    v.ent.index = (uint32_t)idx;
    v.ent.entry_pa = table + (idx * 8u);
    if (km_mem_read_u64(m, v.ent.entry_pa, &desc) == KM_OK) {
        uint64_t addr = 0u;
        v.read_ok = true;
        v.ent.value = desc;
        v.kind = km_pgwalk_decode(cfg, s, desc, &addr);
        v.addr = addr;
    }
    return v;
}

/* Publish a finished walk's record (built in the walk's locals). */
/*@ requires \valid(trace);
    assigns *trace;
    ensures trace->n == rec.n && trace->status == rec.status; */
static void km_trace_publish(km_pgwalk_trace *trace, km_pgwalk_trace rec)
{
    *trace = rec;
    /* Help WP see the stored value through the pointer. */
    /*@ assert trace->n == rec.n && trace->status == rec.status; */
}

/* A walk between two steps.  Kept small and free of arrays (the entries read
 * go straight into the walk's local record): the compiler keeps it in
 * registers, where a copy of the whole record per step cost 8x the walk. */
typedef struct km_walk {
    km_status st;         /* KM_OK while walking */
    bool done;            /* a leaf was found */
    uint32_t s;           /* the next step */
    uint32_t n;           /* entries read (recorded) so far */
    uint64_t table;       /* the table step s reads */
    uint64_t leaf_base;   /* when done: the leaf's output base */
    uint32_t leaf_step;   /* when done: the step that found it */
    int32_t fault_level;  /* on failure: the level that stopped the walk */
    uint64_t fault_addr;  /* on failure: the address involved */
} km_walk;

/*@ predicate km_walk_ok(km_pgwalk_cfg *cfg, km_walk w) =
        w.s <= cfg->levels && w.n <= w.s && w.table < (1 << 52) &&
        (w.st == KM_OK || w.st == KM_ERR_RANGE || w.st == KM_ERR_NOT_PRESENT ||
         w.st == KM_ERR_BAD_DESCRIPTOR || w.st == KM_ERR_TABLE_OUTSIDE_RAM) &&
        (w.done ==> w.st == KM_OK && w.leaf_step < cfg->levels && w.leaf_base < (1 << 52) &&
            w.leaf_base % cfg->steps[w.leaf_step].size == 0); */

/* After step w.s found v: follow a table, stop at a leaf, or fail. */
/*@ requires km_pgwalk_cfg_ok(cfg);
    requires km_walk_ok(cfg, w) && w.st == KM_OK && !w.done && w.s < cfg->levels;
    requires v.read_ok ==> (v.kind == KM_DESC_NOT_PRESENT || v.kind == KM_DESC_BAD ||
                            v.kind == KM_DESC_TABLE || v.kind == KM_DESC_LEAF);
    requires v.read_ok && v.kind == KM_DESC_TABLE ==> v.addr < (1 << 52);
    requires v.read_ok && v.kind == KM_DESC_LEAF ==>
        v.addr < (1 << 52) && v.addr % cfg->steps[w.s].size == 0;
    assigns \nothing;
    ensures km_walk_ok(cfg, \result) && \result.s == w.s + 1; */
static km_walk km_pgwalk_next(const km_pgwalk_cfg *cfg, km_walk w, km_pgwalk_visit v)
{
    km_walk n = w;
    (void)cfg; /* named in the contract only */
    if (!v.read_ok) {
        n.st = KM_ERR_TABLE_OUTSIDE_RAM;
        n.fault_level = v.ent.level;
        n.fault_addr = v.ent.entry_pa;
    } else {
        n.n = w.s + 1u;
        if (v.kind == KM_DESC_TABLE) {
            n.table = v.addr;
        } else if (v.kind == KM_DESC_LEAF) {
            n.leaf_base = v.addr;
            n.leaf_step = w.s;
            n.done = true;
        } else {
            n.st = (v.kind == KM_DESC_NOT_PRESENT) ? KM_ERR_NOT_PRESENT : KM_ERR_BAD_DESCRIPTOR;
            n.fault_level = v.ent.level;
            n.fault_addr = v.ent.entry_pa;
        }
    }
    n.s = w.s + 1u;
    return n;
}

km_status km_pgwalk_walk(const km_mem *m, const km_pgwalk_cfg *cfg, uint64_t va,
                         km_pgwalk_result *res, km_pgwalk_trace *trace)
{
    /* The walk's state and record live in locals, published once at the end:
     * the loop writes no caller memory, so nothing it read (cfg, the region
     * table) needs re-proving after each step. */
    km_walk w = {KM_OK, false, 0u, 0u, 0u, 0u, 0u, -1, 0u};
    /* Filled as the walk goes (entries) and at the end (the rest); not
     * zeroed first: that cost a quarter of a walk. */
    km_pgwalk_trace rec;
    km_pgwalk_result r = {0u, 0u, 0};

    w.table = cfg->root_pa;
    if (!km_pgwalk_va_ok(cfg, va)) {
        w.st = KM_ERR_RANGE;
        w.fault_addr = va;
    }
    /*@ loop invariant km_walk_ok(cfg, w);
        loop assigns w, rec.entries[0 .. KM_PGWALK_MAX_LEVELS - 1];
        loop variant cfg->levels - w.s; */
    while ((w.st == KM_OK) && !w.done && (w.s < cfg->levels)) {
        km_pgwalk_visit v = km_pgwalk_visit_step(m, cfg, w.s, w.table, va);
        /* Step s's entry goes to slot s; only the first n slots count (an
         * entry that could not be read is not recorded). */
        rec.entries[w.s] = v.ent;
        w = km_pgwalk_next(cfg, w, v);
    }
    if ((w.st == KM_OK) && !w.done) {
        /* Every level was a table: the last level must map a page. */
        w.st = KM_ERR_BAD_DESCRIPTOR;
        w.fault_addr = w.table;
    }
    if (w.st == KM_OK) {
        /*@ assert km_pgwalk_step_ok(cfg->steps[w.leaf_step], cfg->page_shift); */
        r.page_size = cfg->steps[w.leaf_step].size;
        r.level = cfg->steps[w.leaf_step].level;
        r.pa = km_pgwalk_leaf_pa(w.leaf_base, r.page_size, va);
    }
    if (trace != NULL) {
        rec.va = va;
        rec.status = w.st;
        rec.n = w.n;
        rec.fault_level = w.fault_level;
        rec.fault_addr = w.fault_addr;
        km_trace_publish(trace, rec);
    }
    /* res last: the facts about it need no frame reasoning over *trace. */
    if (w.st == KM_OK) {
        km_result_store(res, r);
    }
    return w.st;
}

void km_tlb_init(km_tlb *t)
{
    km_tlb_invalidate(t);
    /*@ loop invariant 0 <= i <= KM_TLB_SETS;
        loop assigns i, t->victim[0 .. KM_TLB_SETS - 1];
        loop variant KM_TLB_SETS - i; */
    for (uint32_t i = 0u; i < KM_TLB_SETS; i++) {
        t->victim[i] = 0u;
    }
    t->hits = 0u;
    t->misses = 0u;
}

void km_tlb_invalidate(km_tlb *t)
{
    /*@ loop invariant 0 <= i <= KM_TLB_ENTRIES;
        loop invariant \forall integer k; 0 <= k < i ==> t->e[k].valid == 0;
        loop assigns i, t->e[0 .. KM_TLB_ENTRIES - 1];
        loop variant KM_TLB_ENTRIES - i; */
    for (uint32_t i = 0u; i < KM_TLB_ENTRIES; i++) {
        t->e[i].valid = 0u;
        t->e[i].vpage = 0u;
        t->e[i].root_pa = 0u;
        t->e[i].mode_key = 0u;
        t->e[i].ppage = 0u;
        t->e[i].page_size = 0u;
        t->e[i].level = 0;
    }
}

/* Page numbers of addresses below 2^52 with pages of 4K or more are below
 * 2^40: a cached entry above that was not written by a walk. */
#define KM_TLB_PPAGE_LIMIT (UINT64_C(1) << 40)

/* What a cache entry says about va. */
typedef struct km_tlb_probe {
    bool hit;
    km_pgwalk_result r;  /* the translation, on a hit */
} km_tlb_probe;

/* Does e translate va (page number vpage) for the table root and mode key?
 * The page number is compared first: it differs in nearly every way that
 * does not match, and the other fields are then never loaded. */
/*@ requires \valid_read(e);
    requires page_size == 4096 || page_size == 16384 || page_size == 65536;
    assigns \nothing;
    ensures \result.hit ==> \result.r.page_size >= 4096; */
static km_tlb_probe km_tlb_probe_entry(const km_tlb_entry *e, uint64_t vpage, uint64_t root,
                                       uint64_t key, uint64_t va, uint64_t page_size)
{
    km_tlb_probe p = {false, {0u, 0u, 0}};
    if (e->vpage == vpage) {
        /* One condition, evaluated into a flag: WP then sees two paths, not
         * one per short-circuit operand. */
        p.hit = (e->valid != 0u) && (e->root_pa == root) && (e->mode_key == key) &&
                (e->page_size >= 4096u) && (e->ppage < KM_TLB_PPAGE_LIMIT);
    }
    if (p.hit) {
        /* ppage * page_size == ppage << page_shift, and is below 2^56. */
        p.r.pa = (e->ppage * page_size) | (va & (page_size - 1u));
        p.r.page_size = e->page_size;
        p.r.level = e->level;
    }
    return p;
}

/* The set of a virtual page: a multiplicative (Fibonacci) hash of the page
 * number folded to 32 bits.  The earlier "low byte xor the next two" left
 * 4% of lookups on a 256-page hot set of real kernel addresses missing in
 * sets that held more than four of them; this spreads them (make bench). */
/*@ assigns \nothing;
    ensures 0 <= \result < KM_TLB_SETS; */
static uint32_t km_tlb_set(uint64_t vpage)
{
    /* Arithmetic rather than shifts where WP has to bound the value: the
     * product of two numbers below 2^32 cannot wrap, and / 2^24 is >> 24. */
    uint64_t folded = (vpage ^ (vpage >> 32)) % (UINT64_C(1) << 32);
    uint64_t h = (folded * 2654435761u) / (UINT64_C(1) << 24);
    return (uint32_t)(h % KM_TLB_SETS);
}

/* The way of set `set` that translates va (page number vpage) for the table
 * root and mode key, if any. */
/*@ requires \valid_read(t) && set < KM_TLB_SETS;
    requires page_size == 4096 || page_size == 16384 || page_size == 65536;
    assigns \nothing;
    ensures \result.hit ==> \result.r.page_size >= 4096; */
static km_tlb_probe km_tlb_lookup(const km_tlb *t, uint32_t set, uint64_t vpage, uint64_t root,
                                  uint64_t key, uint64_t va, uint64_t page_size)
{
    km_tlb_probe p = {false, {0u, 0u, 0}};
    uint32_t base = set * KM_TLB_WAYS;
    /*@ loop invariant 0 <= w <= KM_TLB_WAYS;
        loop invariant p.hit ==> p.r.page_size >= 4096;
        loop assigns w, p;
        loop variant KM_TLB_WAYS - w; */
    for (uint32_t w = 0u; (w < KM_TLB_WAYS) && !p.hit; w++) {
        p = km_tlb_probe_entry(&t->e[base + w], vpage, root, key, va, page_size);
    }
    return p;
}

/* Remember a successful walk in the next way of its set (round robin). */
/*@ requires \valid(t) && set < KM_TLB_SETS;
    assigns t->victim[set], t->e[set * KM_TLB_WAYS .. set * KM_TLB_WAYS + KM_TLB_WAYS - 1]; */
static void km_tlb_fill(km_tlb *t, uint32_t set, km_tlb_entry e)
{
    uint32_t way = t->victim[set] % KM_TLB_WAYS;
    t->victim[set] = (way + 1u) % KM_TLB_WAYS;
    t->e[(set * KM_TLB_WAYS) + way] = e;
}

/* va >> shift: the page number (a cache key), or a PA's page frame.  A
 * function of its own so that the cache's proof obligations carry no shift
 * (z3 gives up on any goal with one in its context). */
/*@ requires shift <= 16;
    assigns \nothing; */
static uint64_t km_tlb_page_of(uint64_t va, uint32_t shift)
{
    return va >> shift;
}

/* A cache miss: walk, count it, and remember a successful walk in its set.
 * Out of line: the walk's record and the saved registers are then paid on
 * misses only. */
/*@ requires km_mem_ok(m) && km_pgwalk_cfg_ok(cfg) && \valid(t) && \valid(res) && set < KM_TLB_SETS;
    requires \separated(t, m) && \separated(t, cfg) && \separated(t, res);
    requires \separated(res, m) && \separated(res, cfg);
    assigns t->misses, t->victim[set], t->e[set * KM_TLB_WAYS .. set * KM_TLB_WAYS + KM_TLB_WAYS - 1],
            *res;
    ensures \result == KM_OK || \result == KM_ERR_RANGE || \result == KM_ERR_NOT_PRESENT ||
            \result == KM_ERR_BAD_DESCRIPTOR || \result == KM_ERR_TABLE_OUTSIDE_RAM;
    ensures \result != KM_OK ==> *res == \old(*res);
    ensures \result == KM_OK ==> res->page_size >= 4096; */
static KM_NOINLINE km_status km_tlb_miss(const km_mem *m, const km_pgwalk_cfg *cfg, km_tlb *t,
                                         uint32_t set, uint64_t vpage, uint64_t va,
                                         km_pgwalk_result *res)
{
    km_pgwalk_result out = {0u, 0u, 0};
    /* A local record rather than NULL, at function scope: WP then sees every
     * location the walk writes inside this function's frame (a block-scope
     * local whose address is taken loses track of the allocation table). */
    km_pgwalk_trace tr;
    uint64_t misses = t->misses;
    km_status st = km_pgwalk_walk(m, cfg, va, &out, &tr);
    if (misses < UINT64_MAX) {
        t->misses = misses + 1u;
    }
    if (st == KM_OK) {
        km_tlb_entry e = {vpage, cfg->root_pa, cfg->mode_key, km_tlb_page_of(out.pa, cfg->page_shift),
                          out.page_size, out.level, 1u};
        km_tlb_fill(t, set, e);
        km_result_store(res, out);
    }
    return st;
}

km_status km_pgwalk_translate_cached(const km_mem *m, const km_pgwalk_cfg *cfg, km_tlb *t,
                                     uint64_t va, km_pgwalk_result *res)
{
    km_status st = KM_OK;
    uint64_t vpage = km_tlb_page_of(va, cfg->page_shift);
    uint32_t set = km_tlb_set(vpage);
    km_tlb_probe p = km_tlb_lookup(t, set, vpage, cfg->root_pa, cfg->mode_key, va, cfg->page_size);
    if (p.hit) {
        if (t->hits < UINT64_MAX) {
            t->hits++;
        }
        km_result_store(res, p.r);
    } else {
        st = km_tlb_miss(m, cfg, t, set, vpage, va, res);
    }
    return st;
}
