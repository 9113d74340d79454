/* ktmon: bounded text helpers of hal/qemu (private).
 *
 * The monitor clients parse and build short protocol texts (QMP JSON lines,
 * HMP output, gdbstub packets).  These helpers do it with indexes into
 * bounded spans instead of pointer arithmetic, memchr/memcmp/strstr over
 * strings, strto* (errno) or snprintf (stdio): every search and comparison
 * states how far it may look, every build step how much room is left.
 * No allocation, no system calls. */
#ifndef KTMON_QEMU_TEXT_H
#define KTMON_QEMU_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value 0..15 of the hexadecimal digit c (either case), -1 for any other character. */
int32_t km_txt_hexval(char c);

/* Index of the first byte c in s[0 .. len): true and *at, or false (*at untouched). */
bool km_txt_find_byte(const char *s, size_t len, char c, size_t *at);

/* Index of the first occurrence of the NUL-terminated needle (length >= 1)
 * lying wholly inside s[from .. len): true and *at, or false (*at untouched). */
bool km_txt_find(const char *s, size_t len, size_t from, const char *needle, size_t *at);

/* Does the span s[0 .. n) hold exactly the NUL-terminated text lit? */
bool km_txt_span_is(const char *s, size_t n, const char *lit);

/* Does the span s[0 .. n) start with the NUL-terminated text lit? */
bool km_txt_span_starts(const char *s, size_t n, const char *lit);

/* The run of hexadecimal digits at s[0 .. len) (either case, no prefix, no
 * sign).  Returns its length (0: none) and, when that is not 0, its value in
 * *out, saturated at UINT64_MAX. */
size_t km_txt_parse_hex(const char *s, size_t len, uint64_t *out);

/* A number as strtoull/strtol read it from s[0 .. len) in base 10 or 16:
 * optional white space, an optional sign, (base 16) an optional 0x or 0X
 * before the first digit, then digits.  No errno, no locale. */
typedef struct km_txt_number {
    bool any;       /* at least one digit */
    bool neg;       /* a '-' sign */
    bool overflow;  /* the digits exceed UINT64_MAX */
    uint64_t mag;   /* their value (UINT64_MAX on overflow) */
} km_txt_number;

void km_txt_scan_number(const char *s, size_t len, uint32_t base, km_txt_number *n);

/* The value strtoull(s, NULL, base) returns for the text s[0 .. len) (base 10 or 16):
 * 0 without digits, UINT64_MAX on overflow, the negation modulo 2^64 after '-'. */
uint64_t km_txt_strtou64(const char *s, size_t len, uint32_t base);

/* A text being built into a caller's buffer.  It is always NUL-terminated
 * (cap >= 1); an append that does not fit whole appends nothing and marks
 * the text truncated, after which km_txt_ok is false. */
typedef struct km_txt {
    char *buf;
    size_t cap;     /* bytes of buf, including the NUL */
    size_t len;     /* characters before the NUL */
    bool truncated;
} km_txt;

void km_txt_init(km_txt *t, char *buf, size_t cap);
void km_txt_chr(km_txt *t, char c);
void km_txt_str(km_txt *t, const char *s);
/* Lowercase hexadecimal, at least min_digits digits (zero-padded, at most 16). */
void km_txt_hex(km_txt *t, uint64_t v, uint32_t min_digits);
void km_txt_dec(km_txt *t, uint64_t v);
bool km_txt_ok(const km_txt *t);

#endif /* KTMON_QEMU_TEXT_H */
