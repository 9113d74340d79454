/* ktmon: bounded text helpers of hal/qemu (see text.h). */
#include "text.h"

#include <string.h>

int32_t km_txt_hexval(char c)
{
    int32_t v = -1;
    if ((c >= '0') && (c <= '9')) {
        v = (int32_t)c - (int32_t)'0';
    } else if ((c >= 'a') && (c <= 'f')) {
        v = ((int32_t)c - (int32_t)'a') + 10;
    } else if ((c >= 'A') && (c <= 'F')) {
        v = ((int32_t)c - (int32_t)'A') + 10;
    } else {
        v = -1;
    }
    return v;
}

bool km_txt_find_byte(const char *s, size_t len, char c, size_t *at)
{
    bool found = false;
    size_t i = 0u;
    while ((i < len) && !found) {
        if (s[i] == c) {
            found = true;
        } else {
            i++;
        }
    }
    if (found) {
        *at = i;
    }
    return found;
}

bool km_txt_find(const char *s, size_t len, size_t from, const char *needle, size_t *at)
{
    bool found = false;
    size_t nlen = strlen(needle);
    size_t i = from;
    if ((nlen > 0u) && (from <= len)) {
        while (((len - i) >= nlen) && !found) {
            if (km_txt_span_starts(&s[i], len - i, needle)) {
                found = true;
            } else {
                i++;
            }
        }
    }
    if (found) {
        *at = i;
    }
    return found;
}

bool km_txt_span_starts(const char *s, size_t n, const char *lit)
{
    size_t i = 0u;
    bool same = true;
    while (same && (lit[i] != '\0')) {
        if ((i >= n) || (s[i] != lit[i])) {
            same = false;
        } else {
            i++;
        }
    }
    return same;
}

bool km_txt_span_is(const char *s, size_t n, const char *lit)
{
    return (strlen(lit) == n) && km_txt_span_starts(s, n, lit);
}

/* v * base + digit, saturated at UINT64_MAX. */
static uint64_t km_txt_acc(uint64_t v, uint64_t base, uint64_t digit)
{
    uint64_t r = UINT64_MAX;
    if (v <= ((UINT64_MAX - digit) / base)) {
        r = (v * base) + digit;
    }
    return r;
}

size_t km_txt_parse_hex(const char *s, size_t len, uint64_t *out)
{
    size_t i = 0u;
    uint64_t v = 0u;
    bool more = true;
    while (more && (i < len)) {
        int32_t d = km_txt_hexval(s[i]);
        if (d < 0) {
            more = false;
        } else {
            v = km_txt_acc(v, 16u, (uint64_t)d);
            i++;
        }
    }
    if (i > 0u) {
        *out = v;
    }
    return i;
}

/* Digit value of c in base (10 or 16), -1 if c is no such digit. */
static int32_t km_txt_digit(char c, uint32_t base)
{
    int32_t d = km_txt_hexval(c);
    if ((d >= 0) && ((uint32_t)d >= base)) {
        d = -1;
    }
    return d;
}

static bool km_txt_is_space(char c)
{
    return (c == ' ') || (c == '\t') || (c == '\n') || (c == '\v') || (c == '\f') || (c == '\r');
}

void km_txt_scan_number(const char *s, size_t len, uint32_t base, km_txt_number *n)
{
    size_t i = 0u;
    bool more = true;
    n->any = false;
    n->neg = false;
    n->overflow = false;
    n->mag = 0u;
    while ((i < len) && km_txt_is_space(s[i])) {
        i++;
    }
    if ((i < len) && ((s[i] == '-') || (s[i] == '+'))) {
        n->neg = (s[i] == '-');
        i++;
    }
    /* "0x" counts as a prefix only when a hex digit follows; otherwise the 0 is the number */
    if ((base == 16u) && ((i + 2u) < len) && (s[i] == '0') && ((s[i + 1u] == 'x') || (s[i + 1u] == 'X')) &&
        (km_txt_hexval(s[i + 2u]) >= 0)) {
        i += 2u;
    }
    while (more && (i < len)) {
        int32_t d = km_txt_digit(s[i], base);
        if (d < 0) {
            more = false;
        } else {
            if (n->overflow || (n->mag > ((UINT64_MAX - (uint64_t)d) / (uint64_t)base))) {
                n->overflow = true; /* the value stays saturated */
                n->mag = UINT64_MAX;
            } else {
                n->mag = (n->mag * (uint64_t)base) + (uint64_t)d;
            }
            n->any = true;
            i++;
        }
    }
}

uint64_t km_txt_strtou64(const char *s, size_t len, uint32_t base)
{
    km_txt_number n;
    uint64_t v = 0u;
    km_txt_scan_number(s, len, base, &n);
    if (!n.any) {
        v = 0u;
    } else if (n.overflow) {
        v = UINT64_MAX;
    } else if (n.neg && (n.mag != 0u)) {
        v = (UINT64_MAX - n.mag) + 1u; /* -mag modulo 2^64, as strtoull negates */
    } else {
        v = n.mag;
    }
    return v;
}

void km_txt_init(km_txt *t, char *buf, size_t cap)
{
    t->buf = buf;
    t->cap = cap;
    t->len = 0u;
    t->truncated = (cap == 0u);
    if (cap > 0u) {
        buf[0] = '\0';
    }
}

/* Append n characters of s (which need not be NUL-terminated). */
static void km_txt_put(km_txt *t, const char *s, size_t n)
{
    if (t->truncated || (n >= (t->cap - t->len))) {
        t->truncated = true;
    } else {
        for (size_t i = 0u; i < n; i++) {
            t->buf[t->len + i] = s[i];
        }
        t->len += n;
        t->buf[t->len] = '\0';
    }
}

void km_txt_chr(km_txt *t, char c)
{
    km_txt_put(t, &c, 1u);
}

void km_txt_str(km_txt *t, const char *s)
{
    km_txt_put(t, s, strlen(s));
}

/* Digits of v in base (10 or 16), most significant first, at least min_digits of them. */
static void km_txt_num(km_txt *t, uint64_t v, uint64_t base, uint32_t min_digits)
{
    static const char digits[] = "0123456789abcdef";
    char out[20];         /* 20 digits hold UINT64_MAX in base 10; min_digits is capped to that */
    size_t n = 0u;        /* digits written, at the end of out */
    uint64_t rest = v;
    bool more = true;
    while (more) {
        out[sizeof(out) - 1u - n] = digits[rest % base];
        rest /= base;
        n++;
        more = (n < sizeof(out)) && ((rest != 0u) || (n < (size_t)min_digits));
    }
    km_txt_put(t, &out[sizeof(out) - n], n);
}

void km_txt_hex(km_txt *t, uint64_t v, uint32_t min_digits)
{
    km_txt_num(t, v, 16u, min_digits);
}

void km_txt_dec(km_txt *t, uint64_t v)
{
    km_txt_num(t, v, 10u, 1u);
}

bool km_txt_ok(const km_txt *t)
{
    return !t->truncated;
}
