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
#define KM_X86_MAX_PA_BIT 51u

km_status km_pgwalk_cfg_x86_64(uint64_t cr3, bool la57, km_pgwalk_cfg *out)
{
    km_status st = KM_OK;
    uint64_t root = cr3 & KM_X86_CR3_ADDR_MASK;
    if (root == 0u) {
        st = KM_ERR_BAD_REGISTERS;
    } else {
        uint32_t levels = 4u;
        uint32_t va_bits = 48u;
        if (la57) {
            levels = 5u;
            va_bits = 57u;
        }
        out->arch = KM_ARCH_X86_64;
        out->root_pa = root;
        out->levels = levels;
        out->page_shift = 12u;
        out->va_bits = va_bits;
        out->oa_bits = 52u;
        /*@ loop invariant 0 <= s <= KM_PGWALK_MAX_LEVELS;
            loop invariant \forall integer k; 0 <= k < s && k < levels ==>
                out->steps[k].idx_bits == 9 && out->steps[k].va_shift == 12 + 9 * (levels - 1 - k);
            loop assigns s, out->steps[0 .. KM_PGWALK_MAX_LEVELS - 1];
            loop variant KM_PGWALK_MAX_LEVELS - s; */
        for (uint32_t s = 0u; s < KM_PGWALK_MAX_LEVELS; s++) {
            if (s < levels) {
                /* Step s reads the table of level (levels - s); it indexes 9 bits. */
                uint32_t lvl = levels - s;
                out->steps[s].level = (int32_t)lvl;
                out->steps[s].idx_bits = 9u;
                out->steps[s].va_shift = 12u + (9u * (lvl - 1u));
                out->steps[s].block_ok = (lvl == 2u) || (lvl == 3u);
            } else {
                out->steps[s].level = 0;
                out->steps[s].idx_bits = 0u;
                out->steps[s].va_shift = 12u;
                out->steps[s].block_ok = false;
            }
        }
        /* KM_ARCH_X86_64 is 0: the arch byte of the key is zero. */
        out->mode_key = ((uint64_t)levels << 8) | (UINT64_C(12) << 16) |
                        ((uint64_t)out->va_bits << 24) | (UINT64_C(52) << 32);
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
    } else if (last) {
        *addr = desc & km_bits(KM_X86_MAX_PA_BIT, cfg->page_shift);
        kind = KM_DESC_LEAF;
    } else if ((desc & KM_X86_PS) != 0u) {
        if (st->block_ok) {
            *addr = desc & km_bits(KM_X86_MAX_PA_BIT, st->va_shift);
            kind = KM_DESC_LEAF;
        } else {
            kind = KM_DESC_BAD; /* PS is reserved in PML5 and PML4 entries */
        }
    } else {
        *addr = desc & km_bits(KM_X86_MAX_PA_BIT, 12u);
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
