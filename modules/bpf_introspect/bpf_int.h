/* ktmon bpf_introspect: private declarations shared by the module's files.
 *
 * The guest reads below (km_bpf_rd_*) are the module's only way into guest
 * memory.  They live in bpf_prim.c, which the WP harness does not include:
 * WP sees only these contracts, the trusted base of
 * verify/wp/bpf_introspect.wp (docs/proof-status.md).  Each is a thin call of
 * km_gk_read_* (translation of the KVA, then a bounds-checked read of guest
 * RAM), whose only side effect on the guest-kernel record is its
 * translation cache. */
#ifndef KTMON_BPF_INT_H
#define KTMON_BPF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/bpf_introspect.h"
#include "ktmon/guest_kernel.h"
#include "ktmon/status.h"

/* Bytes of one xarray slot (a pointer). */
#define KM_BPF_PTR_SIZE 8u

/* Fill *err (if non-NULL) and return st.  (static inline: callers and
 * analysers see that the status returned is the one passed in.) */
/*@ requires err == \null || \valid(err);
    assigns *err;
    ensures \result == st;
    ensures err != \null ==> err->status == st && err->reason == reason && err->addr == addr &&
                             err->value == value && err->depth == depth; */
static inline km_status km_bpf_fail(km_bpf_error *err, km_status st, km_bpf_reason reason, uint64_t addr,
                                   uint64_t value, uint32_t depth)
{
    if (err != NULL) {
        err->status = st;
        err->reason = reason;
        err->addr = addr;
        err->value = value;
        err->depth = depth;
        err->id = 0u;
        err->what = NULL;
    }
    return st;
}

/* base + off, or KM_ERR_OVERFLOW when that wraps. */
/*@ requires \valid(out);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_OVERFLOW;
    ensures \result == KM_OK <==> base + off <= UINT64_MAX;
    ensures \result == KM_OK ==> *out == base + off;
    ensures \result != KM_OK ==> *out == \old(*out); */
static inline km_status km_bpf_kva_add(uint64_t base, uint64_t off, uint64_t *out)
{
    km_status st = KM_OK;
    if (off > (UINT64_MAX - base)) {
        st = KM_ERR_OVERFLOW;
    } else {
        *out = base + off;
    }
    return st;
}

/* Trusted primitives: read at a kernel VA through the guest-kernel
 * translation; *out is written only on success. */
/*@ requires \valid(gk) && \valid(out) && \separated(gk, out);
    assigns gk->tlb, *out;
    ensures \result != KM_OK ==> *out == \old(*out); */
km_status km_bpf_rd_u64(km_guest_kernel *gk, uint64_t kva, uint64_t *out);

/*@ requires \valid(gk) && \valid(out) && \separated(gk, out);
    assigns gk->tlb, *out;
    ensures \result != KM_OK ==> *out == \old(*out); */
km_status km_bpf_rd_u32(km_guest_kernel *gk, uint64_t kva, uint32_t *out);

/*@ requires \valid(gk) && \valid(out) && \separated(gk, out);
    assigns gk->tlb, *out;
    ensures \result != KM_OK ==> *out == \old(*out); */
km_status km_bpf_rd_u8(km_guest_kernel *gk, uint64_t kva, uint8_t *out);

#endif /* KTMON_BPF_INT_H */
