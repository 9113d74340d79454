/* ktmon: the guest physical memory region table and bounds-checked access.
 *
 * This file is the part of modules/mem that WP proves (verify/wp/mem.wp):
 * lookup, bounds and overflow checks.  The loads and stores themselves are
 * the primitives of mem_access.h.  No function here allocates or makes a
 * system call; the file backends live in mem_file.c. */
#include "ktmon/mem.h"

#include <stdatomic.h>

#include "mem_access.h"

void km_mem_init(km_mem *m)
{
    /*@ loop invariant 0 <= i <= KM_MEM_MAX_REGIONS;
        loop assigns i, m->regions[0 .. KM_MEM_MAX_REGIONS - 1];
        loop variant KM_MEM_MAX_REGIONS - i; */
    for (uint32_t i = 0u; i < KM_MEM_MAX_REGIONS; i++) {
        m->regions[i].gpa = 0u;
        m->regions[i].size = 0u;
        m->regions[i].host = NULL;
        m->regions[i].writable = false;
    }
    /*@ loop invariant 0 <= i <= KM_MEM_MAX_MAPPINGS;
        loop assigns i, m->maps[0 .. KM_MEM_MAX_MAPPINGS - 1];
        loop variant KM_MEM_MAX_MAPPINGS - i; */
    for (uint32_t i = 0u; i < KM_MEM_MAX_MAPPINGS; i++) {
        m->maps[i].base = NULL;
        m->maps[i].len = 0u;
    }
    m->count = 0u;
    m->map_count = 0u;
    m->backend = KM_MEM_BACKEND_BUFFER;
}

km_status km_mem_add_region(km_mem *m, uint64_t gpa, uint64_t size, volatile uint8_t *host,
                            bool writable)
{
    km_status st = KM_OK;
    /* A region below the end of the last one is out of order or overlapping. */
    bool below_last = (m->count > 0u) && (m->count <= KM_MEM_MAX_REGIONS) &&
                      (gpa < (m->regions[m->count - 1u].gpa + m->regions[m->count - 1u].size));
    if ((size == 0u) || (size > KM_MEM_MAX_SIZE) || (host == NULL) || below_last) {
        st = KM_ERR_INVALID_ARG;
    } else if (gpa > (KM_MEM_GPA_LIMIT - size)) {
        st = KM_ERR_OVERFLOW;
    } else if (m->count >= KM_MEM_MAX_REGIONS) {
        st = KM_ERR_CAPACITY;
    } else {
        uint32_t n = m->count;
        m->regions[n].gpa = gpa;
        m->regions[n].size = size;
        m->regions[n].host = host;
        m->regions[n].writable = writable;
        m->count = n + 1u;
    }
    return st;
}

km_status km_mem_find(const km_mem *m, uint64_t pa, uint64_t len, uint32_t *idx)
{
    km_status st = KM_ERR_RANGE;
    if (len == 0u) {
        st = KM_ERR_INVALID_ARG;
    } else if ((len - 1u) > (UINT64_MAX - pa)) {
        st = KM_ERR_OVERFLOW;
    } else {
        uint32_t i = 0u;
        bool found = false;
        /* Regions are sorted and disjoint: the first one holding pa is the
         * only one, so the access either fits in it or crosses its end. */
        /*@ loop invariant 0 <= i <= m->count;
            loop invariant \forall integer j; 0 <= j < i ==>
                !(m->regions[j].gpa <= pa < m->regions[j].gpa + m->regions[j].size);
            loop invariant found ==> i < m->count &&
                m->regions[i].gpa <= pa < m->regions[i].gpa + m->regions[i].size;
            loop assigns i, found;
            loop variant m->count - i + (found ? 0 : 1); */
        while ((i < m->count) && !found) {
            if ((pa >= m->regions[i].gpa) && ((pa - m->regions[i].gpa) < m->regions[i].size)) {
                found = true;
            } else {
                i++;
            }
        }
        if (found) {
            /*@ assert \forall integer k; 0 <= k < m->count && k != i ==>
                  !(m->regions[k].gpa <= pa < m->regions[k].gpa + m->regions[k].size); */
            if (((pa + (len - 1u)) - m->regions[i].gpa) < m->regions[i].size) {
                *idx = i;
                st = KM_OK;
            } else {
                st = KM_ERR_CROSSES_REGION;
            }
        }
    }
    return st;
}

/* Host address of pa inside region idx (which holds [pa, pa+len)). */
/*@ requires km_mem_ok(m) && km_in_region(m, idx, pa, len) && len >= 1;
    assigns \nothing;
    ensures \result == m->regions[idx].host + (pa - m->regions[idx].gpa);
    ensures \valid(\result + (0 .. len - 1)); */
static volatile uint8_t *km_mem_host_at(const km_mem *m, uint32_t idx, uint64_t pa, uint64_t len)
{
    (void)len;
    return &m->regions[idx].host[pa - m->regions[idx].gpa];
}

km_status km_mem_read_u8(const km_mem *m, uint64_t pa, uint8_t *out)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find(m, pa, 1u, &idx);
    if (st == KM_OK) {
        const volatile uint8_t *p = km_mem_host_at(m, idx, pa, 1u);
        *out = *p;
    }
    return st;
}

km_status km_mem_read_u16(const km_mem *m, uint64_t pa, uint16_t *out)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find(m, pa, 2u, &idx);
    if (st == KM_OK) {
        *out = km_load_le16(km_mem_host_at(m, idx, pa, 2u));
    }
    return st;
}

km_status km_mem_read_u32(const km_mem *m, uint64_t pa, uint32_t *out)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find(m, pa, 4u, &idx);
    if (st == KM_OK) {
        *out = km_load_le32(km_mem_host_at(m, idx, pa, 4u));
    }
    return st;
}

km_status km_mem_read_u64(const km_mem *m, uint64_t pa, uint64_t *out)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find(m, pa, 8u, &idx);
    if (st == KM_OK) {
        *out = km_load_le64(km_mem_host_at(m, idx, pa, 8u));
    }
    return st;
}

/* Region for a write of len bytes at pa: mapped and writable. */
/*@ requires km_mem_ok(m) && \valid(idx) && \separated(idx, m) && len >= 1;
    assigns *idx;
    behavior mapped:
      assumes pa + len - 1 <= UINT64_MAX && km_mapped(m, pa, len);
      ensures \result == KM_OK || \result == KM_ERR_STATE;
      ensures \result == KM_OK ==> km_in_region(m, *idx, pa, len) && m->regions[*idx].writable;
    behavior unmapped:
      assumes !(pa + len - 1 <= UINT64_MAX && km_mapped(m, pa, len));
      ensures \result == KM_ERR_RANGE || \result == KM_ERR_CROSSES_REGION
           || \result == KM_ERR_OVERFLOW;
    complete behaviors;
    disjoint behaviors; */
static km_status km_mem_find_writable(const km_mem *m, uint64_t pa, uint64_t len, uint32_t *idx)
{
    uint32_t i = 0u;
    km_status st = km_mem_find(m, pa, len, &i);
    if ((st == KM_OK) && !m->regions[i].writable) {
        st = KM_ERR_STATE;
    }
    if (st == KM_OK) {
        *idx = i;
    }
    return st;
}

km_status km_mem_write_u8(const km_mem *m, uint64_t pa, uint8_t v)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find_writable(m, pa, 1u, &idx);
    if (st == KM_OK) {
        volatile uint8_t *p = km_mem_host_at(m, idx, pa, 1u);
        *p = v;
    }
    return st;
}

km_status km_mem_write_u16(const km_mem *m, uint64_t pa, uint16_t v)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find_writable(m, pa, 2u, &idx);
    if (st == KM_OK) {
        km_store_le16(km_mem_host_at(m, idx, pa, 2u), v);
    }
    return st;
}

km_status km_mem_write_u32(const km_mem *m, uint64_t pa, uint32_t v)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find_writable(m, pa, 4u, &idx);
    if (st == KM_OK) {
        km_store_le32(km_mem_host_at(m, idx, pa, 4u), v);
    }
    return st;
}

km_status km_mem_write_u64(const km_mem *m, uint64_t pa, uint64_t v)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find_writable(m, pa, 8u, &idx);
    if (st == KM_OK) {
        km_store_le64(km_mem_host_at(m, idx, pa, 8u), v);
    }
    return st;
}

/* Bytes from pa to the end of region idx (pa inside it). */
/*@ requires km_mem_ok(m) && km_in_region(m, idx, pa, 1);
    assigns \nothing;
    ensures 1 <= \result <= m->regions[idx].size;
    ensures \result == m->regions[idx].gpa + m->regions[idx].size - pa; */
static uint64_t km_mem_left(const km_mem *m, uint32_t idx, uint64_t pa)
{
    return m->regions[idx].size - (pa - m->regions[idx].gpa);
}

km_status km_mem_read_bytes(const km_mem *m, uint64_t pa, uint8_t *dst, size_t len, size_t *copied)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find(m, pa, 1u, &idx);
    if (st == KM_OK) {
        uint64_t left = km_mem_left(m, idx, pa);
        size_t n = ((uint64_t)len < left) ? len : (size_t)left;
        if (n > 0u) {
            km_copy_from_guest(dst, km_mem_host_at(m, idx, pa, n), n);
        }
        *copied = n;
        /*@ assert km_in_region(m, idx, pa, n); */
    }
    return st;
}

km_status km_mem_write_bytes(const km_mem *m, uint64_t pa, const uint8_t *src, size_t len,
                             size_t *copied)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find_writable(m, pa, 1u, &idx);
    if (st == KM_OK) {
        uint64_t left = km_mem_left(m, idx, pa);
        size_t n = ((uint64_t)len < left) ? len : (size_t)left;
        if (n > 0u) {
            km_copy_to_guest(km_mem_host_at(m, idx, pa, n), src, n);
        }
#ifndef __FRAMAC__
        /* Order the copy before any later publish store (see docs/memory-ordering.md). */
        atomic_thread_fence(memory_order_release);
#endif
        *copied = n;
    }
    return st;
}

km_status km_mem_host_ptr(const km_mem *m, uint64_t pa, uint64_t width, volatile uint8_t **out)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find(m, pa, width, &idx);
    if (st == KM_OK) {
        *out = km_mem_host_at(m, idx, pa, width);
    }
    return st;
}

km_status km_mem_avail(const km_mem *m, uint64_t pa, uint64_t *out)
{
    uint32_t idx = 0u;
    km_status st = km_mem_find(m, pa, 1u, &idx);
    if (st == KM_OK) {
        *out = km_mem_left(m, idx, pa);
        /*@ assert km_in_region(m, idx, pa, *out); */
    }
    return st;
}

uint64_t km_mem_total(const km_mem *m)
{
    uint64_t total = 0u;
    /*@ loop invariant 0 <= i <= m->count;
        loop invariant total <= i * KM_MEM_MAX_SIZE;
        loop assigns i, total;
        loop variant m->count - i; */
    for (uint32_t i = 0u; i < m->count; i++) {
        total += m->regions[i].size;
    }
    return total;
}
