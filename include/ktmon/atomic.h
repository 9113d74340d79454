/* ktmon: the one header every atomic access goes through.
 *
 * Modules never include <stdatomic.h> themselves: they use the typed
 * wrappers below, so that
 *   - every memory order used in the project is spelled in one place and
 *     named in the function (load_acquire, store_release, ...), and
 *   - Frama-C, which cannot parse _Atomic(T) nor reason about stdatomic, sees
 *     plain accesses with ACSL contracts (under __FRAMAC__).  WP then proves
 *     the sequential logic of the callers; the ordering is checked by spin
 *     (verify/models/, docs/memory-ordering.md).
 *
 * The mapping, one line per wrapper (docs/memory-ordering.md repeats it):
 *   km_atomic_load_acquire_T     atomic_load_explicit(p, memory_order_acquire)
 *   km_atomic_load_relaxed_T     atomic_load_explicit(p, memory_order_relaxed)
 *   km_atomic_store_release_T    atomic_store_explicit(p, v, memory_order_release)
 *   km_atomic_store_relaxed_T    atomic_store_explicit(p, v, memory_order_relaxed)
 *   km_atomic_cas_bool           atomic_compare_exchange_strong_explicit(p, &e, d,
 *                                    memory_order_acq_rel, memory_order_acquire)
 *   km_atomic_fetch_add_u32/u64  atomic_fetch_add_explicit(p, v, memory_order_acq_rel)
 *   km_atomic_fence_acquire      atomic_thread_fence(memory_order_acquire)
 *   km_atomic_fence_release      atomic_thread_fence(memory_order_release)
 * The _relaxed forms are for initialisation (no reader yet) and statistics.
 *
 * km_atomic_u32p holds a host pointer to a 32-bit word of guest RAM
 * (volatile: the guest writes it); it is the only pointer type that needs an
 * atomic slot today.  Everything here is lock-free on x86_64 and aarch64
 * (checked below), allocation-free and system-call-free. */
#ifndef KTMON_ATOMIC_H
#define KTMON_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#include "ktmon/api.h"

#ifdef __FRAMAC__

typedef uint64_t km_atomic_u64;
typedef uint32_t km_atomic_u32;
typedef bool km_atomic_bool;
typedef volatile uint32_t *km_atomic_u32p;

#else

#include <stdatomic.h>

typedef _Atomic uint64_t km_atomic_u64;
typedef _Atomic uint32_t km_atomic_u32;
typedef _Atomic bool km_atomic_bool;
typedef volatile uint32_t *km_host_u32p;
typedef _Atomic km_host_u32p km_atomic_u32p;

/* A slot table shared with vCPU threads must never fall back to locks. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2, "bool atomics must be lock-free");
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "pointer atomics must be lock-free");

#endif /* __FRAMAC__ */

/* ---------------------------------------------------------------- u64 */

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static inline uint64_t km_atomic_load_acquire_u64(const km_atomic_u64 *p)
{
#ifdef __FRAMAC__
    return *p;
#else
    return atomic_load_explicit(p, memory_order_acquire);
#endif
}

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static inline uint64_t km_atomic_load_relaxed_u64(const km_atomic_u64 *p)
{
#ifdef __FRAMAC__
    return *p;
#else
    return atomic_load_explicit(p, memory_order_relaxed);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_release_u64(km_atomic_u64 *p, uint64_t v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_release);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_relaxed_u64(km_atomic_u64 *p, uint64_t v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_relaxed);
#endif
}

/* Wraps modulo 2^64, as atomic_fetch_add does; returns the old value. */
/*@ requires \valid(p);
    assigns *p;
    ensures \result == \old(*p);
    ensures *p == (\old(*p) + v) % 18446744073709551616; */
static inline uint64_t km_atomic_fetch_add_u64(km_atomic_u64 *p, uint64_t v)
{
#ifdef __FRAMAC__
    uint64_t old = *p;
    if (v > (UINT64_MAX - old)) {
        *p = v - (UINT64_MAX - old) - 1u;
    } else {
        *p = old + v;
    }
    return old;
#else
    return atomic_fetch_add_explicit(p, v, memory_order_acq_rel);
#endif
}

/* ---------------------------------------------------------------- u32 */

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static inline uint32_t km_atomic_load_acquire_u32(const km_atomic_u32 *p)
{
#ifdef __FRAMAC__
    return *p;
#else
    return atomic_load_explicit(p, memory_order_acquire);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_release_u32(km_atomic_u32 *p, uint32_t v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_release);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_relaxed_u32(km_atomic_u32 *p, uint32_t v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_relaxed);
#endif
}

/* Wraps modulo 2^32; returns the old value. */
/*@ requires \valid(p);
    assigns *p;
    ensures \result == \old(*p);
    ensures *p == (\old(*p) + v) % 4294967296; */
static inline uint32_t km_atomic_fetch_add_u32(km_atomic_u32 *p, uint32_t v)
{
#ifdef __FRAMAC__
    uint32_t old = *p;
    if (v > (UINT32_MAX - old)) {
        *p = v - (UINT32_MAX - old) - 1u;
    } else {
        *p = old + v;
    }
    return old;
#else
    return atomic_fetch_add_explicit(p, v, memory_order_acq_rel);
#endif
}

/* ---------------------------------------------------------------- bool */

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static inline bool km_atomic_load_acquire_bool(const km_atomic_bool *p)
{
#ifdef __FRAMAC__
    return *p;
#else
    return atomic_load_explicit(p, memory_order_acquire);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_release_bool(km_atomic_bool *p, bool v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_release);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_relaxed_bool(km_atomic_bool *p, bool v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_relaxed);
#endif
}

/* Strong compare-and-swap: if *p == expected, *p = desired and true;
 * otherwise *p is unchanged and false.  acq_rel on success, acquire on
 * failure. */
/*@ requires \valid(p);
    assigns *p;
    behavior swapped:
      assumes *p == expected;
      ensures \result == \true && *p == desired;
    behavior kept:
      assumes *p != expected;
      ensures \result == \false && *p == \old(*p);
    complete behaviors;
    disjoint behaviors; */
static inline bool km_atomic_cas_bool(km_atomic_bool *p, bool expected, bool desired)
{
#ifdef __FRAMAC__
    bool ok = false;
    if (*p == expected) {
        *p = desired;
        ok = true;
    }
    return ok;
#else
    bool e = expected;
    return atomic_compare_exchange_strong_explicit(p, &e, desired, memory_order_acq_rel,
                                                   memory_order_acquire);
#endif
}

/* ---------------------------------------------------------------- host pointer to a guest u32 */

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static inline volatile uint32_t *km_atomic_load_acquire_ptr(const km_atomic_u32p *p)
{
#ifdef __FRAMAC__
    return *p;
#else
    return atomic_load_explicit(p, memory_order_acquire);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_release_ptr(km_atomic_u32p *p, volatile uint32_t *v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_release);
#endif
}

/*@ requires \valid(p);
    assigns *p;
    ensures *p == v; */
static inline void km_atomic_store_relaxed_ptr(km_atomic_u32p *p, volatile uint32_t *v)
{
#ifdef __FRAMAC__
    *p = v;
#else
    atomic_store_explicit(p, v, memory_order_relaxed);
#endif
}

/* ---------------------------------------------------------------- fences */

/*@ assigns \nothing; */
static inline void km_atomic_fence_acquire(void)
{
#ifndef __FRAMAC__
    atomic_thread_fence(memory_order_acquire);
#endif
}

/*@ assigns \nothing; */
static inline void km_atomic_fence_release(void)
{
#ifndef __FRAMAC__
    atomic_thread_fence(memory_order_release);
#endif
}

#endif /* KTMON_ATOMIC_H */
