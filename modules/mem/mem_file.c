/* ktmon: file backends of modules/mem (setup time only).
 *
 * Both backends map a file once and register regions that point into the
 * mapping; the mapping is released by km_mem_fini.  What the regions are
 * (the ELF core's program headers, the RAM file's layout) is worked out by
 * the proved functions of mem_layout.c; this file holds only the system
 * calls around them. */
#include "ktmon/mem.h"

#include "mem_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Map the whole file (shared read-write, or private read-only). */
/*@ requires \valid_read(path) && \valid(base) && \valid(len);
    requires err == \null || \valid(err);
    assigns *base, *len, *err;
    ensures \result == KM_OK || \result == KM_ERR_IO || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK ==> 0 < *len <= KM_MEM_MAX_SIZE &&
        \valid_read((uint8_t *)*base + (0 .. *len - 1));
    ensures \result != KM_OK ==> *base == \old(*base) && *len == \old(*len); */
static km_status km_map_file(const char *path, bool writable, void **base, size_t *len,
                             km_error *err)
{
    km_status st = KM_OK;
    int fd = open(path, writable ? O_RDWR : O_RDONLY);
    if (fd < 0) {
        st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
    } else {
        struct stat sb;
        if (fstat(fd, &sb) != 0) {
            st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
        } else if ((sb.st_size <= 0) || ((uint64_t)sb.st_size > KM_MEM_MAX_SIZE)) {
            st = km_error_set(err, KM_ERR_BAD_DATA, (uint64_t)sb.st_size, KM_NO_INDEX, 0);
        } else {
            size_t n = (size_t)sb.st_size;
            int prot = writable ? (PROT_READ | PROT_WRITE) : PROT_READ;
            void *p = mmap(NULL, n, prot, writable ? MAP_SHARED : MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
            } else {
                *base = p;
                *len = n;
            }
        }
        (void)close(fd);
    }
    return st;
}

/* m owns the mapping from now on (km_mem_fini releases it). */
/*@ requires \valid(m);
    assigns m->maps[0], m->map_count;
    ensures m->maps[0].base == base && m->maps[0].len == len && m->map_count == 1; */
static void km_mem_keep_mapping(km_mem *m, void *base, size_t len)
{
    m->maps[0].base = base;
    m->maps[0].len = len;
    m->map_count = 1u;
}

km_status km_mem_open_ram_file(km_mem *m, const char *path, const km_mem_file_range *ranges,
                               uint32_t nranges, uint64_t ram_base, bool writable, km_error *err)
{
    km_status st = KM_OK;
    void *base = NULL;
    size_t len = 0u;
    km_mem_seg segs[KM_MEM_MAX_REGIONS];
    uint32_t nseg = 0u;

    km_mem_init(m);
    if ((path == NULL) || (nranges > KM_MEM_MAX_REGIONS) || ((ranges == NULL) && (nranges != 0u))) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_map_file(path, writable, &base, &len, err);
    }
    if (st == KM_OK) {
        st = km_mem_ram_layout(ranges, nranges, (uint64_t)len, ram_base, segs, &nseg, err);
    }
    if (st == KM_OK) {
        /* cppcheck-suppress misra-c2012-11.5 ; mmap returns void *, docs/misra-deviations.md */
        st = km_mem_add_segs(m, (volatile uint8_t *)base, (uint64_t)len, segs, nseg, writable, err);
    }
    if (st == KM_OK) {
        m->backend = KM_MEM_BACKEND_RAM_FILE;
        km_mem_keep_mapping(m, base, len);
    } else {
        if (base != NULL) {
            (void)munmap(base, len);
        }
        km_mem_init(m);
    }
    return st;
}

km_status km_mem_open_elf_core_buffer(km_mem *m, const uint8_t *buf, size_t len, km_error *err)
{
    km_mem_seg segs[KM_MEM_MAX_REGIONS];
    uint32_t nseg = 0u;
    km_status st;

    km_mem_init(m);
    if (buf == NULL) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_mem_core_layout(buf, (uint64_t)len, segs, &nseg, err);
    }
    if (st == KM_OK) {
        /* cppcheck-suppress misra-c2012-11.8 ; read-only regions over a const buffer, docs/misra-deviations.md */
        st = km_mem_add_segs(m, (volatile uint8_t *)buf, (uint64_t)len, segs, nseg, false, err);
    }
    if (st == KM_OK) {
        m->backend = KM_MEM_BACKEND_ELF_CORE;
    } else {
        km_mem_init(m);
    }
    return st;
}

km_status km_mem_open_elf_core(km_mem *m, const char *path, km_error *err)
{
    void *base = NULL;
    size_t len = 0u;
    km_status st;

    km_mem_init(m);
    if (path == NULL) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_map_file(path, false, &base, &len, err);
    }
    if (st == KM_OK) {
        /* cppcheck-suppress misra-c2012-11.5 ; mmap returns void *, docs/misra-deviations.md */
        st = km_mem_open_elf_core_buffer(m, (const uint8_t *)base, len, err);
        if (st == KM_OK) {
            km_mem_keep_mapping(m, base, len);
        } else {
            (void)munmap(base, len);
        }
    }
    return st;
}

void km_mem_fini(km_mem *m)
{
    if (m != NULL) {
        for (uint32_t i = 0u; (i < m->map_count) && (i < KM_MEM_MAX_MAPPINGS); i++) {
            if (m->maps[i].base != NULL) {
                (void)munmap(m->maps[i].base, m->maps[i].len);
            }
        }
        km_mem_init(m);
    }
}
