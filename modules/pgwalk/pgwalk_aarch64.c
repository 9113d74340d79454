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
 * wider than IPS is an Address size fault (KM_ERR_BAD_DESCRIPTOR); a TTBR1
 * table beyond it is refused when the configuration is built. */
#include "pgwalk_arch.h"

#define KM_A64_VALID UINT64_C(1)
#define KM_A64_TABLE_OR_PAGE (UINT64_C(2))
#define KM_A64_TG1_RESERVED 0u
#define KM_A64_TG1_16K 1u
#define KM_A64_TG1_4K 2u
#define KM_A64_TG1_64K 3u
#define KM_A64_MIN_VA_BITS 25u
#define KM_A64_MAX_VA_BITS_4K16K 48u
#define KM_A64_MAX_VA_BITS_64K 52u
#define KM_A64_LEVELS_MAX 4u
/* Bits 47:0 of a descriptor or TTBR hold OA[47:0]. */
#define KM_A64_OA48_LIMIT (UINT64_C(1) << 48)
/* TTBR BADDR: a top table is at least 64-byte aligned (bit 0 is CnP). */
#define KM_A64_TTBR_ALIGN UINT64_C(64)

/* Output address size from TCR_EL1.IPS. */
/*@ assigns \nothing;
    ensures 32 <= \result <= 52; */
static uint32_t km_a64_ips_bits(uint64_t tcr)
{
    uint32_t bits;
    switch ((uint32_t)((tcr >> KM_A64_TCR_IPS_SHIFT) % 8u)) {
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

/* OA[51:48] from bits hi+3:hi of v (descriptor bits 15:12, TTBR bits 5:2),
 * placed at bit 48; zero unless the granule is 64K and the OA size 52 bits. */
/*@ assigns \nothing;
    ensures \result % (1 << 48) == 0 && \result <= 15 * (1 << 48); */
static uint64_t km_a64_oa_hi(uint64_t v, uint32_t hi, uint32_t page_shift, uint32_t oa_bits)
{
    uint64_t part = 0u;
    if ((page_shift == 16u) && (oa_bits == 52u) && (hi < 64u)) {
        part = ((v >> hi) % 16u) * KM_A64_OA48_LIMIT;
    }
    return part;
}

/* Output address of a descriptor, aligned down to align (a power of two
 * >= 4K): bits 47:log2(align), plus OA[51:48] from bits 15:12 with 64K/52. */
/*@ requires km_pgwalk_cfg_ok(cfg) && 1 <= align;
    assigns \nothing;
    ensures \result < (1 << 52);
    ensures \result % align == 0; */
static uint64_t km_a64_desc_oa(const km_pgwalk_cfg *cfg, uint64_t desc, uint64_t align)
{
    uint64_t oa = (desc % KM_A64_OA48_LIMIT) + km_a64_oa_hi(desc, 12u, cfg->page_shift, cfg->oa_bits);
    return km_pgwalk_align_down(oa, align);
}

/* What TCR_EL1 says about TTBR1 walks (the other fields are meaningful
 * when status is KM_OK). */
typedef struct km_a64_shape {
    km_status status;
    uint32_t shift;     /* granule: 12 (4K), 14 (16K), 16 (64K) */
    uint32_t stride;    /* index bits of a full table: shift - 3 */
    uint64_t page;      /* 1 << shift */
    uint32_t va_bits;   /* 64 - T1SZ */
    uint32_t oa_bits;   /* from IPS */
    uint32_t levels;    /* tables walked: 1 .. 4 */
    uint32_t top_shift; /* va_shift of the top table */
} km_a64_shape;

/*@ predicate km_a64_shape_ok(km_a64_shape s) =
        ((s.shift == 12 && s.stride == 9 && s.page == 4096) ||
         (s.shift == 14 && s.stride == 11 && s.page == 16384) ||
         (s.shift == 16 && s.stride == 13 && s.page == 65536)) &&
        25 <= s.va_bits <= 52 && s.oa_bits <= 52 &&
        1 <= s.levels <= KM_A64_LEVELS_MAX &&
        s.top_shift == s.shift + s.stride * (s.levels - 1) &&
        s.top_shift < s.va_bits <= s.top_shift + s.stride; */

/* The granule TCR_EL1.TG1 selects (shift 0: the reserved encoding). */
typedef struct km_a64_granule {
    uint32_t shift;   /* log2 of the page size */
    uint32_t stride;  /* index bits of a full table */
    uint64_t page;    /* page size */
    uint32_t max_va;  /* widest TTBR1 VA without LPA2 */
} km_a64_granule;

/*@ requires tg1 < 4;
    assigns \nothing;
    ensures \result.shift == 0 ||
        (\result.shift == 12 && \result.stride == 9 && \result.page == 4096 && \result.max_va == 48) ||
        (\result.shift == 14 && \result.stride == 11 && \result.page == 16384 && \result.max_va == 48) ||
        (\result.shift == 16 && \result.stride == 13 && \result.page == 65536 && \result.max_va == 52); */
static km_a64_granule km_a64_granule_of(uint32_t tg1)
{
    /* Indexed by TG1; 0b00 is reserved. */
    static const km_a64_granule km_a64_granules[4] = {
        [KM_A64_TG1_RESERVED] = {0u, 0u, 0u, 0u},
        [KM_A64_TG1_16K] = {14u, 11u, UINT64_C(16384), KM_A64_MAX_VA_BITS_4K16K},
        [KM_A64_TG1_4K] = {12u, 9u, UINT64_C(4096), KM_A64_MAX_VA_BITS_4K16K},
        [KM_A64_TG1_64K] = {16u, 13u, UINT64_C(65536), KM_A64_MAX_VA_BITS_64K},
    };
    return km_a64_granules[tg1];
}

/* Tables needed to translate va_bits bits: climb from level 3 while the VA
 * is wider than what the levels so far index.  0 when four do not suffice. */
/*@ requires 12 <= shift <= 16 && 9 <= stride <= 13 && shift < va_bits <= 64;
    assigns \nothing;
    ensures \result <= KM_A64_LEVELS_MAX;
    ensures \result >= 1 ==>
        shift + stride * (\result - 1) < va_bits <= shift + stride * \result; */
static uint32_t km_a64_levels(uint32_t va_bits, uint32_t shift, uint32_t stride)
{
    uint32_t levels = 1u;
    uint32_t top_shift = shift; /* va_shift of the top table so far */
    /*@ loop invariant 1 <= levels <= KM_A64_LEVELS_MAX;
        loop invariant top_shift == shift + stride * (levels - 1);
        loop invariant top_shift < va_bits;
        loop assigns levels, top_shift;
        loop variant KM_A64_LEVELS_MAX - levels; */
    while ((levels < KM_A64_LEVELS_MAX) && (va_bits > (top_shift + stride))) {
        levels++;
        top_shift += stride;
    }
    if (va_bits > (top_shift + stride)) {
        levels = 0u;
    }
    return levels;
}

/* Decode TCR_EL1 (everything but the table address). */
/*@ assigns \nothing;
    ensures \result.status == KM_OK || \result.status == KM_ERR_BAD_REGISTERS ||
            \result.status == KM_ERR_UNSUPPORTED;
    ensures \result.status == KM_OK ==> km_a64_shape_ok(\result); */
static km_a64_shape km_a64_shape_of(uint64_t tcr)
{
    km_a64_shape sh = {KM_OK, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
    uint32_t t1sz = (uint32_t)((tcr >> KM_A64_TCR_T1SZ_SHIFT) % 64u);
    km_a64_granule g = km_a64_granule_of((uint32_t)((tcr >> KM_A64_TCR_TG1_SHIFT) % 4u));
    uint32_t va_bits = 64u - t1sz;
    uint32_t levels = 0u;
    /* Conditions evaluated into flags: WP then sees one path per outcome. */
    bool lpa2 = (tcr & KM_A64_TCR_DS) != 0u;
    bool bad = (tcr == 0u) || (g.shift == 0u) || (t1sz == 0u) || ((tcr & KM_A64_TCR_EPD1) != 0u) ||
               (va_bits < KM_A64_MIN_VA_BITS) || (va_bits > g.max_va);
    if (!lpa2 && !bad) {
        levels = km_a64_levels(va_bits, g.shift, g.stride);
    }
    if (lpa2) {
        sh.status = KM_ERR_UNSUPPORTED;
    } else if (bad || (levels == 0u)) {
        sh.status = KM_ERR_BAD_REGISTERS;
    } else {
        uint32_t oa_bits = km_a64_ips_bits(tcr);
        if ((g.shift != 16u) && (oa_bits > 48u)) {
            oa_bits = 48u; /* 52-bit OA with 4K/16K needs LPA2 (DS), refused above */
        }
        sh.shift = g.shift;
        sh.stride = g.stride;
        sh.page = g.page;
        sh.va_bits = va_bits;
        sh.oa_bits = oa_bits;
        sh.levels = levels;
        sh.top_shift = g.shift + (g.stride * (levels - 1u));
    }
    return sh;
}

km_status km_pgwalk_cfg_aarch64(uint64_t ttbr1, uint64_t tcr, km_pgwalk_cfg *out)
{
    km_a64_shape sh = km_a64_shape_of(tcr);
    km_status st = sh.status;
    if (st == KM_OK) {
        /* BADDR is TTBR bits 47:6 (a top table is at least 64-byte aligned,
         * bit 0 is CnP); for 64K/52-bit, BADDR[51:48] lives in bits 5:2. */
        uint64_t root = ((ttbr1 % KM_A64_OA48_LIMIT) - (ttbr1 % KM_A64_TTBR_ALIGN)) +
                        km_a64_oa_hi(ttbr1, 2u, sh.shift, sh.oa_bits);
        if ((root == 0u) || (root >= km_pgwalk_pow2(sh.oa_bits))) {
            /* No table, or one beyond the output address size (IPS). */
            st = KM_ERR_BAD_REGISTERS;
        } else {
            /* Built in a local and stored whole: *out is written only on success. */
            km_pgwalk_cfg c;
            uint32_t first = KM_A64_LEVELS_MAX - sh.levels;
            uint32_t vshift = sh.top_shift;
            /*@ loop invariant 0 <= s <= KM_PGWALK_MAX_LEVELS;
                loop invariant s < sh.levels ==> vshift == sh.shift + sh.stride * (sh.levels - 1 - s);
                loop invariant \forall integer k; 0 <= k < s && k < sh.levels ==>
                    km_pgwalk_step_ok(c.steps[k], sh.shift);
                loop assigns s, vshift, c.steps[0 .. KM_PGWALK_MAX_LEVELS - 1];
                loop variant KM_PGWALK_MAX_LEVELS - s; */
            for (uint32_t s = 0u; s < KM_PGWALK_MAX_LEVELS; s++) {
                if (s < sh.levels) {
                    /* Step s reads the table of level first + s; the top table
                     * indexes only the VA bits left over. */
                    uint32_t lvl = first + s;
                    uint32_t bits = (s == 0u) ? (sh.va_bits - vshift) : sh.stride;
                    c.steps[s] = km_pgwalk_make_step((int32_t)lvl, vshift, bits,
                                                     (lvl == 2u) || ((lvl == 1u) && (sh.shift == 12u)),
                                                     sh.shift);
                    if ((s + 1u) < sh.levels) {
                        vshift -= sh.stride;
                    }
                } else {
                    c.steps[s] = km_pgwalk_unused_step(sh.shift, sh.page);
                }
            }
            c.arch = KM_ARCH_AARCH64;
            c.root_pa = root;
            c.levels = sh.levels;
            c.page_shift = sh.shift;
            c.page_size = sh.page;
            c.va_bits = sh.va_bits;
            c.oa_bits = sh.oa_bits;
            c.mode_key = km_pgwalk_mode_key(KM_ARCH_AARCH64, sh.levels, sh.shift, sh.va_bits,
                                            sh.oa_bits);
            *out = c;
            /* Help WP see the stored value through the pointer. */
            /*@ assert \forall integer k; 0 <= k < KM_PGWALK_MAX_LEVELS ==> out->steps[k] == c.steps[k]; */
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
    uint64_t oa = 0u;
    const km_pgwalk_step *st = &cfg->steps[step];
    bool last = (step + 1u) == cfg->levels;
    bool tp = (desc & KM_A64_TABLE_OR_PAGE) != 0u;
    if ((desc & KM_A64_VALID) == 0u) {
        kind = KM_DESC_NOT_PRESENT;
    } else if (last) {
        if (tp) {
            oa = km_a64_desc_oa(cfg, desc, st->size); /* page: size is the granule */
            kind = KM_DESC_LEAF;
        } else {
            kind = KM_DESC_BAD; /* level 3 with bit 1 clear is reserved */
        }
    } else if (tp) {
        oa = km_a64_desc_oa(cfg, desc, cfg->page_size);
        kind = KM_DESC_TABLE;
    } else if (st->block_ok) {
        oa = km_a64_desc_oa(cfg, desc, st->size);
        kind = KM_DESC_LEAF;
    } else {
        kind = KM_DESC_BAD; /* block descriptor at a level that has none */
    }
    if ((kind == KM_DESC_TABLE) || (kind == KM_DESC_LEAF)) {
        /* An output address beyond the IPS size is an Address size fault: the
         * walk stops there instead of following (or reporting) it. */
        if (oa >= km_pgwalk_pow2(cfg->oa_bits)) {
            kind = KM_DESC_BAD;
        } else {
            *addr = oa;
        }
    }
    return kind;
}

const km_pgwalk_ops km_pgwalk_ops_aarch64 = {
    .arch = KM_ARCH_AARCH64,
    .name = "aarch64",
    .va_ok = km_pgwalk_aarch64_va_ok,
    .decode = km_pgwalk_aarch64_decode,
};
