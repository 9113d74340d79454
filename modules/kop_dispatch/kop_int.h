/* ktmon kop_dispatch: declarations shared by the module's files (private).
 *
 * kop_check.c holds the validation logic that WP proves
 * (verify/wp/kop_dispatch.wp): which {mode, direction, target, value}
 * combinations a dispatcher accepts, the freeze-gate check, the direct-map
 * bound, the kernel-half test, hot alignment, the task start-time window and
 * UTF-8 cutting.  kop_dispatch.c resolves targets and accesses memory;
 * kop_prim.c holds the hot-path atomics (the trusted base). */
#ifndef KTMON_KOP_INT_H
#define KTMON_KOP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/kop_dispatch.h"

/* Why the entry check refused an entry. */
typedef enum km_kop_refusal {
    KM_KOP_R_OK = 0,
    KM_KOP_R_BAD_MODE,     /* mode is neither hot nor cold */
    KM_KOP_R_BAD_DIR,      /* direction is neither read nor write */
    KM_KOP_R_BAD_TARGET,   /* unknown target kind */
    KM_KOP_R_BAD_VALUE,    /* unknown value kind */
    KM_KOP_R_OR_READ,      /* OrU32 named as a read width */
    KM_KOP_R_BYTES_LEN,    /* Bytes length 0 or over KM_KOP_BYTES_MAX */
    KM_KOP_R_BYTES_NULL,   /* Bytes write without a payload */
    KM_KOP_R_TASK_WIDTH,   /* TASK targets take U32 or U64 only */
    KM_KOP_R_U32_RANGE,    /* U32/OrU32 write value wider than 32 bits */
    KM_KOP_R_HOT_BYTES     /* hot Bytes write: not atomic */
} km_kop_refusal;

/*@ predicate km_kop_entry_ok(integer mode, integer dir, integer tk, integer vk, integer len,
                              integer has_bytes, integer scalar) =
        0 <= mode <= 1 && 0 <= dir <= 1 && 0 <= tk < KM_KOP_TARGET_KINDS &&
        0 <= vk < KM_KOP_VALUE_KINDS &&
        !(dir == KM_KOP_READ && vk == KM_KOP_V_OR_U32) &&
        (vk == KM_KOP_V_BYTES ==> 1 <= len <= KM_KOP_BYTES_MAX) &&
        (vk == KM_KOP_V_BYTES && dir == KM_KOP_WRITE ==> has_bytes != 0) &&
        (tk == KM_KOP_T_TASK ==> (vk == KM_KOP_V_U32 || vk == KM_KOP_V_U64)) &&
        ((vk == KM_KOP_V_U32 || vk == KM_KOP_V_OR_U32) && dir == KM_KOP_WRITE ==> scalar <= UINT32_MAX) &&
        !(mode == KM_KOP_HOT && dir == KM_KOP_WRITE && vk == KM_KOP_V_BYTES); */

/* The static check of one entry (before any symbol lookup or memory access). */
/*@ assigns \nothing;
    ensures \result == KM_KOP_R_OK <==> km_kop_entry_ok(mode, dir, tk, vk, len, has_bytes, scalar);
    ensures KM_KOP_R_OK <= \result <= KM_KOP_R_HOT_BYTES;
    ensures dir == KM_KOP_READ && vk == KM_KOP_V_OR_U32 && mode <= 1 && tk < KM_KOP_TARGET_KINDS ==>
            \result == KM_KOP_R_OR_READ;
    ensures mode == KM_KOP_HOT && dir == KM_KOP_WRITE && vk == KM_KOP_V_BYTES ==> \result != KM_KOP_R_OK; */
km_kop_refusal km_kop_check_entry(uint32_t mode, uint32_t dir, uint32_t tk, uint32_t vk, uint32_t len,
                                  bool has_bytes, uint64_t scalar);

/* The status a refusal is reported with. */
/*@ assigns \nothing;
    ensures r == KM_KOP_R_OK ==> \result == KM_OK;
    ensures r != KM_KOP_R_OK ==> \result != KM_OK; */
km_status km_kop_refusal_status(km_kop_refusal r);

/*@ ensures \valid_read(\result);
    assigns \nothing; */
const char *km_kop_refusal_text(km_kop_refusal r);

/* Bytes an entry accesses: 4 (U32, OrU32), 8 (U64), len (Bytes). */
/*@ assigns \nothing;
    ensures vk == KM_KOP_V_U64 ==> \result == 8;
    ensures (vk == KM_KOP_V_U32 || vk == KM_KOP_V_OR_U32) ==> \result == 4;
    ensures vk == KM_KOP_V_BYTES ==> \result == len; */
uint32_t km_kop_width(uint32_t vk, uint32_t len);

/* A KVA target is refused before any walk unless it is in the kernel half. */
/*@ assigns \nothing;
    ensures \result == \true <==> kva >= KM_KOP_KERNEL_HALF_MIN; */
bool km_kop_kernel_half(uint64_t kva);

/* Direct map: kva in [page_offset, page_offset + span) with span =
 * pa_limit - pa_base, the whole access inside; *pa = kva - page_offset + pa_base. */
/*@ requires \valid(pa);
    assigns *pa;
    behavior inside:
      assumes len >= 1 && pa_limit > pa_base && kva >= page_offset &&
              kva - page_offset + len <= pa_limit - pa_base;
      ensures \result == KM_OK && *pa == kva - page_offset + pa_base;
    behavior outside:
      assumes !(len >= 1 && pa_limit > pa_base && kva >= page_offset &&
                kva - page_offset + len <= pa_limit - pa_base);
      ensures \result == KM_ERR_RANGE && *pa == \old(*pa);
    complete behaviors;
    disjoint behaviors; */
km_status km_kop_direct_pa(uint64_t page_offset, uint64_t pa_base, uint64_t pa_limit, uint64_t kva,
                           uint64_t len, uint64_t *pa);

/* Natural alignment for a hot access of width 4 or 8. */
/*@ requires width == 4 || width == 8;
    assigns \nothing;
    ensures \result == \true <==> addr % width == 0; */
bool km_kop_aligned(uint64_t addr, uint32_t width);

/* Does [addr, addr + len) stay inside one KM_KOP_PAGE page? */
/*@ requires 1 <= len <= KM_KOP_PAGE;
    assigns \nothing;
    ensures \result == \true <==> addr % KM_KOP_PAGE + len <= KM_KOP_PAGE; */
bool km_kop_in_one_page(uint64_t addr, uint64_t len);

/* The task start-time window: expected <= start < expected + 10 ms. */
/*@ assigns \nothing;
    ensures \result == \true <==> (start >= expected &&
                                   start - expected < KM_KOP_TASK_START_WINDOW_NS); */
bool km_kop_task_start_ok(uint64_t start, uint64_t expected);

/* Hot OrU32's new value. */
/*@ assigns \nothing;
    ensures \result == (old | mask); */
uint32_t km_kop_or(uint32_t old, uint32_t mask);

/* ---------------------------------------------------------------- hot-path primitives (kop_prim.c) */

/* Single-copy-atomic release store of v at p (aligned to 4/8 bytes):
 * KM_ERR_MISALIGNED (nothing stored) if the host address is not aligned. */
/*@ requires \valid(p + (0 .. 3));
    assigns p[0 .. 3];
    ensures \result == KM_OK || \result == KM_ERR_MISALIGNED; */
km_status km_kop_prim_store_u32(volatile uint8_t *p, uint32_t v);
/*@ requires \valid(p + (0 .. 7));
    assigns p[0 .. 7];
    ensures \result == KM_OK || \result == KM_ERR_MISALIGNED; */
km_status km_kop_prim_store_u64(volatile uint8_t *p, uint64_t v);
/* Single-copy-atomic acquire loads. */
/*@ requires \valid_read(p + (0 .. 3)) && \valid(out);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_MISALIGNED; */
km_status km_kop_prim_load_u32(const volatile uint8_t *p, uint32_t *out);
/*@ requires \valid_read(p + (0 .. 7)) && \valid(out);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_MISALIGNED; */
km_status km_kop_prim_load_u64(const volatile uint8_t *p, uint64_t *out);
/* *p |= mask by compare-and-swap (acq_rel; acquire on failure), at most
 * max_tries attempts: KM_ERR_BUSY (nothing stored) when every attempt lost
 * to a concurrent writer.  *old gets the value the winning CAS replaced,
 * *tries the attempts made. */
/*@ requires \valid(p + (0 .. 3)) && \valid(old) && \valid(tries);
    assigns p[0 .. 3], *old, *tries;
    ensures \result == KM_OK || \result == KM_ERR_MISALIGNED || \result == KM_ERR_BUSY; */
km_status km_kop_prim_or_u32(volatile uint8_t *p, uint32_t mask, uint32_t max_tries, uint32_t *old,
                             uint32_t *tries);
/* Release fence after a cold Bytes write (docs/memory-ordering.md). */
/*@ assigns \nothing; */
void km_kop_prim_fence_release(void);

#endif /* KTMON_KOP_INT_H */
