/* ktmon: guest physical memory.
 *
 * A km_mem is a fixed-capacity table of regions, sorted by guest physical
 * address (GPA), each mapping [gpa, gpa+size) to host memory.  Addresses are
 * real guest physical addresses: on arm64 'virt' RAM starts at GPA
 * 0x40000000 and the backends register it there, so the page walkers never
 * subtract a DRAM base.
 *
 * Every access returns a km_status; nothing reads as a silent zero.  Scalars
 * are little-endian; an aligned host address gets one volatile access of the
 * full width (single-copy atomic on the host), anything else a per-byte loop.
 *
 * Allocation: km_mem_open_* map files at setup time; every access function is
 * allocation-free and system-call-free. */
#ifndef KTMON_MEM_H
#define KTMON_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/status.h"

#define KM_MEM_MAX_REGIONS 32u
#define KM_MEM_MAX_MAPPINGS 4u

/* Largest region size accepted (2^48 bytes); keeps gpa+size far from wrap. */
#define KM_MEM_MAX_SIZE (UINT64_C(1) << 48)
/* Highest guest physical address + 1 that a region may reach (2^52). */
#define KM_MEM_GPA_LIMIT (UINT64_C(1) << 52)

typedef struct km_mem_region {
    uint64_t gpa;            /* first guest physical address */
    uint64_t size;           /* bytes, > 0 */
    volatile uint8_t *host;  /* host address of gpa */
    bool writable;
} km_mem_region;

typedef enum km_mem_backend {
    KM_MEM_BACKEND_BUFFER = 0,  /* caller-supplied memory */
    KM_MEM_BACKEND_RAM_FILE,    /* QEMU memory-backend-file (mmap, shared) */
    KM_MEM_BACKEND_ELF_CORE     /* QEMU dump-guest-memory / kdump ELF core */
} km_mem_backend;

/* A host mapping owned by the km_mem (released by km_mem_fini). */
typedef struct km_mem_mapping {
    void *base;
    size_t len;
} km_mem_mapping;

typedef struct km_mem {
    km_mem_region regions[KM_MEM_MAX_REGIONS];
    uint32_t count;
    km_mem_backend backend;
    km_mem_mapping maps[KM_MEM_MAX_MAPPINGS];
    uint32_t map_count;
} km_mem;

/* One piece of a RAM file: guest RAM [gpa, gpa+size) lives at file offset
 * file_off.  QEMU's x86 q35 puts RAM above the PCI hole at GPA 4 GiB while
 * the file continues linearly; the layout comes from `info mtree -f`. */
typedef struct km_mem_file_range {
    uint64_t gpa;
    uint64_t file_off;
    uint64_t size;
} km_mem_file_range;

/*@ predicate km_region_ok(km_mem_region r) =
        r.size > 0 && r.size <= KM_MEM_MAX_SIZE &&
        r.gpa <= KM_MEM_GPA_LIMIT - r.size &&
        \valid(r.host + (0 .. r.size - 1));

    predicate km_mem_ok(km_mem *m) =
        \valid_read(m) && m->count <= KM_MEM_MAX_REGIONS &&
        (\forall integer i; 0 <= i < m->count ==> km_region_ok(m->regions[i])) &&
        (\forall integer i; 0 <= i < m->count ==>
            \separated(m, m->regions[i].host + (0 .. m->regions[i].size - 1))) &&
        (\forall integer i, j; 0 <= i < j < m->count ==>
            m->regions[i].gpa + m->regions[i].size <= m->regions[j].gpa);

    predicate km_in_region(km_mem *m, integer i, integer pa, integer len) =
        0 <= i < m->count && m->regions[i].gpa <= pa &&
        pa + len <= m->regions[i].gpa + m->regions[i].size;

    predicate km_mapped(km_mem *m, integer pa, integer len) =
        \exists integer i; km_in_region(m, i, pa, len);
*/

/* An empty table (buffer backend); regions are added with km_mem_add_region. */
/*@ requires \valid(m);
    assigns *m;
    ensures km_mem_ok(m) && m->count == 0; */
KM_API void km_mem_init(km_mem *m);

/* Append [gpa, gpa+size) -> host.  Regions are added in ascending GPA order
 * (the file backends sort first), so the table stays sorted; a region that
 * starts below the end of the last one (overlap or wrong order) is
 * KM_ERR_INVALID_ARG, as are size 0 and size > KM_MEM_MAX_SIZE;
 * an end beyond KM_MEM_GPA_LIMIT (KM_ERR_OVERFLOW), a full table
 * (KM_ERR_CAPACITY).  The table is unchanged on failure. */
/*@ requires km_mem_ok(m) && \valid(m);
    requires size > 0 ==> size <= KM_MEM_MAX_SIZE ==>
        \valid(host + (0 .. size - 1)) && \separated(m, host + (0 .. size - 1));
    assigns m->regions[0 .. KM_MEM_MAX_REGIONS - 1], m->count;
    ensures km_mem_ok(m);
    ensures \result == KM_OK ==> m->count == \old(m->count) + 1;
    ensures \result != KM_OK ==> m->count == \old(m->count);
    ensures \result == KM_OK || \result == KM_ERR_INVALID_ARG || \result == KM_ERR_OVERFLOW
         || \result == KM_ERR_CAPACITY; */
KM_API km_status km_mem_add_region(km_mem *m, uint64_t gpa, uint64_t size, volatile uint8_t *host,
                                   bool writable);

/* Release mappings owned by m (file backends) and empty the table.  The
 * open/fini functions below make system calls (open, fstat, mmap, munmap):
 * their contracts are stated, not proved; what they compute in between is
 * the proved layout of mem_layout.c (docs/proof-status.md). */
/*@ requires m == \null || \valid(m);
    assigns *m;
    ensures m != \null ==> km_mem_ok(m) && m->count == 0; */
KM_API void km_mem_fini(km_mem *m);

/* Map a QEMU memory-backend-file RAM file (shared, so guest writes are seen
 * live).  ranges/nranges give the GPA layout; NULL/0 means one range:
 * GPA ram_base .. ram_base + file size at file offset 0.  writable maps
 * the file read-write (needed for kernel writes). */
/*@ requires \valid(m) && (err == \null || \valid(err));
    requires nranges > 0 ==> \valid_read(ranges + (0 .. nranges - 1));
    assigns *m, *err;
    ensures km_mem_ok(m);
    ensures \result != KM_OK ==> m->count == 0; */
KM_API km_status km_mem_open_ram_file(km_mem *m, const char *path, const km_mem_file_range *ranges,
                                      uint32_t nranges, uint64_t ram_base, bool writable,
                                      km_error *err);

/* Map an ELF64 core file (QEMU dump-guest-memory, kdump vmcore): each
 * PT_LOAD with p_filesz > 0 becomes a region at its p_paddr. Read-only. */
/*@ requires \valid(m) && (err == \null || \valid(err));
    assigns *m, *err;
    ensures km_mem_ok(m);
    ensures \result != KM_OK ==> m->count == 0; */
KM_API km_status km_mem_open_elf_core(km_mem *m, const char *path, km_error *err);

/* The same over an ELF core already in memory (the caller keeps buf alive
 * and unchanged while m is in use; regions are read-only). */
/*@ requires \valid(m) && (err == \null || \valid(err));
    requires buf != \null ==> \valid_read(buf + (0 .. len - 1));
    assigns *m, *err;
    ensures km_mem_ok(m);
    ensures \result != KM_OK ==> m->count == 0; */
KM_API km_status km_mem_open_elf_core_buffer(km_mem *m, const uint8_t *buf, size_t len,
                                             km_error *err);

/* Index of the region holding [pa, pa+len), len >= 1. */
/*@ requires km_mem_ok(m) && \valid(idx) && \separated(idx, m);
    assigns *idx;
    behavior empty:
      assumes len == 0;
      ensures \result == KM_ERR_INVALID_ARG && *idx == \old(*idx);
    behavior overflow:
      assumes len > 0 && pa + len - 1 > UINT64_MAX;
      ensures \result == KM_ERR_OVERFLOW && *idx == \old(*idx);
    behavior inside:
      assumes len > 0 && pa + len - 1 <= UINT64_MAX && km_mapped(m, pa, len);
      ensures \result == KM_OK && km_in_region(m, *idx, pa, len);
    behavior outside:
      assumes len > 0 && pa + len - 1 <= UINT64_MAX && !km_mapped(m, pa, len);
      ensures \result == KM_ERR_RANGE || \result == KM_ERR_CROSSES_REGION;
      ensures *idx == \old(*idx);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_find(const km_mem *m, uint64_t pa, uint64_t len, uint32_t *idx);

/*@ requires km_mem_ok(m) && \valid(out);
    assigns *out;
    behavior mapped:
      assumes km_mapped(m, pa, 1);
      ensures \result == KM_OK;
    behavior unmapped:
      assumes !km_mapped(m, pa, 1);
      ensures \result != KM_OK && *out == \old(*out);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_read_u8(const km_mem *m, uint64_t pa, uint8_t *out);

/*@ requires km_mem_ok(m) && \valid(out);
    assigns *out;
    behavior mapped:
      assumes pa <= UINT64_MAX - 1 && km_mapped(m, pa, 2);
      ensures \result == KM_OK;
    behavior unmapped:
      assumes !(pa <= UINT64_MAX - 1 && km_mapped(m, pa, 2));
      ensures \result != KM_OK && *out == \old(*out);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_read_u16(const km_mem *m, uint64_t pa, uint16_t *out);

/*@ requires km_mem_ok(m) && \valid(out);
    assigns *out;
    behavior mapped:
      assumes pa <= UINT64_MAX - 3 && km_mapped(m, pa, 4);
      ensures \result == KM_OK;
    behavior unmapped:
      assumes !(pa <= UINT64_MAX - 3 && km_mapped(m, pa, 4));
      ensures \result != KM_OK && *out == \old(*out);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_read_u32(const km_mem *m, uint64_t pa, uint32_t *out);

/*@ requires km_mem_ok(m) && \valid(out);
    assigns *out;
    behavior mapped:
      assumes pa <= UINT64_MAX - 7 && km_mapped(m, pa, 8);
      ensures \result == KM_OK;
    behavior unmapped:
      assumes !(pa <= UINT64_MAX - 7 && km_mapped(m, pa, 8));
      ensures \result != KM_OK && *out == \old(*out);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_read_u64(const km_mem *m, uint64_t pa, uint64_t *out);

/* Writes refuse read-only regions with KM_ERR_STATE. */
/*@ requires km_mem_ok(m);
    assigns { m->regions[i].host[j] | integer i, j; 0 <= i < m->count && 0 <= j < m->regions[i].size };
    behavior unmapped:
      assumes !(km_mapped(m, pa, 1));
      ensures \result == KM_ERR_RANGE || \result == KM_ERR_CROSSES_REGION
           || \result == KM_ERR_OVERFLOW;
    behavior mapped:
      assumes km_mapped(m, pa, 1);
      ensures \result == KM_OK || \result == KM_ERR_STATE;
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_write_u8(const km_mem *m, uint64_t pa, uint8_t v);
/*@ requires km_mem_ok(m);
    assigns { m->regions[i].host[j] | integer i, j; 0 <= i < m->count && 0 <= j < m->regions[i].size };
    behavior unmapped:
      assumes !(pa <= UINT64_MAX - 1 && km_mapped(m, pa, 2));
      ensures \result == KM_ERR_RANGE || \result == KM_ERR_CROSSES_REGION
           || \result == KM_ERR_OVERFLOW;
    behavior mapped:
      assumes pa <= UINT64_MAX - 1 && km_mapped(m, pa, 2);
      ensures \result == KM_OK || \result == KM_ERR_STATE;
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_write_u16(const km_mem *m, uint64_t pa, uint16_t v);
/*@ requires km_mem_ok(m);
    assigns { m->regions[i].host[j] | integer i, j; 0 <= i < m->count && 0 <= j < m->regions[i].size };
    behavior unmapped:
      assumes !(pa <= UINT64_MAX - 3 && km_mapped(m, pa, 4));
      ensures \result == KM_ERR_RANGE || \result == KM_ERR_CROSSES_REGION
           || \result == KM_ERR_OVERFLOW;
    behavior mapped:
      assumes pa <= UINT64_MAX - 3 && km_mapped(m, pa, 4);
      ensures \result == KM_OK || \result == KM_ERR_STATE;
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_write_u32(const km_mem *m, uint64_t pa, uint32_t v);
/*@ requires km_mem_ok(m);
    assigns { m->regions[i].host[j] | integer i, j; 0 <= i < m->count && 0 <= j < m->regions[i].size };
    behavior unmapped:
      assumes !(pa <= UINT64_MAX - 7 && km_mapped(m, pa, 8));
      ensures \result == KM_ERR_RANGE || \result == KM_ERR_CROSSES_REGION
           || \result == KM_ERR_OVERFLOW;
    behavior mapped:
      assumes pa <= UINT64_MAX - 7 && km_mapped(m, pa, 8);
      ensures \result == KM_OK || \result == KM_ERR_STATE;
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_write_u64(const km_mem *m, uint64_t pa, uint64_t v);

/* Copy up to len bytes starting at pa, clipped at the end of pa's region;
 * *copied says how many.  len == 0 copies nothing and succeeds if pa is
 * mapped.  An unmapped pa is an error, never a zero-length success. */
/*@ requires km_mem_ok(m) && \valid(copied) && \separated(copied, m);
    requires len > 0 ==> \valid(dst + (0 .. len - 1));
    requires \separated(copied, dst + (0 .. len - 1));
    requires \separated(m, dst + (0 .. len - 1));
    assigns *copied, dst[0 .. len - 1];
    behavior mapped:
      assumes km_mapped(m, pa, 1);
      ensures \result == KM_OK && *copied <= len;
      ensures len > 0 ==> *copied > 0;
      ensures km_mapped(m, pa, *copied);
    behavior unmapped:
      assumes !km_mapped(m, pa, 1);
      ensures \result != KM_OK && *copied == \old(*copied);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_read_bytes(const km_mem *m, uint64_t pa, uint8_t *dst, size_t len,
                                   size_t *copied);
/* Counterpart of km_mem_read_bytes; ends with a release fence so a
 * weakly-ordered guest reader that acquires sees the bytes. */
/*@ requires km_mem_ok(m) && \valid(copied) && \separated(copied, m);
    requires \forall integer i; 0 <= i < m->count ==>
        \separated(copied, m->regions[i].host + (0 .. m->regions[i].size - 1));
    requires len > 0 ==> \valid_read(src + (0 .. len - 1));
    assigns *copied, m->regions[0 .. KM_MEM_MAX_REGIONS - 1].host[0 .. KM_MEM_MAX_SIZE - 1];
    ensures \result == KM_OK ==> *copied <= len && km_mapped(m, pa, 1);
    ensures \result != KM_OK ==> *copied == \old(*copied); */
KM_API km_status km_mem_write_bytes(const km_mem *m, uint64_t pa, const uint8_t *src, size_t len,
                                    size_t *copied);

/* Host address of [pa, pa+width): the whole span must be inside one region. */
/*@ requires km_mem_ok(m) && \valid(out);
    assigns *out;
    behavior mapped:
      assumes width >= 1 && pa + width - 1 <= UINT64_MAX && km_mapped(m, pa, width);
      ensures \result == KM_OK && \valid(*out + (0 .. width - 1));
    behavior unmapped:
      assumes !(width >= 1 && pa + width - 1 <= UINT64_MAX && km_mapped(m, pa, width));
      ensures \result != KM_OK && *out == \old(*out);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_host_ptr(const km_mem *m, uint64_t pa, uint64_t width,
                                 volatile uint8_t **out);

/* Bytes from pa to the end of its region. */
/*@ requires km_mem_ok(m) && \valid(out) && \separated(out, m);
    assigns *out;
    behavior mapped:
      assumes km_mapped(m, pa, 1);
      ensures \result == KM_OK && *out >= 1 && km_mapped(m, pa, *out);
    behavior unmapped:
      assumes !km_mapped(m, pa, 1);
      ensures \result != KM_OK && *out == \old(*out);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_mem_avail(const km_mem *m, uint64_t pa, uint64_t *out);

/* Total bytes over all regions. */
/*@ requires km_mem_ok(m);
    assigns \nothing; */
KM_API uint64_t km_mem_total(const km_mem *m);

#endif /* KTMON_MEM_H */
