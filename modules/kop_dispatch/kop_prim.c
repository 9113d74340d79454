/* ktmon kop_dispatch: hot-path atomics on host pointers into guest RAM.
 *
 * The trusted base of verify/wp/kop_dispatch.wp (docs/proof-status.md): WP
 * cannot follow the conversion of a byte pointer into guest RAM to an atomic
 * word, so it sees only the contracts in kop_int.h.  include/ktmon/atomic.h
 * covers the project's own atomic variables; a word of guest RAM is not one
 * of them (it is shared with the guest, not declared _Atomic), so the
 * conversion lives here, after an explicit alignment check.  Exercised by the
 * unit tests (including a concurrent writer thread) under ASan+UBSan. */
#include <stdatomic.h>

#include "kop_int.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "guest-word CAS must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "guest-word stores must be lock-free");

typedef volatile _Atomic uint32_t km_kop_word32;
typedef volatile _Atomic uint64_t km_kop_word64;

static bool km_kop_host_aligned(const volatile uint8_t *p, uintptr_t width)
{
    /* cppcheck-suppress misra-c2012-11.4 ; alignment test of a host address, docs/misra-deviations.md */
    uintptr_t a = (uintptr_t)p;
    return (a & (width - 1u)) == 0u;
}

km_status km_kop_prim_store_u32(volatile uint8_t *p, uint32_t v)
{
    km_status st = KM_ERR_MISALIGNED;
    if (km_kop_host_aligned(p, 4u)) {
        volatile void *vp = p;
        /* cppcheck-suppress misra-c2012-11.5 ; aligned guest word as an atomic, docs/misra-deviations.md */
        km_kop_word32 *w = (km_kop_word32 *)vp;
        atomic_store_explicit(w, v, memory_order_release);
        st = KM_OK;
    }
    return st;
}

km_status km_kop_prim_store_u64(volatile uint8_t *p, uint64_t v)
{
    km_status st = KM_ERR_MISALIGNED;
    if (km_kop_host_aligned(p, 8u)) {
        volatile void *vp = p;
        /* cppcheck-suppress misra-c2012-11.5 ; aligned guest word as an atomic, docs/misra-deviations.md */
        km_kop_word64 *w = (km_kop_word64 *)vp;
        atomic_store_explicit(w, v, memory_order_release);
        st = KM_OK;
    }
    return st;
}

km_status km_kop_prim_load_u32(const volatile uint8_t *p, uint32_t *out)
{
    km_status st = KM_ERR_MISALIGNED;
    if (km_kop_host_aligned(p, 4u)) {
        const volatile void *vp = p;
        /* cppcheck-suppress misra-c2012-11.5 ; aligned guest word as an atomic, docs/misra-deviations.md */
        const km_kop_word32 *w = (const km_kop_word32 *)vp;
        *out = atomic_load_explicit(w, memory_order_acquire);
        st = KM_OK;
    }
    return st;
}

km_status km_kop_prim_load_u64(const volatile uint8_t *p, uint64_t *out)
{
    km_status st = KM_ERR_MISALIGNED;
    if (km_kop_host_aligned(p, 8u)) {
        const volatile void *vp = p;
        /* cppcheck-suppress misra-c2012-11.5 ; aligned guest word as an atomic, docs/misra-deviations.md */
        const km_kop_word64 *w = (const km_kop_word64 *)vp;
        *out = atomic_load_explicit(w, memory_order_acquire);
        st = KM_OK;
    }
    return st;
}

km_status km_kop_prim_or_u32(volatile uint8_t *p, uint32_t mask, uint32_t max_tries, uint32_t *old,
                             uint32_t *tries)
{
    km_status st = KM_ERR_MISALIGNED;
    uint32_t n = 0u;
    if (km_kop_host_aligned(p, 4u)) {
        volatile void *vp = p;
        /* cppcheck-suppress misra-c2012-11.5 ; aligned guest word as an atomic, docs/misra-deviations.md */
        km_kop_word32 *w = (km_kop_word32 *)vp;
        uint32_t expected = atomic_load_explicit(w, memory_order_acquire);
        bool done = false;
        st = KM_ERR_BUSY;
        /* A failed CAS reloads `expected` with the guest's newer value; the
         * guest's own updates are never lost, ours is retried on top. */
        while (!done && (n < max_tries)) {
            n++;
            bool swapped = atomic_compare_exchange_strong_explicit(w, &expected, km_kop_or(expected, mask),
                                                                   memory_order_acq_rel, memory_order_acquire);
            if (swapped) {
                done = true;
                *old = expected;
                st = KM_OK;
            }
        }
    }
    *tries = n;
    return st;
}

void km_kop_prim_fence_release(void)
{
    atomic_thread_fence(memory_order_release);
}
