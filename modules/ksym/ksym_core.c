/* ktmon: symbol lookups, the name hash and the System.map line parser.
 *
 * The part of modules/ksym that WP proves (verify/wp/ksym.wp): every index
 * stays inside the table, every name comparison inside the names buffer,
 * lookups write their outputs only on success.  Nothing here allocates or
 * makes a system call. */
#include <stddef.h>
#include <string.h>

#include "ksym_int.h"

void km_ksym_init(km_ksym *t)
{
    t->entries = NULL;
    t->name_hash = NULL;
    t->addr_sorted = NULL;
    t->by_addr = NULL;
    t->count = 0u;
    t->addr_count = 0u;
    t->names = NULL;
    t->names_len = 0u;
    t->source = KM_KSYM_SOURCE_NONE;
    t->elf_machine = 0u;
    t->arch_known = false;
    t->arch = KM_ARCH_X86_64;
}

/* First index in name_hash[0 .. n-1] whose value is >= h (n if none). */
/*@ requires n <= KM_KSYM_MAX_SYMBOLS;
    requires n > 0 ==> \valid_read(a + (0 .. n - 1));
    assigns \nothing;
    ensures 0 <= \result <= n; */
static uint32_t km_ksym_lower_bound32(const uint32_t *a, uint32_t n, uint32_t h)
{
    uint32_t lo = 0u;
    uint32_t hi = n;
    /*@ loop invariant 0 <= lo <= hi <= n;
        loop assigns lo, hi;
        loop variant hi - lo; */
    while (lo < hi) {
        uint32_t mid = lo + ((hi - lo) / 2u);
        if (a[mid] < h) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* First index in a[0 .. n-1] whose value is > v (n if none). */
/*@ requires n <= KM_KSYM_MAX_SYMBOLS;
    requires n > 0 ==> \valid_read(a + (0 .. n - 1));
    assigns \nothing;
    ensures 0 <= \result <= n;
    ensures \forall integer i; 0 <= i < \result ==> 0 <= i < n; */
static uint32_t km_ksym_upper_bound64(const uint64_t *a, uint32_t n, uint64_t v)
{
    uint32_t lo = 0u;
    uint32_t hi = n;
    /*@ loop invariant 0 <= lo <= hi <= n;
        loop assigns lo, hi;
        loop variant hi - lo; */
    while (lo < hi) {
        uint32_t mid = lo + ((hi - lo) / 2u);
        if (a[mid] <= v) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Does the NUL-terminated name at t->names[off] equal name[0 .. len-1]? */
/*@ requires km_ksym_ok(t) && off < t->names_len;
    requires \valid_read(name + (0 .. len));
    assigns \nothing; */
static bool km_ksym_name_eq(const km_ksym *t, uint32_t off, const char *name, size_t len)
{
    bool eq = true;
    size_t k = 0u;
    size_t room = t->names_len - (size_t)off; /* bytes from off to the end, >= 1 */
    const char *stored = &t->names[off];
    /*@ loop invariant 0 <= k <= len;
        loop invariant k <= room;
        loop assigns k, eq;
        loop variant len - k + (eq ? 1 : 0); */
    while (eq && (k < len)) {
        if ((k >= room) || (stored[k] != name[k])) {
            eq = false;
        } else {
            k++;
        }
    }
    if (eq) {
        /* Equal so far: the stored name must end here too. */
        eq = (k < room) && (stored[k] == '\0');
    }
    return eq;
}

/*@ requires km_ksym_ok(t) && i < t->count && \valid(out);
    assigns *out; */
static void km_ksym_fill(const km_ksym *t, uint32_t i, uint32_t same, km_ksym_sym *out)
{
    const km_ksym_entry *e = &t->entries[i];
    out->name = &t->names[e->name];
    out->addr = e->addr;
    out->size = e->size;
    out->type = e->type;
    out->size_known = (t->source == KM_KSYM_SOURCE_ELF);
    out->same_name = same;
}

/* km_ksym_lookup's body (also used by km_ksym_addr). */
/*@ requires km_ksym_ok(t) && \valid(out);
    requires name == \null || valid_read_string(name);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_NO_SYMBOL || \result == KM_ERR_INVALID_ARG;
    ensures \result != KM_OK ==> *out == \old(*out); */
static km_status km_ksym_find(const km_ksym *t, const char *name, km_ksym_sym *out)
{
    km_status st = KM_ERR_NO_SYMBOL;
    if (name == NULL) {
        st = KM_ERR_INVALID_ARG;
    } else if (t->count > 0u) {
        size_t len = strlen(name);
        uint32_t h = km_ksym_hash(name, len);
        uint32_t i = km_ksym_lower_bound32(t->name_hash, t->count, h);
        uint32_t best = 0u;
        uint32_t matches = 0u;
        /* Every entry with this hash; equal names among them compete. */
        /*@ loop invariant 0 <= i <= t->count;
            loop invariant matches > 0 ==> best < t->count;
            loop invariant matches <= i;
            loop assigns i, best, matches;
            loop variant t->count - i; */
        while ((i < t->count) && (t->name_hash[i] == h)) {
            const km_ksym_entry *e = &t->entries[i];
            if (km_ksym_name_eq(t, e->name, name, len)) {
                if ((matches == 0u) || (e->rank > t->entries[best].rank) ||
                    ((e->rank == t->entries[best].rank) && (e->order > t->entries[best].order))) {
                    best = i;
                }
                matches++;
            }
            i++;
        }
        if (matches > 0u) {
            km_ksym_fill(t, best, matches - 1u, out);
            st = KM_OK;
        }
    } else {
        /* empty table: KM_ERR_NO_SYMBOL */
    }
    return st;
}

km_status km_ksym_lookup(const km_ksym *t, const char *name, km_ksym_sym *out)
{
    return km_ksym_find(t, name, out);
}

km_status km_ksym_addr(const km_ksym *t, const char *name, uint64_t *addr)
{
    km_ksym_sym s;
    km_status st = km_ksym_find(t, name, &s);
    if (st == KM_OK) {
        *addr = s.addr;
    }
    return st;
}

/* Preference among symbols at one address: one whose size covers the
 * offset (a function or object, not a zero-size marker), then global over
 * weak over local, then the first in the source. */
/*@ requires \valid_read(a) && \valid_read(b);
    assigns \nothing; */
static bool km_ksym_addr_better(const km_ksym_entry *a, const km_ksym_entry *b, uint64_t off)
{
    bool a_covers = a->size > off;
    bool b_covers = b->size > off;
    bool better;
    if (a_covers != b_covers) {
        better = a_covers;
    } else if (a->rank != b->rank) {
        better = a->rank > b->rank;
    } else {
        better = a->order < b->order;
    }
    return better;
}

km_status km_ksym_lookup_addr(const km_ksym *t, uint64_t addr, km_ksym_sym *out, uint64_t *offset)
{
    km_status st = KM_ERR_NO_SYMBOL;
    uint32_t ub = km_ksym_upper_bound64(t->addr_sorted, t->addr_count, addr);
    /* The table is sorted (km_ksym_ok), so addr_sorted[ub-1] <= addr; the
     * check keeps the subtraction below safe on its own. */
    if ((ub > 0u) && (t->addr_sorted[ub - 1u] <= addr)) {
        /* addr_sorted[ub-1] is the highest address <= addr; walk back over
         * every symbol at that address and keep the preferred one. */
        uint32_t last = ub - 1u;
        uint64_t base = t->addr_sorted[last];
        uint64_t off = addr - base;
        uint32_t best = t->by_addr[last];
        uint32_t j = last;
        /*@ loop invariant 0 <= j <= last < t->addr_count;
            loop invariant best < t->count;
            loop assigns j, best;
            loop variant j; */
        while ((j > 0u) && (t->addr_sorted[j - 1u] == base)) {
            j--;
            uint32_t c = t->by_addr[j];
            if (km_ksym_addr_better(&t->entries[c], &t->entries[best], off)) {
                best = c;
            }
        }
        km_ksym_fill(t, best, 0u, out);
        *offset = off;
        st = KM_OK;
    }
    return st;
}

uint32_t km_ksym_count(const km_ksym *t)
{
    return t->count;
}

km_status km_ksym_arch(const km_ksym *t, km_arch *arch)
{
    km_status st = KM_ERR_UNSUPPORTED;
    if (t->arch_known) {
        *arch = t->arch;
        st = KM_OK;
    }
    return st;
}

/* ---------------------------------------------------------------- System.map lines */

/*@ assigns \nothing;
    ensures \result <==> (c == ' ' || c == '\t' || c == '\r'); */
static bool km_ksym_is_blank(char c)
{
    return (c == ' ') || (c == '\t') || (c == '\r');
}

/* Value of a hex digit, or 16 for anything else. */
/*@ assigns \nothing;
    ensures 0 <= \result <= 16; */
static uint32_t km_ksym_hex_val(char c)
{
    uint32_t v = 16u;
    if ((c >= '0') && (c <= '9')) {
        v = (uint32_t)(uint8_t)c - (uint32_t)(uint8_t)'0';
    } else if ((c >= 'a') && (c <= 'f')) {
        v = ((uint32_t)(uint8_t)c - (uint32_t)(uint8_t)'a') + 10u;
    } else if ((c >= 'A') && (c <= 'F')) {
        v = ((uint32_t)(uint8_t)c - (uint32_t)(uint8_t)'A') + 10u;
    } else {
        /* not a hex digit */
    }
    return v;
}

/*@ assigns \nothing; */
static bool km_ksym_is_letter(char c)
{
    return ((c >= 'a') && (c <= 'z')) || ((c >= 'A') && (c <= 'Z'));
}

/*@ assigns \nothing; */
static bool km_ksym_is_undefined_type(char c)
{
    return (c == 'U') || (c == 'w') || (c == 'v');
}

km_status km_ksym_parse_map_line(const char *text, size_t len, size_t pos, km_ksym_map_line *out)
{
    km_status st = KM_OK;
    size_t end = pos;
    size_t next;
    size_t p = pos;
    uint64_t addr = 0u;
    char type = '?';
    size_t name_start = 0u;
    size_t name_len = 0u;
    bool skip = false;

    /*@ loop invariant pos <= end <= len;
        loop assigns end;
        loop variant len - end; */
    while ((end < len) && (text[end] != '\n')) {
        end++;
    }
    if (end < len) {
        next = end + 1u; /* past the '\n' */
    } else {
        next = len;
    }

    /*@ loop invariant pos <= p <= end;
        loop assigns p;
        loop variant end - p; */
    while ((p < end) && km_ksym_is_blank(text[p])) {
        p++;
    }
    if (p == end) {
        skip = true; /* blank line */
    } else {
        uint32_t digits = 0u;
        bool more = true;
        /*@ loop invariant pos <= p <= end;
            loop invariant 0 <= digits <= 17;
            loop invariant p == \at(p, LoopEntry) + digits;
            loop assigns p, addr, digits, more;
            loop variant end - p + (more ? 1 : 0); */
        while (more && (p < end) && (digits <= 16u)) {
            uint32_t v = km_ksym_hex_val(text[p]);
            if (v >= 16u) {
                more = false;
            } else {
                /* 16 digits fill 64 bits; a 17th makes the line malformed below. */
                if ((digits < 16u) && (addr <= (UINT64_MAX / 16u))) {
                    addr = (addr * 16u) + (uint64_t)v;
                }
                digits++;
                p++;
            }
        }
        if ((digits == 0u) && km_ksym_is_undefined_type(text[p])) {
            skip = true; /* "                 U name": no address */
        } else if ((digits == 0u) || (digits > 16u) || (p >= end) || !km_ksym_is_blank(text[p])) {
            st = KM_ERR_BAD_DATA;
        } else {
            /*@ loop invariant pos < p <= end;
                loop assigns p;
                loop variant end - p; */
            while ((p < end) && km_ksym_is_blank(text[p])) {
                p++;
            }
            if ((p >= end) || !km_ksym_is_letter(text[p])) {
                st = KM_ERR_BAD_DATA;
            } else {
                type = text[p];
                p++;
                if ((p >= end) || !km_ksym_is_blank(text[p])) {
                    st = KM_ERR_BAD_DATA;
                }
            }
        }
    }
    if ((st == KM_OK) && !skip) {
        /*@ loop invariant pos < p <= end;
            loop assigns p;
            loop variant end - p; */
        while ((p < end) && km_ksym_is_blank(text[p])) {
            p++;
        }
        name_start = p;
        /*@ loop invariant name_start <= p <= end;
            loop assigns p;
            loop variant end - p; */
        while ((p < end) && !km_ksym_is_blank(text[p]) && (text[p] != '\0')) {
            p++;
        }
        name_len = p - name_start;
        /*@ loop invariant name_start + name_len <= p <= end;
            loop assigns p;
            loop variant end - p; */
        while ((p < end) && km_ksym_is_blank(text[p])) {
            p++;
        }
        if ((name_len == 0u) || (name_len > KM_KSYM_NAME_MAX) || (p != end)) {
            st = KM_ERR_BAD_DATA; /* no name, too long, or trailing text */
        } else if (km_ksym_is_undefined_type(type)) {
            skip = true;
        } else {
            /* a symbol */
        }
    }
    if (st == KM_OK) {
        out->addr = addr;
        out->type = type;
        out->name_start = name_start;
        out->name_len = name_len;
        out->next = next;
        out->skip = skip;
    }
    return st;
}
