/* ktmon: the host-side access primitives under modules/mem (private).
 *
 * These are the only places that turn a host address into a load or store.
 * An aligned address gets one volatile access of the full width (single-copy
 * atomic on x86_64 and arm64 hosts); any other address a per-byte volatile
 * loop.  Frama-C does not model the pointer casts in the aligned path, so
 * under __FRAMAC__ only the contracts are visible: they are the trusted base
 * of the WP proofs (docs/proof-status.md), and are exercised by the unit
 * tests under ASan/UBSan and by the fuzz targets. */
#ifndef KTMON_MEM_ACCESS_H
#define KTMON_MEM_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__FRAMAC__)
#include <string.h>
/* Guest and host are both little-endian (x86_64, aarch64 hosts); a
 * big-endian host would need byte swaps on the aligned path. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ktmon needs a little-endian host");
#endif

#ifdef __FRAMAC__

/*@ requires \valid_read(p + (0 .. 1)); assigns \nothing; */
uint16_t km_load_le16(const volatile uint8_t *p);
/*@ requires \valid_read(p + (0 .. 3)); assigns \nothing; */
uint32_t km_load_le32(const volatile uint8_t *p);
/*@ requires \valid_read(p + (0 .. 7)); assigns \nothing; */
uint64_t km_load_le64(const volatile uint8_t *p);
/*@ requires \valid(p + (0 .. 1)); assigns p[0 .. 1]; */
void km_store_le16(volatile uint8_t *p, uint16_t v);
/*@ requires \valid(p + (0 .. 3)); assigns p[0 .. 3]; */
void km_store_le32(volatile uint8_t *p, uint32_t v);
/*@ requires \valid(p + (0 .. 7)); assigns p[0 .. 7]; */
void km_store_le64(volatile uint8_t *p, uint64_t v);
/*@ requires n > 0 ==> \valid(dst + (0 .. n - 1)) && \valid_read(src + (0 .. n - 1));
    assigns dst[0 .. n - 1]; */
void km_copy_from_guest(uint8_t *dst, const volatile uint8_t *src, size_t n);
/*@ requires n > 0 ==> \valid(dst + (0 .. n - 1)) && \valid_read(src + (0 .. n - 1));
    assigns dst[0 .. n - 1]; */
void km_copy_to_guest(volatile uint8_t *dst, const uint8_t *src, size_t n);

#else

/* clang's -Wcast-align flags every cast to a more-aligned pointer type, even
 * where (as below) the address's alignment is tested first; gcc warns only on
 * strict-alignment targets.  Silenced for these primitives only. */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wcast-align"
#endif

static inline int km_is_aligned(const volatile uint8_t *p, uintptr_t width)
{
    /* cppcheck-suppress misra-c2012-11.4 ; alignment test of a host address, docs/misra-deviations.md */
    uintptr_t a = (uintptr_t)p;
    return ((a & (width - 1u)) == 0u) ? 1 : 0;
}

static inline uint16_t km_load_le16(const volatile uint8_t *p)
{
    uint16_t v;
    if (km_is_aligned(p, 2u) != 0) {
        /* cppcheck-suppress misra-c2012-11.3 ; aligned single-copy access, docs/misra-deviations.md */
        v = *(const volatile uint16_t *)p;
    } else {
        v = (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
    }
    return v;
}

static inline uint32_t km_load_le32(const volatile uint8_t *p)
{
    uint32_t v = 0u;
    if (km_is_aligned(p, 4u) != 0) {
        /* cppcheck-suppress misra-c2012-11.3 ; aligned single-copy access, docs/misra-deviations.md */
        v = *(const volatile uint32_t *)p;
    } else {
        for (uint32_t i = 0u; i < 4u; i++) {
            uint32_t shift = 8u * i;
            v |= (uint32_t)p[i] << shift;
        }
    }
    return v;
}

static inline uint64_t km_load_le64(const volatile uint8_t *p)
{
    uint64_t v = 0u;
    if (km_is_aligned(p, 8u) != 0) {
        /* cppcheck-suppress misra-c2012-11.3 ; aligned single-copy access, docs/misra-deviations.md */
        v = *(const volatile uint64_t *)p;
    } else {
        for (uint32_t i = 0u; i < 8u; i++) {
            uint32_t shift = 8u * i;
            v |= (uint64_t)p[i] << shift;
        }
    }
    return v;
}

static inline void km_store_le16(volatile uint8_t *p, uint16_t v)
{
    if (km_is_aligned(p, 2u) != 0) {
        /* cppcheck-suppress misra-c2012-11.3 ; aligned single-copy access, docs/misra-deviations.md */
        *(volatile uint16_t *)p = v;
    } else {
        p[0] = (uint8_t)(v & 0xFFu);
        p[1] = (uint8_t)(v >> 8);
    }
}

static inline void km_store_le32(volatile uint8_t *p, uint32_t v)
{
    if (km_is_aligned(p, 4u) != 0) {
        /* cppcheck-suppress misra-c2012-11.3 ; aligned single-copy access, docs/misra-deviations.md */
        *(volatile uint32_t *)p = v;
    } else {
        for (uint32_t i = 0u; i < 4u; i++) {
            uint32_t shift = 8u * i;
            p[i] = (uint8_t)((v >> shift) & 0xFFu);
        }
    }
}

static inline void km_store_le64(volatile uint8_t *p, uint64_t v)
{
    if (km_is_aligned(p, 8u) != 0) {
        /* cppcheck-suppress misra-c2012-11.3 ; aligned single-copy access, docs/misra-deviations.md */
        *(volatile uint64_t *)p = v;
    } else {
        for (uint32_t i = 0u; i < 8u; i++) {
            uint32_t shift = 8u * i;
            p[i] = (uint8_t)((v >> shift) & 0xFFu);
        }
    }
}

/* Bulk copies are not single-copy atomic by nature; memcpy is what the
 * reference does and what bandwidth needs.  The volatile qualifier is
 * dropped only for the duration of the copy. */
static inline void km_copy_from_guest(uint8_t *dst, const volatile uint8_t *src, size_t n)
{
    /* cppcheck-suppress misra-c2012-11.8 ; bulk copy out of guest RAM, docs/misra-deviations.md */
    (void)memcpy(dst, (const uint8_t *)src, n);
}

static inline void km_copy_to_guest(volatile uint8_t *dst, const uint8_t *src, size_t n)
{
    /* cppcheck-suppress misra-c2012-11.8 ; bulk copy into guest RAM, docs/misra-deviations.md */
    (void)memcpy((uint8_t *)dst, src, n);
}

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

#endif /* __FRAMAC__ */

#endif /* KTMON_MEM_ACCESS_H */
