/* ktmon: x86_64 page tables (4-level, and 5-level with CR4.LA57).
 *
 * Entry format (Intel SDM vol. 3, "4-Level Paging and 5-Level Paging"):
 * bit 0 present, bit 7 PS (page size) in PDPT (1 GiB) and PD (2 MiB)
 * entries; PS is reserved in PML5/PML4 entries.  Addresses are bits 51:12
 * for tables and 51:log2(page size) for leaves (bit 12 of a large-page
 * entry is PAT, not address). */
#include "pgwalk_arch.h"

#define KM_X86_PRESENT UINT64_C(1)
#define KM_X86_PS (UINT64_C(1) << 7)
#define KM_X86_PAGE_SIZE UINT64_C(4096)
#define KM_X86_INDEX_BITS 9u

/* Bits 51:12 of a register or descriptor: the address of a 4K-aligned table. */
/*@ assigns \nothing;
    ensures \result < (1 << 52) && \result % 4096 == 0; */
static uint64_t km_x86_table_addr(uint64_t v)
{
    uint64_t oa = v % KM_PGWALK_PA_LIMIT;
    return oa - (oa % KM_X86_PAGE_SIZE);
}

km_status km_pgwalk_cfg_x86_64(uint64_t cr3, bool la57, km_pgwalk_cfg *out)
{
    km_status st = KM_OK;
    uint64_t root = km_x86_table_addr(cr3); /* CR3 bits 51:12; PCID and flags below */
    if (root == 0u) {
        st = KM_ERR_BAD_REGISTERS;
    } else {
        /* Built in a local and stored whole: *out is written only on success. */
        km_pgwalk_cfg c;
        uint32_t levels = 4u;
        uint32_t va_bits = 48u;
        if (la57) {
            levels = 5u;
            va_bits = 57u;
        }
        /*@ loop invariant 0 <= s <= KM_PGWALK_MAX_LEVELS;
            loop invariant \forall integer k; 0 <= k < s && k < levels ==>
                km_pgwalk_step_ok(c.steps[k], 12);
            loop assigns s, c.steps[0 .. KM_PGWALK_MAX_LEVELS - 1];
            loop variant KM_PGWALK_MAX_LEVELS - s; */
        for (uint32_t s = 0u; s < KM_PGWALK_MAX_LEVELS; s++) {
            if (s < levels) {
                /* Step s reads the table of level (levels - s); it indexes 9 bits. */
                uint32_t lvl = levels - s;
                uint32_t vshift = 12u + (KM_X86_INDEX_BITS * (lvl - 1u));
                c.steps[s] = km_pgwalk_make_step((int32_t)lvl, vshift, KM_X86_INDEX_BITS,
                                                 (lvl == 2u) || (lvl == 3u), 12u);
            } else {
                c.steps[s] = km_pgwalk_unused_step(12u, KM_X86_PAGE_SIZE);
            }
        }
        c.arch = KM_ARCH_X86_64;
        c.root_pa = root;
        c.levels = levels;
        c.page_shift = 12u;
        c.page_size = KM_X86_PAGE_SIZE;
        c.va_bits = va_bits;
        c.oa_bits = 52u;
        c.mode_key = km_pgwalk_mode_key(KM_ARCH_X86_64, levels, 12u, va_bits, 52u);
        *out = c;
        /* Help WP see the stored value through the pointer. */
        /*@ assert \forall integer k; 0 <= k < KM_PGWALK_MAX_LEVELS ==> out->steps[k] == c.steps[k]; */
    }
    return st;
}

bool km_pgwalk_x86_64_va_ok(const km_pgwalk_cfg *cfg, uint64_t va)
{
    /* Canonical: bits 63 .. va_bits-1 all equal (sign extension). */
    uint32_t keep = cfg->va_bits - 1u;
    uint64_t top = va >> keep;
    uint64_t ones = UINT64_MAX >> keep;
    return (top == 0u) || (top == ones);
}

km_desc_kind km_pgwalk_x86_64_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                     uint64_t *addr)
{
    km_desc_kind kind;
    const km_pgwalk_step *st = &cfg->steps[step];
    bool last = (step + 1u) == cfg->levels;
    if ((desc & KM_X86_PRESENT) == 0u) {
        kind = KM_DESC_NOT_PRESENT;
    } else if (last || ((desc & KM_X86_PS) != 0u)) {
        /* A PT entry maps 4K; PS in a PD/PDPT entry maps 2M/1G.  The output
         * base is bits 51:log2(size), which leaves out the large-page PAT bit. */
        if (last || st->block_ok) {
            *addr = km_pgwalk_align_down(desc % KM_PGWALK_PA_LIMIT, st->size);
            kind = KM_DESC_LEAF;
        } else {
            kind = KM_DESC_BAD; /* PS is reserved in PML5 and PML4 entries */
        }
    } else {
        /* Bits 51:12 (cfg->page_size is 4K for every x86 configuration). */
        *addr = km_pgwalk_align_down(desc % KM_PGWALK_PA_LIMIT, cfg->page_size);
        kind = KM_DESC_TABLE;
    }
    return kind;
}

const km_pgwalk_ops km_pgwalk_ops_x86_64 = {
    .arch = KM_ARCH_X86_64,
    .name = "x86_64",
    .va_ok = km_pgwalk_x86_64_va_ok,
    .decode = km_pgwalk_x86_64_decode,
};
