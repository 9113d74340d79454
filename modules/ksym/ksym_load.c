/* ktmon: build the sorted symbol table from the symbols a loader collected.
 *
 * Two least-significant-digit radix sorts (8-bit digits, stable):
 *   - (name hash, source index): 4 passes; equal hashes keep source order;
 *   - (address, entry index): up to 8 passes, a pass is skipped when every
 *     key has the same digit (kernel addresses share their top bytes).
 * A comparison sort of 229k names took ~75 ms (TOOLCHAIN.md); these take a
 * few milliseconds and never compare strings.  Runs at load time only;
 * allocates the table and two temporary arrays. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ksym_int.h"

typedef struct km_ksym_pair {
    uint64_t key;
    uint32_t val;
    uint32_t pad;
} km_ksym_pair;

#define KM_KSYM_RADIX_BITS 8u
#define KM_KSYM_RADIX_SIZE 256u
#define KM_KSYM_RADIX_MAX_DIGITS 8u

/* Stable sort of a[0 .. n-1] by bits [0, 8*digits) of key; tmp has room for
 * n pairs.  Returns whichever of a and tmp holds the result. */
static km_ksym_pair *km_ksym_radix(km_ksym_pair *a, km_ksym_pair *tmp, uint32_t n, uint32_t digits)
{
    uint32_t count[KM_KSYM_RADIX_MAX_DIGITS][KM_KSYM_RADIX_SIZE];
    km_ksym_pair *src = a;
    km_ksym_pair *dst = tmp;

    for (uint32_t d = 0u; d < KM_KSYM_RADIX_MAX_DIGITS; d++) {
        for (uint32_t b = 0u; b < KM_KSYM_RADIX_SIZE; b++) {
            count[d][b] = 0u;
        }
    }
    /* One pass computes every digit's histogram. */
    for (uint32_t i = 0u; i < n; i++) {
        uint64_t k = a[i].key;
        for (uint32_t d = 0u; d < digits; d++) {
            uint32_t shift = d * KM_KSYM_RADIX_BITS;
            count[d][(uint32_t)((k >> shift) & 0xFFu)]++;
        }
    }
    for (uint32_t d = 0u; d < digits; d++) {
        uint32_t shift = d * KM_KSYM_RADIX_BITS;
        bool trivial = false;
        uint32_t sum = 0u;
        for (uint32_t b = 0u; b < KM_KSYM_RADIX_SIZE; b++) {
            uint32_t c = count[d][b];
            if (c == n) {
                trivial = true; /* every key has this digit: the pass would not move anything */
            }
            count[d][b] = sum; /* bucket start */
            sum += c;
        }
        if (!trivial) {
            for (uint32_t i = 0u; i < n; i++) {
                uint32_t b = (uint32_t)((src[i].key >> shift) & 0xFFu);
                dst[count[d][b]] = src[i];
                count[d][b]++;
            }
            km_ksym_pair *t = src;
            src = dst;
            dst = t;
        }
    }
    return src;
}

km_status km_ksym_build(km_ksym *t, km_ksym_raw *raw, char *names, size_t names_len,
                        km_ksym_error *err)
{
    km_status st = KM_OK;
    uint32_t n = raw->count;
    km_ksym_pair *pairs = NULL;
    km_ksym_pair *tmp = NULL;
    km_ksym_entry *entries = NULL;
    uint32_t *hashes = NULL;
    uint64_t *addrs = NULL;
    uint32_t *by_addr = NULL;
    uint32_t naddr = 0u;

    if ((n == 0u) || (names_len == 0u) || (names[names_len - 1u] != '\0')) {
        st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_NO_SYMBOLS, 0, 0u, 0u);
    } else {
        pairs = calloc((size_t)n, sizeof(*pairs));
        tmp = calloc((size_t)n, sizeof(*tmp));
        entries = calloc((size_t)n, sizeof(*entries));
        hashes = calloc((size_t)n, sizeof(*hashes));
        if ((pairs == NULL) || (tmp == NULL) || (entries == NULL) || (hashes == NULL)) {
            st = km_ksym_fail(err, KM_ERR_NO_MEMORY, KM_KSYM_R_NO_MEMORY, 0, 0u, 0u);
        }
    }
    if (st == KM_OK) {
        for (uint32_t i = 0u; i < n; i++) {
            size_t len = 0u;
            pairs[i].key = (uint64_t)km_ksym_hash_padded(&names[raw->entries[i].name], &len);
            pairs[i].val = i;
            pairs[i].pad = 0u;
            if (raw->entries[i].in_addr != 0u) {
                naddr++;
            }
        }
        const km_ksym_pair *sorted = km_ksym_radix(pairs, tmp, n, 4u);
        for (uint32_t i = 0u; i < n; i++) {
            entries[i] = raw->entries[sorted[i].val];
            hashes[i] = (uint32_t)sorted[i].key;
        }
        if (naddr > 0u) {
            addrs = calloc((size_t)naddr, sizeof(*addrs));
            by_addr = calloc((size_t)naddr, sizeof(*by_addr));
            if ((addrs == NULL) || (by_addr == NULL)) {
                st = km_ksym_fail(err, KM_ERR_NO_MEMORY, KM_KSYM_R_NO_MEMORY, 0, 0u, 0u);
            }
        }
    }
    if ((st == KM_OK) && (naddr > 0u)) {
        uint32_t k = 0u;
        for (uint32_t i = 0u; i < n; i++) {
            if (entries[i].in_addr != 0u) {
                pairs[k].key = entries[i].addr;
                pairs[k].val = i;
                pairs[k].pad = 0u;
                k++;
            }
        }
        const km_ksym_pair *sorted = km_ksym_radix(pairs, tmp, naddr, KM_KSYM_RADIX_MAX_DIGITS);
        for (uint32_t i = 0u; i < naddr; i++) {
            addrs[i] = sorted[i].key;
            by_addr[i] = sorted[i].val;
        }
    }
    free(pairs);
    free(tmp);
    free(raw->entries);
    raw->entries = NULL;
    raw->count = 0u;
    raw->cap = 0u;
    if (st == KM_OK) {
        t->entries = entries;
        t->name_hash = hashes;
        t->addr_sorted = addrs;
        t->by_addr = by_addr;
        t->count = n;
        t->addr_count = naddr;
        t->names = names;
        t->names_len = names_len;
    } else {
        free(entries);
        free(hashes);
        free(addrs);
        free(by_addr);
        free(names);
    }
    return st;
}

void km_ksym_fini(km_ksym *t)
{
    if (t != NULL) {
        free(t->entries);
        free(t->name_hash);
        free(t->addr_sorted);
        free(t->by_addr);
        free(t->names);
        km_ksym_init(t);
    }
}

km_status km_ksym_open_input(km_ksym *t, const char *path, int *fd, struct stat *sb, km_ksym_error *err)
{
    km_status st = KM_OK;
    *fd = -1;
    (void)km_ksym_fail(err, KM_OK, KM_KSYM_R_NONE, 0, 0u, 0u);
    if (t == NULL) {
        st = km_ksym_fail(err, KM_ERR_INVALID_ARG, KM_KSYM_R_INVALID_ARG, 0, 0u, 0u);
    } else {
        km_ksym_init(t);
        if (path == NULL) {
            st = km_ksym_fail(err, KM_ERR_INVALID_ARG, KM_KSYM_R_INVALID_ARG, 0, 0u, 0u);
        }
    }
    if (st == KM_OK) {
        int f = open(path, O_RDONLY | O_CLOEXEC);
        int open_errno = errno;
        if (f < 0) {
            st = km_ksym_fail(err, KM_ERR_IO, KM_KSYM_R_OPEN, (int32_t)open_errno, 0u, 0u);
        } else if (fstat(f, sb) != 0) {
            int fstat_errno = errno;
            st = km_ksym_fail(err, KM_ERR_IO, KM_KSYM_R_OPEN, (int32_t)fstat_errno, 0u, 0u);
            (void)close(f);
        } else {
            *fd = f;
        }
    }
    return st;
}
