/* ktmon: the per-architecture part of the page walker (private to modules/pgwalk).
 *
 * Each architecture supplies one const km_pgwalk_ops: how to check that a VA
 * belongs to the configured space, and how to decode one descriptor. */
#ifndef KTMON_PGWALK_ARCH_H
#define KTMON_PGWALK_ARCH_H

#include "ktmon/pgwalk.h"

typedef enum km_desc_kind {
    KM_DESC_NOT_PRESENT = 0,  /* valid/present bit clear */
    KM_DESC_BAD,              /* present but not legal at this level */
    KM_DESC_TABLE,            /* points to the next-level table */
    KM_DESC_LEAF              /* maps a page or block */
} km_desc_kind;

/* Mask of physical-address bits [hi:lo] (hi < 64, lo <= hi). */
/*@ requires lo <= hi < 64;
    assigns \nothing; */
static inline uint64_t km_bits(uint32_t hi, uint32_t lo)
{
    uint64_t upto_hi = (hi >= 63u) ? UINT64_MAX : ((UINT64_C(1) << (hi + 1u)) - 1u);
    uint64_t below_lo = (UINT64_C(1) << lo) - 1u;
    return upto_hi & ~below_lo;
}

typedef struct km_pgwalk_ops {
    km_arch arch;
    const char *name;
    /* Does va lie in the VA space this configuration translates? */
    bool (*va_ok)(const km_pgwalk_cfg *cfg, uint64_t va);
    /* Decode desc read at walk step `step`: *addr receives the next table's
     * PA (TABLE) or the leaf's output base, aligned to the leaf size (LEAF). */
    km_desc_kind (*decode)(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc, uint64_t *addr);
} km_pgwalk_ops;

/*@ requires km_pgwalk_cfg_ok(cfg);
    assigns \nothing; */
bool km_pgwalk_x86_64_va_ok(const km_pgwalk_cfg *cfg, uint64_t va);

/*@ requires km_pgwalk_cfg_ok(cfg) && step < cfg->levels && \valid(addr);
    assigns *addr;
    ensures \result == KM_DESC_TABLE ==> *addr < (1 << 52) && *addr % 8 == 0;
    ensures \result == KM_DESC_LEAF ==> *addr < (1 << 52) &&
        *addr % (1 << cfg->steps[step].va_shift) == 0; */
km_desc_kind km_pgwalk_x86_64_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                     uint64_t *addr);

/*@ requires km_pgwalk_cfg_ok(cfg);
    assigns \nothing; */
bool km_pgwalk_aarch64_va_ok(const km_pgwalk_cfg *cfg, uint64_t va);

/*@ requires km_pgwalk_cfg_ok(cfg) && step < cfg->levels && \valid(addr);
    assigns *addr;
    ensures \result == KM_DESC_TABLE ==> *addr < (1 << 52) && *addr % 8 == 0;
    ensures \result == KM_DESC_LEAF ==> *addr < (1 << 52) &&
        *addr % (1 << cfg->steps[step].va_shift) == 0; */
km_desc_kind km_pgwalk_aarch64_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                      uint64_t *addr);

extern const km_pgwalk_ops km_pgwalk_ops_x86_64;
extern const km_pgwalk_ops km_pgwalk_ops_aarch64;

#endif /* KTMON_PGWALK_ARCH_H */
