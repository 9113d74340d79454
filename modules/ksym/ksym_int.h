/* ktmon: modules/ksym private declarations.
 *
 * ksym_core.c      lookups and the System.map line parser (WP: verify/wp/ksym.wp)
 * ksym_hash.c      the name hash (trusted: contract only in the proof)
 * ksym_load.c      turns collected symbols into the sorted table (radix sorts), fini
 * ksym_load_elf.c  the vmlinux loader (libelf, read-only mmap)
 * ksym_load_map.c  the System.map loader
 * ksym_error.c     error context and text
 * Only the ksym_load*.c files allocate (docs/misra-deviations.md, 21.3). */
#ifndef KTMON_KSYM_INT_H
#define KTMON_KSYM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>

#include "ktmon/ksym.h"

/* Zero bytes after the last name in a names buffer (km_ksym_hash_padded
 * reads whole 8-byte words). */
#define KM_KSYM_NAME_PAD 8u

/* Hash of the n bytes at s (n may be 0).  ksym_hash.c; trusted, tested. */
/*@ requires n > 0 ==> \valid_read(s + (0 .. n - 1));
    assigns \nothing; */
uint32_t km_ksym_hash(const char *s, size_t n);

/* The same hash of the NUL-terminated name at s, read a word at a time;
 * *len receives strlen(s).  The 8-byte word holding the NUL must be
 * readable (see KM_KSYM_NAME_PAD). */
uint32_t km_ksym_hash_padded(const char *s, size_t *len);

/* One parsed System.map line. */
typedef struct km_ksym_map_line {
    uint64_t addr;
    size_t name_start;  /* offset of the name in the text */
    size_t name_len;
    size_t next;        /* offset just past the line (its '\n', or len) */
    char type;
    bool skip;          /* blank line or undefined symbol: nothing to add */
} km_ksym_map_line;

/* Parse the line starting at text[pos] (pos < len).  KM_ERR_BAD_DATA when
 * it is not "HEX TYPE NAME" (optionally followed by '\r'); *out is written
 * on success only. */
/*@ requires len > 0 && pos < len && \valid_read(text + (0 .. len - 1)) && \valid(out);
    requires \separated(out, text + (0 .. len - 1));
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK ==> pos < out->next <= len;
    ensures \result == KM_OK && !out->skip ==>
        out->name_len >= 1 && out->name_len <= KM_KSYM_NAME_MAX &&
        out->name_start > pos && out->name_start + out->name_len <= out->next &&
        out->name_start + out->name_len <= len;
    ensures \result != KM_OK ==> *out == \old(*out); */
km_status km_ksym_parse_map_line(const char *text, size_t len, size_t pos, km_ksym_map_line *out);

/* A symbol collected by a loader before sorting.  Entries are built in
 * source order; name is an offset into the names buffer. */
typedef struct km_ksym_raw {
    km_ksym_entry *entries;  /* capacity cap, count used */
    uint32_t count;
    uint32_t cap;
} km_ksym_raw;

/* Sort the collected entries into t (takes ownership of raw->entries and of
 * names on success and on failure).  names holds names_len bytes, the last
 * one NUL, followed by KM_KSYM_NAME_PAD zero bytes. */
km_status km_ksym_build(km_ksym *t, km_ksym_raw *raw, char *names, size_t names_len,
                        km_ksym_error *err);

/* Start of a loader: clears *err, checks the arguments (KM_ERR_INVALID_ARG), empties *t, opens
 * path read-only and fstat()s it (KM_ERR_IO with errno).  On KM_OK *fd is open (the caller
 * closes it) and *sb describes it; otherwise *fd is -1.  ksym_load.c. */
km_status km_ksym_open_input(km_ksym *t, const char *path, int *fd, struct stat *sb, km_ksym_error *err);

/* Record an error (err may be NULL); returns s.  Inline so that static
 * analysers see that it returns its status argument. */
/*@ requires err == \null || \valid(err);
    assigns *err;
    ensures \result == s; */
static inline km_status km_ksym_fail(km_ksym_error *err, km_status s, km_ksym_reason reason,
                                     int32_t sys_errno, uint32_t line, uint64_t offset)
{
    if (err != NULL) {
        err->status = s;
        err->reason = reason;
        err->sys_errno = sys_errno;
        err->line = line;
        err->offset = offset;
        err->machine = 0u;
        err->expected_machine = 0u;
        err->lib_msg = NULL;
    }
    return s;
}

/* Byte copy and fill for the loaders (bounded loops the compiler turns
 * into memcpy/memset; the string.h forms are banned by the project's
 * clang-tidy profile). */
/*@ requires n > 0 ==> \valid(dst + (0 .. n - 1)) && \valid_read(src + (0 .. n - 1));
    requires \separated(dst + (0 .. n - 1), src + (0 .. n - 1));
    assigns dst[0 .. n - 1]; */
static inline void km_ksym_copy(char *dst, const char *src, size_t n)
{
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, dst[0 .. n - 1];
        loop variant n - i; */
    for (size_t i = 0u; i < n; i++) {
        dst[i] = src[i];
    }
}

/*@ requires n > 0 ==> \valid(dst + (0 .. n - 1));
    assigns dst[0 .. n - 1]; */
static inline void km_ksym_zero(char *dst, size_t n)
{
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, dst[0 .. n - 1];
        loop variant n - i; */
    for (size_t i = 0u; i < n; i++) {
        dst[i] = '\0';
    }
}

#endif /* KTMON_KSYM_INT_H */
