/* ktmon: aarch64 stage-1 translation of TTBR1 (kernel) addresses.
 *
 * From the Arm ARM (VMSAv8-64): TCR_EL1.T1SZ (bits 21:16) gives the VA
 * width 64 - T1SZ; TG1 (bits 31:30) the granule: 0b10 4K (9 index bits per
 * level), 0b01 16K (11), 0b11 64K (13), 0b00 reserved; IPS (34:32) the
 * output address size; EPD1 (bit 23) disables TTBR1 walks; DS (bit 59)
 * selects the 52-bit LPA2 descriptor format, which this walker does not
 * implement.  Descriptors: bit 0 valid; bit 1 table (levels 0-2) or page
 * (level 3; 0 there is reserved); blocks are legal at levels 1-2 with 4K and
 * level 2 with 16K/64K.  With 64K pages and a 52-bit output size, OA[51:48]
 * sits in descriptor bits 15:12 and TTBR bits 5:2.  A table or output address
 * wider than IPS is an Address size fault (KM_ERR_BAD_DESCRIPTOR). */
#include "pgwalk_arch.h"

#define KM_A64_VALID UINT64_C(1)
#define KM_A64_TABLE_OR_PAGE (UINT64_C(2))
#define KM_A64_TG1_16K 1u
#define KM_A64_TG1_64K 3u
#define KM_A64_MIN_VA_BITS 25u
#define KM_A64_MAX_VA_BITS_4K16K 48u
#define KM_A64_MAX_VA_BITS_64K 52u

/* Output address size from TCR_EL1.IPS. */
/*@ assigns \nothing;
    ensures 32 <= \result <= 52; */
static uint32_t km_a64_ips_bits(uint64_t tcr)
{
    uint32_t bits;
    switch ((uint32_t)((tcr >> KM_A64_TCR_IPS_SHIFT) & 7u)) {
    case 0u:
        bits = 32u;
        break;
    case 1u:
        bits = 36u;
        break;
    case 2u:
        bits = 40u;
        break;
    case 3u:
        bits = 42u;
        break;
    case 4u:
        bits = 44u;
        break;
    case 5u:
        bits = 48u;
        break;
    default:
        bits = 52u; /* 0b110 is 52 bits; 0b111 is reserved: treat as the maximum */
        break;
    }
    return bits;
}

/* Output address of a descriptor (or TTBR), low bits from `lo` up. */
/*@ requires 12 <= lo < 48 && 12 <= page_shift <= 16;
    assigns \nothing;
    ensures \result < (1 << 52);
    ensures \result % (1 << lo) == 0; */
static uint64_t km_a64_oa(uint64_t desc, uint32_t lo, uint32_t page_shift, uint32_t oa_bits)
{
    uint64_t oa = desc & km_bits(47u, lo);
    if ((page_shift == 16u) && (oa_bits == 52u)) {
        oa |= ((desc >> 12) & 0xFu) << 48;
    }
    return oa;
}

km_status km_pgwalk_cfg_aarch64(uint64_t ttbr1, uint64_t tcr, km_pgwalk_cfg *out)
{
    km_status st = KM_OK;
    uint32_t t1sz = (uint32_t)((tcr >> KM_A64_TCR_T1SZ_SHIFT) & 0x3Fu);
    uint32_t tg1 = (uint32_t)((tcr >> KM_A64_TCR_TG1_SHIFT) & 3u);
    uint32_t shift = 12u;
    uint32_t max_va = KM_A64_MAX_VA_BITS_4K16K;

    if (tg1 == KM_A64_TG1_16K) {
        shift = 14u;
    } else if (tg1 == KM_A64_TG1_64K) {
        shift = 16u;
        max_va = KM_A64_MAX_VA_BITS_64K;
    } else {
        /* 4K, or the reserved 0b00 refused below */
    }
    uint32_t va_bits = 64u - t1sz;
    if ((tcr & KM_A64_TCR_DS) != 0u) {
        st = KM_ERR_UNSUPPORTED;
    } else if ((tcr == 0u) || (tg1 == 0u) || (t1sz == 0u) || ((tcr & KM_A64_TCR_EPD1) != 0u) ||
               (va_bits < KM_A64_MIN_VA_BITS) || (va_bits > max_va)) {
        st = KM_ERR_BAD_REGISTERS;
    } else {
        uint32_t stride = shift - 3u;
        /* Levels needed to cover va_bits - shift index bits, stride bits each. */
        uint32_t levels = ((va_bits - shift) + stride - 1u) / stride;
        uint32_t oa_bits = km_a64_ips_bits(tcr);
        if ((shift != 16u) && (oa_bits > 48u)) {
            oa_bits = 48u; /* 52-bit OA with 4K/16K needs LPA2 (DS), refused above */
        }
        /* BADDR is TTBR bits 47:1; a top table is at least 64-byte aligned, and
         * bit 0 is CnP.  For 64K/52-bit, BADDR[51:48] lives in bits 5:2. */
        uint64_t root = ttbr1 & km_bits(47u, 6u);
        if ((shift == 16u) && (oa_bits == 52u)) {
            root |= ((ttbr1 >> 2) & 0xFu) << 48;
        }
        if ((levels < 1u) || (levels > 4u) || (root == 0u)) {
            st = KM_ERR_BAD_REGISTERS;
        } else {
            uint32_t first = 4u - levels;
            out->arch = KM_ARCH_AARCH64;
            out->root_pa = root;
            out->levels = levels;
            out->page_shift = shift;
            out->va_bits = va_bits;
            out->oa_bits = oa_bits;
            /*@ loop invariant 0 <= s <= KM_PGWALK_MAX_LEVELS;
                loop invariant \forall integer k; 0 <= k < s && k < levels ==>
                    out->steps[k].va_shift == shift + stride * (3 - (first + k)) &&
                    out->steps[k].idx_bits <= 13 &&
                    out->steps[k].va_shift + out->steps[k].idx_bits <= 64;
                loop invariant \forall integer k; levels <= k < s ==>
                    out->steps[k].va_shift == shift && out->steps[k].idx_bits == 0;
                loop assigns s, out->steps[0 .. KM_PGWALK_MAX_LEVELS - 1];
                loop variant KM_PGWALK_MAX_LEVELS - s; */
            for (uint32_t s = 0u; s < KM_PGWALK_MAX_LEVELS; s++) {
                if (s < levels) {
                    uint32_t lvl = first + s;
                    uint32_t vshift = shift + (stride * (3u - lvl));
                    /* The top table indexes only the VA bits left over. */
                    uint32_t bits = stride;
                    if (s == 0u) {
                        bits = va_bits - vshift;
                    }
                    out->steps[s].level = (int32_t)lvl;
                    out->steps[s].va_shift = vshift;
                    out->steps[s].idx_bits = bits;
                    out->steps[s].block_ok =
                        (lvl == 2u) || ((lvl == 1u) && (shift == 12u));
                } else {
                    out->steps[s].level = 0;
                    out->steps[s].va_shift = shift;
                    out->steps[s].idx_bits = 0u;
                    out->steps[s].block_ok = false;
                }
            }
            out->mode_key = (uint64_t)KM_ARCH_AARCH64 | ((uint64_t)levels << 8) |
                            ((uint64_t)shift << 16) | ((uint64_t)va_bits << 24) |
                            ((uint64_t)oa_bits << 32);
        }
    }
    return st;
}

bool km_pgwalk_aarch64_va_ok(const km_pgwalk_cfg *cfg, uint64_t va)
{
    /* A TTBR1 address has every bit above va_bits-1 set. */
    return (va >> cfg->va_bits) == (UINT64_MAX >> cfg->va_bits);
}

km_desc_kind km_pgwalk_aarch64_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                      uint64_t *addr)
{
    km_desc_kind kind;
    const km_pgwalk_step *st = &cfg->steps[step];
    bool last = (step + 1u) == cfg->levels;
    bool tp = (desc & KM_A64_TABLE_OR_PAGE) != 0u;
    if ((desc & KM_A64_VALID) == 0u) {
        kind = KM_DESC_NOT_PRESENT;
    } else if (last) {
        if (tp) {
            *addr = km_a64_oa(desc, cfg->page_shift, cfg->page_shift, cfg->oa_bits);
            kind = KM_DESC_LEAF;
        } else {
            kind = KM_DESC_BAD; /* level 3 with bit 1 clear is reserved */
        }
    } else if (tp) {
        *addr = km_a64_oa(desc, cfg->page_shift, cfg->page_shift, cfg->oa_bits);
        kind = KM_DESC_TABLE;
    } else if (st->block_ok) {
        *addr = km_a64_oa(desc, st->va_shift, cfg->page_shift, cfg->oa_bits);
        kind = KM_DESC_LEAF;
    } else {
        kind = KM_DESC_BAD; /* block descriptor at a level that has none */
    }
    /* An output address beyond the IPS size is an Address size fault: the
     * walk stops there instead of following (or reporting) it. */
    if (((kind == KM_DESC_TABLE) || (kind == KM_DESC_LEAF)) && ((*addr >> cfg->oa_bits) != 0u)) {
        kind = KM_DESC_BAD;
    }
    return kind;
}

const km_pgwalk_ops km_pgwalk_ops_aarch64 = {
    .arch = KM_ARCH_AARCH64,
    .name = "aarch64",
    .va_ok = km_pgwalk_aarch64_va_ok,
    .decode = km_pgwalk_aarch64_decode,
};
