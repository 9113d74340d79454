/* ktmon: parsers for QEMU monitor text (no I/O, no allocation). */
#include <stdbool.h>
#include <string.h>

#include "ktmon/qemu.h"

static int km_hex_digit(char c)
{
    int v = -1;
    if ((c >= '0') && (c <= '9')) {
        v = c - '0';
    } else if ((c >= 'a') && (c <= 'f')) {
        v = (c - 'a') + 10;
    } else if ((c >= 'A') && (c <= 'F')) {
        v = (c - 'A') + 10;
    } else {
        v = -1;
    }
    return v;
}

/* Parse up to 16 hex digits at s; returns the count of digits consumed (0 = none). */
static size_t km_parse_hex(const char *s, size_t len, uint64_t *out)
{
    size_t i = 0u;
    uint64_t v = 0u;
    while ((i < len) && (i < 16u) && (km_hex_digit(s[i]) >= 0)) {
        v = (v << 4) | (uint64_t)km_hex_digit(s[i]);
        i++;
    }
    if ((i < len) && (km_hex_digit(s[i]) >= 0)) {
        i = 0u; /* more than 16 digits: not a 64-bit value */
    }
    if (i > 0u) {
        *out = v;
    }
    return i;
}

/* One mtree line: "  START-END (prio N, ram): NAME[ @OFFSET][ ...]". */
static bool km_mtree_line(const char *line, size_t len, const char *backend, km_qemu_ram_range *r)
{
    bool ok = false;
    size_t i = 0u;
    uint64_t start = 0u;
    uint64_t end = 0u;
    uint64_t off = 0u;
    size_t blen = strlen(backend);
    while ((i < len) && (line[i] == ' ')) {
        i++;
    }
    size_t n = km_parse_hex(&line[i], len - i, &start);
    if ((n > 0u) && ((i + n) < len) && (line[i + n] == '-')) {
        i += n + 1u;
        n = km_parse_hex(&line[i], len - i, &end);
        if (n > 0u) {
            i += n;
            const char *ram = strstr(&line[i], ", ram): ");
            if ((ram != NULL) && ((size_t)(ram - line) < len) && (end >= start)) {
                size_t j = (size_t)(ram - line) + 8u;
                bool name_ok = ((j + blen) <= len) && (memcmp(&line[j], backend, blen) == 0) &&
                               (((j + blen) == len) || (line[j + blen] == ' '));
                if (name_ok) {
                    j += blen;
                    if (((j + 2u) < len) && (line[j] == ' ') && (line[j + 1u] == '@')) {
                        (void)km_parse_hex(&line[j + 2u], len - (j + 2u), &off);
                    }
                    if ((end - start) < UINT64_MAX) {
                        r->gpa = start;
                        r->size = (end - start) + 1u;
                        r->file_off = off;
                        ok = true;
                    }
                }
            }
        }
    }
    return ok;
}

km_status km_qemu_parse_mtree(const char *text, const char *backend, km_qemu_ram_range *out, uint32_t cap,
                              uint32_t *n)
{
    km_status st = KM_OK;
    uint32_t count = 0u;
    bool in_view = false;
    bool seen_view = false;
    bool stop = false;
    const char *p = text;
    while ((st == KM_OK) && !stop && (*p != '\0')) {
        const char *nl = strchr(p, '\n');
        size_t len = (nl != NULL) ? (size_t)(nl - p) : strlen(p);
        if ((len > 0u) && (p[len - 1u] == '\r')) {
            len--;
        }
        if ((len >= 8u) && (memcmp(p, "FlatView", 8u) == 0)) {
            if (seen_view) {
                stop = true;
            }
            in_view = false;
        } else if ((len >= 13u) && (strstr(p, "AS \"memory\"") != NULL) &&
                   ((size_t)(strstr(p, "AS \"memory\"") - p) < len)) {
            in_view = true;
            seen_view = true;
        } else if (in_view) {
            km_qemu_ram_range r;
            if (km_mtree_line(p, len, backend, &r)) {
                if (count >= cap) {
                    st = KM_ERR_CAPACITY;
                } else {
                    out[count] = r;
                    count++;
                }
            }
        } else {
            /* outside the memory flat view */
        }
        p = (nl != NULL) ? &nl[1] : &p[len];
        if ((nl == NULL) && (*p == '\r')) {
            p++;
        }
    }
    if (st == KM_OK) {
        /* sort by GPA, then merge pieces contiguous in both GPA and file */
        for (uint32_t a = 1u; a < count; a++) {
            km_qemu_ram_range key = out[a];
            uint32_t b = a;
            while ((b > 0u) && (out[b - 1u].gpa > key.gpa)) {
                out[b] = out[b - 1u];
                b--;
            }
            out[b] = key;
        }
        uint32_t m = 0u;
        for (uint32_t a = 0u; a < count; a++) {
            if ((m > 0u) && ((out[m - 1u].gpa + out[m - 1u].size) == out[a].gpa) &&
                ((out[m - 1u].file_off + out[m - 1u].size) == out[a].file_off)) {
                out[m - 1u].size += out[a].size;
            } else {
                out[m] = out[a];
                m++;
            }
        }
        if (m == 0u) {
            st = KM_ERR_NO_SYMBOL;
        } else {
            *n = m;
        }
    }
    return st;
}

/* Value of "NAME=hex" in text, where NAME starts a word. */
static km_status km_find_reg(const char *text, const char *name, uint64_t *val)
{
    km_status st = KM_ERR_NO_SYMBOL;
    size_t nl = strlen(name);
    const char *p = strstr(text, name);
    while ((st == KM_ERR_NO_SYMBOL) && (p != NULL)) {
        bool word_start = (p == text) || (p[-1] == ' ') || (p[-1] == '\n');
        if (word_start && (p[nl] == '=')) {
            uint64_t v = 0u;
            size_t d = km_parse_hex(&p[nl + 1u], strlen(&p[nl + 1u]), &v);
            st = (d > 0u) ? KM_OK : KM_ERR_BAD_DATA;
            if (st == KM_OK) {
                *val = v;
            }
        } else {
            p = strstr(&p[1], name);
        }
    }
    return st;
}

km_status km_qemu_parse_x86_regs(const char *text, uint64_t *cr3, uint64_t *cr4)
{
    uint64_t a = 0u;
    uint64_t b = 0u;
    km_status st = km_find_reg(text, "CR3", &a);
    if (st == KM_OK) {
        st = km_find_reg(text, "CR4", &b);
    }
    if (st == KM_OK) {
        *cr3 = a;
        *cr4 = b;
    }
    return st;
}
