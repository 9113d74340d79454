/* ktmon: the layout of the file backends (proved by WP, verify/wp/mem_layout.wp).
 *
 * No function here allocates or makes a system call: the ELF core parser
 * reads a byte buffer the caller has mapped, and every header field is
 * range-checked before it is used as an offset or a count. */
#include "mem_layout.h"

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

/* Little-endian fields, as + and * so that WP bounds them without shifts. */
/*@ requires \valid_read(p + (0 .. 1));
    assigns \nothing;
    ensures \result <= 0xFFFF; */
static uint32_t km_le16(const uint8_t *p)
{
    return (uint32_t)p[0] + ((uint32_t)p[1] * 0x100u);
}

/*@ requires \valid_read(p + (0 .. 3));
    assigns \nothing;
    ensures \result <= 0xFFFFFFFF; */
static uint32_t km_le32(const uint8_t *p)
{
    return km_le16(p) + (km_le16(&p[2]) * 0x10000u);
}

/*@ requires \valid_read(p + (0 .. 7));
    assigns \nothing; */
static uint64_t km_le64(const uint8_t *p)
{
    return (uint64_t)km_le32(p) + ((uint64_t)km_le32(&p[4]) * 0x100000000u);
}

/* Sort by GPA (insertion sort over at most KM_MEM_MAX_REGIONS entries); it
 * only moves segments, so each one stays inside the file.  Nothing relies on
 * the order for safety: the callers check it afterwards (or
 * km_mem_add_region does). */
/*@ requires n <= KM_MEM_MAX_REGIONS && \valid(segs + (0 .. n - 1));
    requires km_segs_ok(segs, n, flen);
    assigns segs[0 .. n - 1];
    ensures km_segs_ok(segs, n, flen); */
static void km_sort_segs(km_mem_seg *segs, uint32_t n, uint64_t flen)
{
    (void)flen; /* named in the contract only */
    /*@ loop invariant 1 <= i && (i <= n || n <= 1);
        loop invariant km_segs_ok(segs, n, flen);
        loop assigns i, segs[0 .. n - 1];
        loop variant n - i; */
    for (uint32_t i = 1u; i < n; i++) {
        km_mem_seg key = segs[i];
        uint32_t j = i;
        /*@ loop invariant 0 <= j <= i;
            loop invariant km_seg_ok(key, flen) && km_segs_ok(segs, n, flen);
            loop assigns j, segs[0 .. n - 1];
            loop variant j; */
        while ((j > 0u) && (segs[j - 1u].gpa > key.gpa)) {
            segs[j] = segs[j - 1u];
            j--;
        }
        segs[j] = key;
    }
}

/* Where the program headers are, from the ELF header. */
/*@ requires \valid_read(f + (0 .. flen - 1)) && \valid(phoff) && \valid(phnum);
    requires err == \null || \valid(err);
    requires \separated(phoff, phnum, f + (0 .. flen - 1));
    requires err != \null ==> \separated(err, phoff, phnum, f + (0 .. flen - 1));
    assigns *phoff, *phnum, *err;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_UNSUPPORTED;
    ensures \result == KM_OK ==> flen <= KM_MEM_MAX_SIZE && *phnum <= KM_ELF_MAX_PHDRS &&
        *phoff <= flen && *phnum * KM_ELF_PHDR_SIZE <= flen - *phoff;
    ensures \result != KM_OK && err != \null ==> err->status == \result; */
static km_status km_core_header(const uint8_t *f, uint64_t flen, uint64_t *phoff, uint64_t *phnum,
                                km_error *err)
{
    km_status st = KM_OK;
    uint64_t off = 0u;
    uint64_t num = 0u;

    if ((flen < KM_ELF_EHDR_SIZE) || (flen > KM_MEM_MAX_SIZE)) {
        st = km_error_set(err, KM_ERR_BAD_DATA, flen, KM_NO_INDEX, 0);
    } else if ((f[0] != 0x7Fu) || (f[1] != (uint8_t)'E') || (f[2] != (uint8_t)'L') ||
               (f[3] != (uint8_t)'F')) {
        st = km_error_set(err, KM_ERR_BAD_DATA, 0u, KM_NO_INDEX, 0);
    } else if ((f[4] != KM_ELF_CLASS64) || (f[5] != KM_ELF_DATA_LSB)) {
        st = km_error_set(err, KM_ERR_UNSUPPORTED, 4u, KM_NO_INDEX, 0);
    } else if (km_le16(&f[16]) != KM_ELF_ET_CORE) {
        st = km_error_set(err, KM_ERR_BAD_DATA, 16u, KM_NO_INDEX, 0);
    } else if (km_le16(&f[54]) != KM_ELF_PHDR_SIZE) {
        st = km_error_set(err, KM_ERR_BAD_DATA, 54u, KM_NO_INDEX, 0);
    } else {
        off = km_le64(&f[32]);
        num = km_le16(&f[56]);
        if (num == KM_ELF_PN_XNUM) {
            /* More than 0xfffe headers: the count is section 0's sh_info. */
            uint64_t shoff = km_le64(&f[40]);
            if ((shoff > flen) || ((flen - shoff) < KM_ELF_SHDR_SIZE)) {
                st = km_error_set(err, KM_ERR_BAD_DATA, 40u, KM_NO_INDEX, 0);
            } else {
                num = km_le32(&f[shoff + 44u]);
            }
        }
    }
    if ((st == KM_OK) &&
        ((num > KM_ELF_MAX_PHDRS) || (off > flen) || ((num * KM_ELF_PHDR_SIZE) > (flen - off)))) {
        st = km_error_set(err, KM_ERR_BAD_DATA, off, KM_NO_INDEX, 0);
    }
    if (st == KM_OK) {
        *phoff = off;
        *phnum = num;
    }
    return st;
}

/* Add PT_LOAD `ph` (GPA paddr, file bytes [off, off+filesz)) to the n
 * segments found so far: merged into the last one when it continues it in
 * both GPA and file, else appended. */
/*@ requires \valid(segs + (0 .. KM_MEM_MAX_REGIONS - 1)) && \valid(n);
    requires *n <= KM_MEM_MAX_REGIONS && km_segs_ok(segs, *n, flen) && flen <= KM_MEM_MAX_SIZE;
    requires filesz > 0;
    requires err == \null || \valid(err);
    requires \separated(segs + (0 .. KM_MEM_MAX_REGIONS - 1), n);
    requires err != \null ==> \separated(err, segs + (0 .. KM_MEM_MAX_REGIONS - 1), n);
    assigns segs[0 .. KM_MEM_MAX_REGIONS - 1], *n, *err;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_CAPACITY;
    ensures *n <= KM_MEM_MAX_REGIONS && km_segs_ok(segs, *n, flen);
    ensures \result != KM_OK && err != \null ==> err->status == \result; */
static km_status km_core_add(km_mem_seg *segs, uint32_t *n, uint64_t paddr, uint64_t off,
                             uint64_t filesz, uint64_t flen, uint32_t ph, km_error *err)
{
    km_status st = KM_OK;
    uint32_t k = *n;
    if ((off > flen) || (filesz > (flen - off)) || (paddr > (KM_MEM_GPA_LIMIT - filesz))) {
        st = km_error_set(err, KM_ERR_BAD_DATA, paddr, ph, 0);
    } else if ((k > 0u) && ((segs[k - 1u].gpa + segs[k - 1u].size) == paddr) &&
               ((segs[k - 1u].off + segs[k - 1u].size) == off)) {
        segs[k - 1u].size += filesz; /* contiguous in PA and file: merge */
    } else if (k >= KM_MEM_MAX_REGIONS) {
        st = km_error_set(err, KM_ERR_CAPACITY, paddr, ph, 0);
    } else {
        segs[k].gpa = paddr;
        segs[k].off = off;
        segs[k].size = filesz;
        *n = k + 1u;
    }
    return st;
}

/* Append s after the k segments of out, which it follows in GPA order. */
/*@ requires k < KM_MEM_MAX_REGIONS && \valid(out + (0 .. KM_MEM_MAX_REGIONS - 1));
    requires km_segs_ok(out, k, flen) && km_segs_ascending(out, k) && km_seg_ok(s, flen);
    requires k > 0 ==> out[k - 1].gpa + out[k - 1].size <= s.gpa;
    assigns out[k];
    ensures km_segs_ok(out, k + 1, flen) && km_segs_ascending(out, k + 1); */
static void km_segs_append(km_mem_seg *out, uint32_t k, km_mem_seg s, uint64_t flen)
{
    (void)flen; /* named in the contract only */
    out[k] = s;
    /*@ assert \forall integer j; 0 <= j < k ==> out[j] == \at(out[j], Pre); */
    /*@ assert out[k] == s; */
}

/* Copy the sorted segments `in` to `out` in strictly ascending, disjoint
 * order: one wholly inside the segment kept before it is dropped, a partial
 * overlap refused. */
/*@ requires n <= KM_MEM_MAX_REGIONS && \valid_read(in + (0 .. n - 1)) && \valid(kept);
    requires \valid(out + (0 .. KM_MEM_MAX_REGIONS - 1));
    requires km_segs_ok(in, n, flen);
    requires err == \null || \valid(err);
    requires \separated(in + (0 .. n - 1), out + (0 .. KM_MEM_MAX_REGIONS - 1), kept);
    requires \separated(out + (0 .. KM_MEM_MAX_REGIONS - 1), kept);
    requires err != \null ==> \separated(err, in + (0 .. n - 1), out + (0 .. KM_MEM_MAX_REGIONS - 1),
                                         kept);
    assigns out[0 .. KM_MEM_MAX_REGIONS - 1], *kept, *err;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK ==> *kept <= n && km_segs_ok(out, *kept, flen) &&
        km_segs_ascending(out, *kept);
    ensures \result != KM_OK ==> *kept == \old(*kept);
    ensures \result != KM_OK && err != \null ==> err->status == \result; */
static km_status km_segs_dedup(const km_mem_seg *in, uint32_t n, uint64_t flen, km_mem_seg *out,
                               uint32_t *kept, km_error *err)
{
    km_status st = KM_OK;
    uint32_t k = 0u;
    (void)flen; /* named in the contract only */
    /*@ loop invariant 0 <= k <= i <= n;
        loop invariant km_segs_ok(out, k, flen);
        loop invariant km_segs_ascending(out, k);
        loop invariant st == KM_OK || st == KM_ERR_BAD_DATA;
        loop invariant st != KM_OK && err != \null ==> err->status == st;
        loop assigns i, k, st, out[0 .. KM_MEM_MAX_REGIONS - 1], *err;
        loop variant n - i; */
    for (uint32_t i = 0u; (i < n) && (st == KM_OK); i++) {
        km_mem_seg s = in[i];
        bool keep = true;
        if (k > 0u) {
            uint64_t prev_end = out[k - 1u].gpa + out[k - 1u].size;
            if (s.gpa < prev_end) {
                keep = false;
                if (s.size > (prev_end - s.gpa)) {
                    st = km_error_set(err, KM_ERR_BAD_DATA, s.gpa, i, 0);
                }
            }
        }
        if (keep) {
            km_segs_append(out, k, s, flen);
            k++;
        }
    }
    if (st == KM_OK) {
        *kept = k;
    }
    return st;
}

/* Collect the PT_LOAD segments of the phnum program headers at phoff. */
/*@ requires flen <= KM_MEM_MAX_SIZE && phnum <= KM_ELF_MAX_PHDRS && phoff <= flen &&
             phnum * KM_ELF_PHDR_SIZE <= flen - phoff;
    requires \valid_read(f + (0 .. flen - 1));
    requires \valid(segs + (0 .. KM_MEM_MAX_REGIONS - 1)) && \valid(n);
    requires err == \null || \valid(err);
    requires \separated(segs + (0 .. KM_MEM_MAX_REGIONS - 1), n, f + (0 .. flen - 1));
    requires err != \null ==> \separated(err, segs + (0 .. KM_MEM_MAX_REGIONS - 1), n,
                                         f + (0 .. flen - 1));
    assigns segs[0 .. KM_MEM_MAX_REGIONS - 1], *n, *err;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_CAPACITY;
    ensures \result == KM_OK ==> *n <= KM_MEM_MAX_REGIONS && km_segs_ok(segs, *n, flen);
    ensures \result != KM_OK && err != \null ==> err->status == \result; */
static km_status km_core_collect(const uint8_t *f, uint64_t flen, uint64_t phoff, uint64_t phnum,
                                 km_mem_seg *segs, uint32_t *n, km_error *err)
{
    km_status st = KM_OK;
    uint32_t k = 0u;
    /*@ loop invariant 0 <= i <= phnum;
        loop invariant k <= KM_MEM_MAX_REGIONS && km_segs_ok(segs, k, flen);
        loop invariant st == KM_OK || st == KM_ERR_BAD_DATA || st == KM_ERR_CAPACITY;
        loop invariant st != KM_OK && err != \null ==> err->status == st;
        loop assigns i, k, st, segs[0 .. KM_MEM_MAX_REGIONS - 1], *err;
        loop variant phnum - i; */
    for (uint64_t i = 0u; (st == KM_OK) && (i < phnum); i++) {
        const uint8_t *ph = &f[phoff + (i * KM_ELF_PHDR_SIZE)];
        uint64_t filesz = km_le64(&ph[32]);
        if ((km_le32(ph) == KM_ELF_PT_LOAD) && (filesz != 0u)) {
            st = km_core_add(segs, &k, km_le64(&ph[24]), km_le64(&ph[8]), filesz, flen, (uint32_t)i,
                             err);
        }
    }
    if (st == KM_OK) {
        *n = k;
    }
    return st;
}

km_status km_mem_core_layout(const uint8_t *f, uint64_t flen, km_mem_seg *segs, uint32_t *nseg,
                             km_error *err)
{
    uint64_t phoff = 0u;
    uint64_t phnum = 0u;
    uint32_t n = 0u;
    uint32_t kept = 0u;
    km_mem_seg found[KM_MEM_MAX_REGIONS];
    km_status st = km_core_header(f, flen, &phoff, &phnum, err);

    if (st == KM_OK) {
        st = km_core_collect(f, flen, phoff, phnum, found, &n, err);
    }
    if (st == KM_OK) {
        km_sort_segs(found, n, flen);
        st = km_segs_dedup(found, n, flen, segs, &kept, err);
    }
    if ((st == KM_OK) && (kept == 0u)) {
        st = km_error_set(err, KM_ERR_BAD_DATA, 0u, KM_NO_INDEX, 0);
    }
    if (st == KM_OK) {
        *nseg = kept;
    }
    return st;
}

km_status km_mem_ram_layout(const km_mem_file_range *ranges, uint32_t nranges, uint64_t flen,
                            uint64_t ram_base, km_mem_seg *segs, uint32_t *nseg, km_error *err)
{
    km_status st = KM_OK;
    uint32_t n = 0u;
    if (nranges == 0u) {
        if ((flen == 0u) || (flen > KM_MEM_MAX_SIZE)) {
            st = km_error_set(err, KM_ERR_RANGE, ram_base, KM_NO_INDEX, 0);
        } else if (ram_base > (KM_MEM_GPA_LIMIT - flen)) {
            st = km_error_set(err, KM_ERR_OVERFLOW, ram_base, KM_NO_INDEX, 0);
        } else {
            segs[0].gpa = ram_base;
            segs[0].off = 0u;
            segs[0].size = flen;
            n = 1u;
        }
    } else {
        /*@ loop invariant 0 <= i <= nranges && n <= i;
            loop invariant st == KM_OK ==> n == i;
            loop invariant km_segs_ok(segs, n, flen);
            loop invariant st == KM_OK || st == KM_ERR_RANGE || st == KM_ERR_OVERFLOW;
            loop invariant st != KM_OK && err != \null ==> err->status == st;
            loop assigns i, n, st, segs[0 .. KM_MEM_MAX_REGIONS - 1], *err;
            loop variant nranges - i; */
        for (uint32_t i = 0u; (i < nranges) && (st == KM_OK); i++) {
            km_mem_file_range r = ranges[i];
            if ((r.size == 0u) || (r.size > KM_MEM_MAX_SIZE) || (r.file_off > flen) ||
                (r.size > (flen - r.file_off))) {
                st = km_error_set(err, KM_ERR_RANGE, r.gpa, i, 0);
            } else if (r.gpa > (KM_MEM_GPA_LIMIT - r.size)) {
                st = km_error_set(err, KM_ERR_OVERFLOW, r.gpa, i, 0);
            } else {
                segs[i].gpa = r.gpa;
                segs[i].off = r.file_off;
                segs[i].size = r.size;
                n = i + 1u;
            }
        }
        if (st == KM_OK) {
            km_sort_segs(segs, n, flen);
        }
    }
    if (st == KM_OK) {
        *nseg = n;
    }
    return st;
}

km_status km_mem_add_segs(km_mem *m, volatile uint8_t *base, uint64_t blen, const km_mem_seg *segs,
                          uint32_t n, bool writable, km_error *err)
{
    km_status st = KM_OK;
    uint32_t i = 0u;
    (void)blen; /* named in the contract only */
    /*@ loop invariant 0 <= i <= n;
        loop invariant km_mem_ok(m);
        loop invariant st == KM_OK ==> m->count == \at(m->count, Pre) + i;
        loop invariant st != KM_OK ==> i < n;
        loop invariant st == KM_OK || st == KM_ERR_INVALID_ARG || st == KM_ERR_OVERFLOW ||
                       st == KM_ERR_CAPACITY;
        loop assigns i, st, m->regions[0 .. KM_MEM_MAX_REGIONS - 1], m->count;
        loop variant n - i + (st == KM_OK ? 1 : 0); */
    while ((i < n) && (st == KM_OK)) {
        km_mem_seg s = segs[i];
        st = km_mem_add_region(m, s.gpa, s.size, &base[s.off], writable);
        if (st == KM_OK) {
            i++;
        }
    }
    if (st != KM_OK) {
        /* i is the segment that failed. */
        (void)km_error_set(err, st, segs[i].gpa, i, 0);
    }
    return st;
}
