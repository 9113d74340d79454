/* ktmon guest_kernel: private declarations shared by the module's files.
 *
 * gk_pure.c holds the parts WP proves (verify/wp/guest_kernel.wp): the
 * kernel-half test, the per-CPU base rule, the image-PA and modular address
 * arithmetic, and the small public functions that use only them.
 * guest_kernel.c (the handshake and the per-CPU gate, which read guest memory
 * through the page walker) and guest_kernel_ksym.c call them. */
#ifndef KTMON_GK_INT_H
#define KTMON_GK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/guest_kernel.h"

/* Below this link address a per-CPU symbol is an offset into the per-CPU
 * area (zero-based per-CPU kernels, x86_64): KASLR does not move it. */
#define KM_GK_PERCPU_ZERO_BASED_LIMIT (UINT64_C(1) << 47)

/* a + b modulo 2^64.  Kernel addresses are computed modulo 2^64 (a
 * "negative" phys_base, a runtime - link difference); written with a
 * comparison so that WP sees no unsigned wrap-around. */
/*@ assigns \nothing;
    ensures \result == km_u64(a + b); */
static inline uint64_t km_gk_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    if (a <= (UINT64_MAX - b)) {
        r = a + b;
    } else {
        r = (a - (UINT64_MAX - b)) - 1u;
    }
    return r;
}

/* a - b modulo 2^64. */
/*@ assigns \nothing;
    ensures \result == km_u64(a - b); */
static inline uint64_t km_gk_sub(uint64_t a, uint64_t b)
{
    uint64_t r;
    if (a >= b) {
        r = a - b;
    } else {
        r = (a + (UINT64_MAX - b)) + 1u;
    }
    return r;
}

/* Fill *err (may be NULL) with a failure at stage and return st. */
/*@ requires err == \null || \valid(err);
    assigns *err;
    ensures \result == st;
    ensures err != \null ==> err->status == st && err->stage == stage && err->addr == addr &&
                             err->index == KM_NO_INDEX; */
static inline km_status km_gk_fail(km_gk_error *err, km_status st, km_gk_stage stage, uint64_t addr)
{
    if (err != NULL) {
        err->status = st;
        err->stage = stage;
        err->addr = addr;
        err->index = KM_NO_INDEX;
    }
    return st;
}

/* PA of the kernel-image link address `link`, given the PA of _text (the
 * image is physically contiguous): text_pa + (link - _text), modulo 2^64. */
/*@ requires \valid_read(s);
    assigns \nothing;
    ensures \result == km_u64(text_pa + (link - s->text)); */
uint64_t km_gk_image_pa(const km_gk_symbols *s, uint64_t text_pa, uint64_t link);

/* Is kva in the kernel (upper) half of the configured VA space: its bits
 * from km_gk_half_shift(gk) up all set? */
/*@ requires km_gk_shape_ok(gk);
    assigns \nothing;
    ensures \result <==> km_gk_in_kernel_half(gk, kva); */
bool km_gk_kernel_half(const km_guest_kernel *gk, uint64_t kva);

/* Runtime address of the per-CPU variable `link` in the area at offset 0. */
/*@ requires \valid_read(gk);
    assigns \nothing;
    ensures \result == km_gk_pcpu_base(link, gk->kaslr); */
uint64_t km_gk_percpu_base(const km_guest_kernel *gk, uint64_t link);

#endif /* KTMON_GK_INT_H */
