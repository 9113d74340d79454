/* ktmon: parsers for QEMU monitor text (no I/O, no allocation). */
#include <stdbool.h>
#include <string.h>

#include "ktmon/qemu.h"
#include "text.h"

/* At most 16 hex digits at s (a 64-bit value): returns the count consumed, 0
 * if there are none or more than 16. */
static size_t km_parse_hex(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0u;
    size_t n = km_txt_parse_hex(s, len, &v);
    if (n > 16u) {
        n = 0u; /* more than 16 digits: not a 64-bit value */
    }
    if (n > 0u) {
        *out = v;
    }
    return n;
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
    size_t n;
    while ((i < len) && (line[i] == ' ')) {
        i++;
    }
    n = km_parse_hex(&line[i], len - i, &start);
    if ((n > 0u) && ((i + n) < len) && (line[i + n] == '-')) {
        i += n + 1u;
        n = km_parse_hex(&line[i], len - i, &end);
    } else {
        n = 0u;
    }
    if (n > 0u) {
        size_t ram = 0u;
        i += n;
        if (km_txt_find(line, len, i, ", ram): ", &ram) && (end >= start)) {
            size_t j = ram + 8u;
            bool name_ok = ((j + blen) <= len) && km_txt_span_starts(&line[j], len - j, backend) &&
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
    size_t total = strlen(text);
    size_t p = 0u;    /* start of the current line in text */
    while ((st == KM_OK) && !stop && (p < total)) {
        const char *line = &text[p];
        size_t rest = total - p;
        size_t nl = 0u;
        bool has_nl = km_txt_find_byte(line, rest, '\n', &nl);
        size_t len = has_nl ? nl : rest;
        size_t at = 0u;
        if ((len > 0u) && (line[len - 1u] == '\r')) {
            len--;
        }
        if (km_txt_span_starts(line, len, "FlatView")) {
            if (seen_view) {
                stop = true;
            }
            in_view = false;
        } else if ((len >= 13u) && km_txt_find(line, len, 0u, "AS \"memory\"", &at)) {
            in_view = true;
            seen_view = true;
        } else if (in_view) {
            km_qemu_ram_range r;
            if (km_mtree_line(line, len, backend, &r)) {
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
        if (has_nl) {
            p += nl + 1u;
        } else {
            p = total;
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
