/* ktmon: file backends of modules/mem (setup time only).
 *
 * Both backends map a file once and register regions that point into the
 * mapping; the mapping is released by km_mem_fini.  The ELF core parser
 * treats the file as untrusted: every header field is range-checked before
 * use and nothing is read outside the mapping. */
#include "ktmon/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ELF64 constants used here (from the ELF specification). */
#define KM_ELF_EHDR_SIZE 64u
#define KM_ELF_PHDR_SIZE 56u
#define KM_ELF_SHDR_SIZE 64u
#define KM_ELF_CLASS64 2u
#define KM_ELF_DATA_LSB 1u
#define KM_ELF_ET_CORE 4u
#define KM_ELF_PT_LOAD 1u
#define KM_ELF_PN_XNUM 0xFFFFu
#define KM_ELF_MAX_PHDRS 4096u

typedef struct km_seg {
    uint64_t gpa;
    uint64_t off;
    uint64_t size;
} km_seg;

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

/* Sort by GPA (insertion sort: at most KM_MEM_MAX_REGIONS entries). */
static void km_sort_segs(km_seg *segs, uint32_t n)
{
    for (uint32_t i = 1u; i < n; i++) {
        km_seg key = segs[i];
        uint32_t j = i;
        while ((j > 0u) && (segs[j - 1u].gpa > key.gpa)) {
            segs[j] = segs[j - 1u];
            j--;
        }
        segs[j] = key;
    }
}

/* Register sorted segments of one mapping; on failure the table is emptied. */
static km_status km_add_segs(km_mem *m, volatile uint8_t *base, const km_seg *segs, uint32_t n,
                             bool writable, km_error *err)
{
    km_status st = KM_OK;
    for (uint32_t i = 0u; (i < n) && (st == KM_OK); i++) {
        st = km_mem_add_region(m, segs[i].gpa, segs[i].size, &base[segs[i].off], writable);
        if (st != KM_OK) {
            (void)km_error_set(err, st, segs[i].gpa, i, 0);
        }
    }
    return st;
}

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
    km_seg segs[KM_MEM_MAX_REGIONS];
    uint32_t nseg = 0u;

    km_mem_init(m);
    if ((path == NULL) || (nranges > KM_MEM_MAX_REGIONS) || ((ranges == NULL) && (nranges != 0u))) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_map_file(path, writable, &base, &len, err);
    }
    if ((st == KM_OK) && ((ranges == NULL) || (nranges == 0u))) {
        segs[0].gpa = ram_base;
        segs[0].off = 0u;
        segs[0].size = (uint64_t)len;
        nseg = 1u;
    } else if ((st == KM_OK) && (ranges != NULL)) {
        for (uint32_t i = 0u; (i < nranges) && (st == KM_OK); i++) {
            const km_mem_file_range *r = &ranges[i];
            if ((r->size == 0u) || (r->file_off > (uint64_t)len) ||
                (r->size > ((uint64_t)len - r->file_off))) {
                st = km_error_set(err, KM_ERR_RANGE, r->gpa, i, 0);
            } else {
                segs[i].gpa = r->gpa;
                segs[i].off = r->file_off;
                segs[i].size = r->size;
                nseg = i + 1u;
            }
        }
        km_sort_segs(segs, nseg);
    } else {
        /* error already recorded */
    }
    if (st == KM_OK) {
        /* cppcheck-suppress misra-c2012-11.5 ; mmap returns void *, docs/misra-deviations.md */
        st = km_add_segs(m, (volatile uint8_t *)base, segs, nseg, writable, err);
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

static uint64_t km_le(const uint8_t *p, uint32_t width)
{
    uint64_t v = 0u;
    for (uint32_t i = 0u; i < width; i++) {
        uint32_t shift = 8u * i;
        v |= (uint64_t)p[i] << shift;
    }
    return v;
}

/* Parse the program headers of an ELF64 little-endian core into segments. */
static km_status km_parse_core(const uint8_t *f, uint64_t flen, km_seg *segs, uint32_t *nseg,
                               km_error *err)
{
    km_status st = KM_OK;
    uint64_t phoff = 0u;
    uint64_t phnum = 0u;
    uint32_t n = 0u;
    static const uint8_t km_elf_magic[4] = {0x7Fu, (uint8_t)'E', (uint8_t)'L', (uint8_t)'F'};

    if ((flen < KM_ELF_EHDR_SIZE) || (memcmp(f, km_elf_magic, sizeof(km_elf_magic)) != 0)) {
        st = km_error_set(err, KM_ERR_BAD_DATA, 0u, KM_NO_INDEX, 0);
    } else if ((f[4] != KM_ELF_CLASS64) || (f[5] != KM_ELF_DATA_LSB)) {
        st = km_error_set(err, KM_ERR_UNSUPPORTED, 4u, KM_NO_INDEX, 0);
    } else if (km_le(&f[16], 2u) != KM_ELF_ET_CORE) {
        st = km_error_set(err, KM_ERR_BAD_DATA, 16u, KM_NO_INDEX, 0);
    } else if (km_le(&f[54], 2u) != KM_ELF_PHDR_SIZE) {
        st = km_error_set(err, KM_ERR_BAD_DATA, 54u, KM_NO_INDEX, 0);
    } else {
        phoff = km_le(&f[32], 8u);
        phnum = km_le(&f[56], 2u);
        if (phnum == KM_ELF_PN_XNUM) {
            /* More than 0xfffe headers: the count is section 0's sh_info. */
            uint64_t shoff = km_le(&f[40], 8u);
            if ((shoff > flen) || ((flen - shoff) < KM_ELF_SHDR_SIZE)) {
                st = km_error_set(err, KM_ERR_BAD_DATA, 40u, KM_NO_INDEX, 0);
            } else {
                phnum = km_le(&f[shoff + 44u], 4u);
            }
        }
    }
    if ((st == KM_OK) && ((phnum > KM_ELF_MAX_PHDRS) || (phoff > flen) ||
                          ((phnum * KM_ELF_PHDR_SIZE) > (flen - phoff)))) {
        st = km_error_set(err, KM_ERR_BAD_DATA, phoff, KM_NO_INDEX, 0);
    }
    for (uint64_t i = 0u; (st == KM_OK) && (i < phnum); i++) {
        const uint8_t *ph = &f[phoff + (i * KM_ELF_PHDR_SIZE)];
        uint64_t off = km_le(&ph[8], 8u);
        uint64_t paddr = km_le(&ph[24], 8u);
        uint64_t filesz = km_le(&ph[32], 8u);
        if ((km_le(ph, 4u) != KM_ELF_PT_LOAD) || (filesz == 0u)) {
            continue;
        }
        if ((off > flen) || (filesz > (flen - off))) {
            st = km_error_set(err, KM_ERR_BAD_DATA, paddr, (uint32_t)i, 0);
        } else if ((n > 0u) && ((segs[n - 1u].gpa + segs[n - 1u].size) == paddr) &&
                   ((segs[n - 1u].off + segs[n - 1u].size) == off)) {
            segs[n - 1u].size += filesz; /* contiguous in PA and file: merge */
        } else if (n >= KM_MEM_MAX_REGIONS) {
            st = km_error_set(err, KM_ERR_CAPACITY, paddr, (uint32_t)i, 0);
        } else {
            segs[n].gpa = paddr;
            segs[n].off = off;
            segs[n].size = filesz;
            n++;
        }
    }
    if (st == KM_OK) {
        km_sort_segs(segs, n);
        /* kdump cores repeat the kernel image's pages in a second PT_LOAD: drop
         * a segment wholly inside the previous one; partial overlap is corrupt. */
        uint32_t kept = 0u;
        for (uint32_t i = 0u; (i < n) && (st == KM_OK); i++) {
            if (kept > 0u) {
                const km_seg *prev = &segs[kept - 1u];
                uint64_t prev_end = prev->gpa + prev->size;
                if (segs[i].gpa < prev_end) {
                    if (segs[i].size <= (prev_end - segs[i].gpa)) {
                        continue;
                    }
                    st = km_error_set(err, KM_ERR_BAD_DATA, segs[i].gpa, i, 0);
                    continue;
                }
            }
            segs[kept] = segs[i];
            kept++;
        }
        if ((st == KM_OK) && (kept == 0u)) {
            st = km_error_set(err, KM_ERR_BAD_DATA, 0u, KM_NO_INDEX, 0);
        }
        if (st == KM_OK) {
            *nseg = kept;
        }
    }
    return st;
}

km_status km_mem_open_elf_core_buffer(km_mem *m, const uint8_t *buf, size_t len, km_error *err)
{
    km_seg segs[KM_MEM_MAX_REGIONS];
    uint32_t nseg = 0u;
    km_status st;

    km_mem_init(m);
    if (buf == NULL) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_parse_core(buf, (uint64_t)len, segs, &nseg, err);
    }
    if (st == KM_OK) {
        /* cppcheck-suppress misra-c2012-11.8 ; read-only regions over a const buffer, docs/misra-deviations.md */
        st = km_add_segs(m, (volatile uint8_t *)buf, segs, nseg, false, err);
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
