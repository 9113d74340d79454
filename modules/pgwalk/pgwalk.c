/* ktmon: the generic page walker and the translation cache.
 *
 * The walk is a loop over at most cfg->levels (<= 5) steps: each reads one
 * 8-byte entry through km_mem and asks the architecture's ops to decode it.
 * Proved by WP (verify/wp/pgwalk.wp): every index stays inside its table,
 * entry addresses cannot overflow, the loop terminates, outputs are written
 * only on success. */
#include "ktmon/pgwalk.h"

#include <stddef.h>

#include "pgwalk_arch.h"

/*@ requires arch == KM_ARCH_X86_64 || arch == KM_ARCH_AARCH64;
    assigns \nothing;
    ensures \result == &km_pgwalk_ops_x86_64 || \result == &km_pgwalk_ops_aarch64; */
static const km_pgwalk_ops *km_pgwalk_ops_for(km_arch arch)
{
    return (arch == KM_ARCH_AARCH64) ? &km_pgwalk_ops_aarch64 : &km_pgwalk_ops_x86_64;
}

/*@ requires km_pgwalk_cfg_ok(cfg);
    assigns \nothing; */
static bool km_pgwalk_va_ok(const km_pgwalk_cfg *cfg, uint64_t va)
{
    bool ok;
    if (cfg->arch == KM_ARCH_AARCH64) {
        ok = km_pgwalk_aarch64_va_ok(cfg, va);
    } else {
        ok = km_pgwalk_x86_64_va_ok(cfg, va);
    }
    return ok;
}

/* Dispatch through the architecture's const ops table. */
/*@ requires km_pgwalk_cfg_ok(cfg) && step < cfg->levels && \valid(addr);
    assigns *addr;
    ensures \result == KM_DESC_TABLE ==> *addr < (1 << 52) && *addr % 8 == 0;
    ensures \result == KM_DESC_LEAF ==> *addr < (1 << 52) &&
        *addr % (1 << cfg->steps[step].va_shift) == 0; */
static km_desc_kind km_pgwalk_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                     uint64_t *addr)
{
    const km_pgwalk_ops *ops = km_pgwalk_ops_for(cfg->arch);
    km_desc_kind kind;
    /*@ calls km_pgwalk_x86_64_decode, km_pgwalk_aarch64_decode; */
    kind = ops->decode(cfg, step, desc, addr);
    return kind;
}

/*@ requires trace == \null || \valid(trace);
    assigns *trace;
    ensures trace != \null ==> trace->n == 0 && trace->va == va; */
static void km_trace_start(km_pgwalk_trace *trace, uint64_t va)
{
    if (trace != NULL) {
        trace->va = va;
        trace->n = 0u;
        trace->status = KM_OK;
        trace->fault_level = -1;
        trace->fault_addr = 0u;
    }
}

km_status km_pgwalk_walk(const km_mem *m, const km_pgwalk_cfg *cfg, uint64_t va,
                         km_pgwalk_result *res, km_pgwalk_trace *trace)
{
    km_status st = KM_OK;
    uint64_t table = cfg->root_pa;
    uint64_t leaf_base = 0u;
    uint32_t leaf_step = 0u;
    bool done = false;
    int32_t fault_level = -1;
    uint64_t fault_addr = 0u;
    uint32_t s = 0u;

    km_trace_start(trace, va);
    if (!km_pgwalk_va_ok(cfg, va)) {
        st = KM_ERR_RANGE;
        fault_addr = va;
    }
    /*@ loop invariant 0 <= s <= cfg->levels;
        loop invariant table < (1 << 52);
        loop invariant done ==> st == KM_OK && leaf_step < cfg->levels && leaf_base < (1 << 52) &&
            leaf_base % (1 << cfg->steps[leaf_step].va_shift) == 0;
        loop invariant trace != \null ==> trace->n <= s;
        loop assigns s, st, table, leaf_base, leaf_step, done, fault_level, fault_addr, *trace;
        loop variant cfg->levels - s; */
    while ((st == KM_OK) && !done && (s < cfg->levels)) {
        const km_pgwalk_step *step = &cfg->steps[s];
        uint64_t idx = (va >> step->va_shift) & ((UINT64_C(1) << step->idx_bits) - 1u);
        uint64_t entry_pa = table + (idx * 8u);
        uint64_t desc = 0u;
        if (km_mem_read_u64(m, entry_pa, &desc) != KM_OK) {
            st = KM_ERR_TABLE_OUTSIDE_RAM;
            fault_level = step->level;
            fault_addr = entry_pa;
        } else {
            uint64_t addr = 0u;
            if ((trace != NULL) && (trace->n < KM_PGWALK_MAX_LEVELS)) {
                trace->entries[trace->n].level = step->level;
                trace->entries[trace->n].index = (uint32_t)idx;
                trace->entries[trace->n].entry_pa = entry_pa;
                trace->entries[trace->n].value = desc;
                trace->n++;
            }
            km_desc_kind kind = km_pgwalk_decode(cfg, s, desc, &addr);
            if (kind == KM_DESC_TABLE) {
                table = addr;
            } else if (kind == KM_DESC_LEAF) {
                leaf_base = addr;
                leaf_step = s;
                done = true;
            } else {
                st = (kind == KM_DESC_NOT_PRESENT) ? KM_ERR_NOT_PRESENT : KM_ERR_BAD_DESCRIPTOR;
                fault_level = step->level;
                fault_addr = entry_pa;
            }
        }
        s++;
    }
    if ((st == KM_OK) && !done) {
        /* Every level was a table: the last level must map a page. */
        st = KM_ERR_BAD_DESCRIPTOR;
        fault_addr = table;
    }
    if (st == KM_OK) {
        uint32_t sh = cfg->steps[leaf_step].va_shift;
        uint64_t size = UINT64_C(1) << sh;
        res->pa = leaf_base | (va & (size - 1u));
        res->page_size = size;
        res->level = cfg->steps[leaf_step].level;
    }
    if (trace != NULL) {
        trace->status = st;
        trace->fault_level = fault_level;
        trace->fault_addr = fault_addr;
    }
    return st;
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

/* The set of a virtual page: its low bits folded with the next two bytes, so
 * that pages 2^8 or 2^16 apart (common in the direct map) do not all collide. */
/*@ assigns \nothing;
    ensures 0 <= \result < KM_TLB_SETS; */
static uint32_t km_tlb_set(uint64_t vpage)
{
    return (uint32_t)((vpage ^ (vpage >> 8) ^ (vpage >> 16)) % KM_TLB_SETS);
}

km_status km_pgwalk_translate_cached(const km_mem *m, const km_pgwalk_cfg *cfg, km_tlb *t,
                                     uint64_t va, km_pgwalk_result *res)
{
    km_status st = KM_OK;
    uint32_t shift = cfg->page_shift;
    uint64_t vpage = va >> shift;
    uint32_t set = km_tlb_set(vpage);
    uint32_t base = set * KM_TLB_WAYS;
    uint32_t hit = KM_TLB_WAYS;
    /*@ loop invariant 0 <= w <= KM_TLB_WAYS;
        loop invariant hit == KM_TLB_WAYS || hit < w;
        loop assigns w, hit;
        loop variant KM_TLB_WAYS - w; */
    for (uint32_t w = 0u; (w < KM_TLB_WAYS) && (hit == KM_TLB_WAYS); w++) {
        const km_tlb_entry *c = &t->e[base + w];
        if ((c->valid != 0u) && (c->vpage == vpage) && (c->root_pa == cfg->root_pa) &&
            (c->mode_key == cfg->mode_key) && (c->page_size >= 4096u) && (c->ppage < (UINT64_C(1) << (52u - shift)))) {
            hit = w;
        }
    }
    if (hit < KM_TLB_WAYS) {
        const km_tlb_entry *e = &t->e[base + hit];
        res->pa = (e->ppage << shift) | (va & ((UINT64_C(1) << shift) - 1u));
        res->page_size = e->page_size;
        res->level = e->level;
        if (t->hits < UINT64_MAX) {
            t->hits++;
        }
    } else {
        km_pgwalk_result r;
        st = km_pgwalk_walk(m, cfg, va, &r, NULL);
        if (t->misses < UINT64_MAX) {
            t->misses++;
        }
        if (st == KM_OK) {
            uint32_t way = t->victim[set] % KM_TLB_WAYS;
            km_tlb_entry *e = &t->e[base + way];
            t->victim[set] = (way + 1u) % KM_TLB_WAYS;
            e->vpage = vpage;
            e->root_pa = cfg->root_pa;
            e->mode_key = cfg->mode_key;
            e->ppage = r.pa >> shift;
            e->page_size = r.page_size;
            e->level = r.level;
            e->valid = 1u;
            *res = r;
        }
    }
    return st;
}
