/* ktmon: the per-architecture part of the page walker (private to modules/pgwalk).
 *
 * Each architecture supplies one const km_pgwalk_ops: how to check that a VA
 * belongs to the configured space, and how to decode one descriptor.
 *
 * Address fields are extracted with remainders (x % 2^52, x - x % size)
 * rather than with masks built by variable shifts: WP proves bounds and
 * alignment for a remainder, and cannot relate a mask to one (z3 and cvc4
 * fail even on x & 4095 == x % 4096).  A remainder by a constant compiles to
 * the AND; one by a size from the configuration is a division, which costs
 * a few ns a walk (make bench) and buys a walker with no trusted arithmetic
 * (verify/wp/pgwalk.wp, docs/proof-status.md). */
#ifndef KTMON_PGWALK_ARCH_H
#define KTMON_PGWALK_ARCH_H

#include "ktmon/pgwalk.h"

typedef enum km_desc_kind {
    KM_DESC_NOT_PRESENT = 0,  /* valid/present bit clear */
    KM_DESC_BAD,              /* present but not legal at this level */
    KM_DESC_TABLE,            /* points to the next-level table */
    KM_DESC_LEAF              /* maps a page or block */
} km_desc_kind;

/* Largest exponent km_pgwalk_pow2 accepts. */
#define KM_PGWALK_POW2_MAX 52u

/* 1 << sh, from a table of constants (sh <= 52). */
/*@ requires sh <= KM_PGWALK_POW2_MAX;
    assigns \nothing;
    ensures 1 <= \result <= (1 << 52);
    ensures km_pgwalk_is_pow2(\result);
    ensures (1 << 52) % \result == 0;
    ensures sh >= 12 ==> \result >= 4096;
    ensures sh <= 13 ==> \result <= 8192;
    ensures sh <= 51 ==> \result <= (1 << 51); */
uint64_t km_pgwalk_pow2(uint32_t sh);

/* x rounded down to a multiple of align: for a power of two, x & ~(align - 1). */
/*@ requires 1 <= align;
    assigns \nothing;
    ensures \result <= x && \result % align == 0; */
uint64_t km_pgwalk_align_down(uint64_t x, uint64_t align);

/* One walk step: the table of architectural level `level` indexes `bits`
 * VA bits from bit `vshift` up.  Returned by value so that filling
 * cfg->steps[] is a plain store WP can see through. */
/*@ requires 12 <= page_shift <= vshift <= 51 && 1 <= bits <= 13;
    assigns \nothing;
    ensures km_pgwalk_step_ok(\result, page_shift);
    ensures \result.level == level && \result.va_shift == vshift && \result.idx_bits == bits &&
        \result.block_ok == block_ok; */
km_pgwalk_step km_pgwalk_make_step(int32_t level, uint32_t vshift, uint32_t bits, bool block_ok,
                                   uint32_t page_shift);

/* The cache key of a configuration, one byte per parameter:
 * arch | levels << 8 | page_shift << 16 | va_bits << 24 | oa_bits << 32. */
/*@ requires arch == KM_ARCH_X86_64 || arch == KM_ARCH_AARCH64;
    requires levels <= 255 && page_shift <= 255 && va_bits <= 255 && oa_bits <= 255;
    assigns \nothing; */
uint64_t km_pgwalk_mode_key(km_arch arch, uint32_t levels, uint32_t page_shift, uint32_t va_bits,
                            uint32_t oa_bits);

/* An unused step (beyond cfg->levels): no index bits, one entry. */
/*@ assigns \nothing;
    ensures \result.idx_bits == 0 && \result.entries == 1; */
km_pgwalk_step km_pgwalk_unused_step(uint32_t page_shift, uint64_t page_size);

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

/* The decode contract shared by both architectures (and the dispatcher in
 * pgwalk.c): bit 0 clear is "not present"; a table address is below 2^52
 * and aligned to the granule; a leaf's output base is below 2^52 and aligned
 * to the size the leaf maps; *addr is written only for TABLE and LEAF. */
/*@ predicate km_pgwalk_decoded(km_pgwalk_cfg *cfg, integer step, integer desc, km_desc_kind kind,
                                integer addr, integer old_addr) =
        (kind == KM_DESC_NOT_PRESENT || kind == KM_DESC_BAD ||
         kind == KM_DESC_TABLE || kind == KM_DESC_LEAF) &&
        (kind == KM_DESC_NOT_PRESENT <==> (desc & 1) == 0) &&
        (kind == KM_DESC_TABLE ==> addr < (1 << 52) && addr % cfg->page_size == 0) &&
        (kind == KM_DESC_LEAF ==> addr < (1 << 52) && addr % cfg->steps[step].size == 0) &&
        (kind != KM_DESC_TABLE && kind != KM_DESC_LEAF ==> addr == old_addr); */

/*@ requires km_pgwalk_cfg_ok(cfg) && step < cfg->levels && \valid(addr) && \separated(addr, cfg);
    assigns *addr;
    ensures km_pgwalk_decoded(cfg, step, desc, \result, *addr, \old(*addr)); */
km_desc_kind km_pgwalk_x86_64_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                     uint64_t *addr);

/*@ requires km_pgwalk_cfg_ok(cfg);
    assigns \nothing; */
bool km_pgwalk_aarch64_va_ok(const km_pgwalk_cfg *cfg, uint64_t va);

/*@ requires km_pgwalk_cfg_ok(cfg) && step < cfg->levels && \valid(addr) && \separated(addr, cfg);
    assigns *addr;
    ensures km_pgwalk_decoded(cfg, step, desc, \result, *addr, \old(*addr)); */
km_desc_kind km_pgwalk_aarch64_decode(const km_pgwalk_cfg *cfg, uint32_t step, uint64_t desc,
                                      uint64_t *addr);

extern const km_pgwalk_ops km_pgwalk_ops_x86_64;
extern const km_pgwalk_ops km_pgwalk_ops_aarch64;

#endif /* KTMON_PGWALK_ARCH_H */
