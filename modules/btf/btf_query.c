/* ktmon: BTF queries: member paths, sizes, enumerators, batch resolvers.
 *
 * Every walk over BTF has a fixed bound: modifier/typedef/array chains
 * KM_BTF_MAX_HOPS, anonymous-member nesting KM_BTF_MAX_NEST (an explicit
 * stack, no recursion), members examined KM_BTF_MAX_VISITS.  Every record
 * and string is read through the bounds-checked accessors of btf_parse.c.
 * Proved by WP with btf_parse.c (verify/wp/btf.wp).  Nothing here allocates. */
#include <string.h>

#include "btf_int.h"

/* One component of a member path: path[start .. start+len-1]. */
typedef struct km_btf_comp {
    uint32_t start;
    uint32_t len;
} km_btf_comp;


/*@ assigns \nothing; */
static bool km_btf_is_ident_char(char c)
{
    return ((c >= 'a') && (c <= 'z')) || ((c >= 'A') && (c <= 'Z')) ||
           ((c >= '0') && (c <= '9')) || (c == '_');
}

/*@ assigns \nothing; */
static bool km_btf_is_modifier(uint32_t kind)
{
    return (kind == (uint32_t)KM_BTF_KIND_TYPEDEF) || (kind == (uint32_t)KM_BTF_KIND_VOLATILE) ||
           (kind == (uint32_t)KM_BTF_KIND_CONST) || (kind == (uint32_t)KM_BTF_KIND_RESTRICT) ||
           (kind == (uint32_t)KM_BTF_KIND_TYPE_TAG);
}

/*@ assigns \nothing; */
static bool km_btf_is_composite(uint32_t kind)
{
    return (kind == (uint32_t)KM_BTF_KIND_STRUCT) || (kind == (uint32_t)KM_BTF_KIND_UNION);
}

/*@ assigns \nothing; */
static bool km_btf_is_enum(uint32_t kind)
{
    return (kind == (uint32_t)KM_BTF_KIND_ENUM) || (kind == (uint32_t)KM_BTF_KIND_ENUM64);
}

/* Clear an error record before an operation. */
/*@ requires err == \null || \valid(err);
    assigns *err; */
static void km_btf_clear(km_btf_error *err)
{
    (void)km_btf_fail(err, KM_OK, KM_BTF_R_NONE, 0u, 0u);
}

/* Fail with a bad-data reason met while reading type id. */
/*@ requires err == \null || \valid(err);
    assigns *err;
    ensures \result == KM_ERR_BAD_DATA; */
static km_status km_btf_bad(km_btf_error *err, km_btf_reason why, uint32_t id)
{
    return km_btf_fail(err, KM_ERR_BAD_DATA, why, id, 0u);
}

/* Hand an error recorded in a local record to the caller (err may be NULL).
 * Functions with loops record errors locally and copy them once at the end,
 * so their loops never write caller memory. */
/*@ requires err == \null || \valid(err);
    requires \valid_read(le);
    requires err != \null ==> \separated(err, le);
    assigns *err; */
static void km_btf_err_out(km_btf_error *err, const km_btf_error *le)
{
    if (err != NULL) {
        *err = *le;
    }
}

/* Copy the BTF name at off into err->context ("(anonymous)" if empty). */
/*@ requires km_btf_ok(b) && \valid(err) && km_btf_err_sep(b, err);
    assigns err->context[0 .. KM_BTF_ERR_NAME - 1]; */
static void km_btf_err_btf_name(const km_btf *b, km_btf_error *err, uint32_t off)
{
    char *dst = err->context;
    const uint8_t *s = NULL;
    uint32_t room = 0u;
    if ((off != 0u) && (km_btf_str(b, off, &s, &room) == KM_OK)) {
        uint32_t k = 0u;
        /*@ loop invariant 0 <= k < KM_BTF_ERR_NAME && k < room;
            loop assigns k, dst[0 .. KM_BTF_ERR_NAME - 1];
            loop variant room - k; */
        while (((k + 1u) < KM_BTF_ERR_NAME) && ((k + 1u) < room) && (s[k] != 0u)) {
            dst[k] = (char)s[k];
            k++;
        }
        dst[k] = '\0';
    } else {
        km_btf_err_copy(dst, "(anonymous)", 11u);
    }
}

/* Copy (the start of) a caller's string into err->name. */
/*@ requires err == \null || \valid(err);
    requires s == \null || valid_read_string(s);
    requires err != \null && s != \null ==> \separated(err, s + (0 .. strlen(s)));
    assigns err->name[0 .. KM_BTF_ERR_NAME - 1]; */
static void km_btf_err_arg(km_btf_error *err, const char *s)
{
    if ((err != NULL) && (s != NULL)) {
        size_t n = strlen(s);
        uint32_t m = KM_BTF_ERR_NAME;
        if (n < (size_t)KM_BTF_ERR_NAME) {
            m = (uint32_t)n;
        }
        km_btf_err_copy(err->name, s, m);
    }
}

/* Split a path into identifier components separated by '.'. */
/*@ requires len <= KM_BTF_MAX_PATH * (KM_BTF_NAME_MAX + 1);
    requires \valid_read(path + (0 .. len));
    requires \valid(comps + (0 .. KM_BTF_MAX_PATH - 1)) && \valid(ncomp) && \valid(bad);
    requires \separated(ncomp, bad, comps + (0 .. KM_BTF_MAX_PATH - 1));
    assigns comps[0 .. KM_BTF_MAX_PATH - 1], *ncomp, *bad;
    ensures \result ==> 1 <= *ncomp <= KM_BTF_MAX_PATH;
    ensures \result ==> \forall integer i; 0 <= i < *ncomp ==>
        1 <= comps[i].len <= KM_BTF_NAME_MAX && comps[i].start + comps[i].len <= len; */
static bool km_btf_split_path(const char *path, uint32_t len, km_btf_comp *comps, uint32_t *ncomp,
                              uint32_t *bad)
{
    bool ok = true;
    uint32_t n = 0u;
    uint32_t start = 0u;
    uint32_t i = 0u;
    /*@ loop invariant 0 <= start <= i <= len + 1;
        loop invariant 0 <= n <= KM_BTF_MAX_PATH;
        loop invariant ok ==> start <= len || i == len + 1;
        loop invariant \forall integer j; 0 <= j < n ==>
            1 <= comps[j].len <= KM_BTF_NAME_MAX && comps[j].start + comps[j].len <= len;
        loop assigns i, n, start, ok, comps[0 .. KM_BTF_MAX_PATH - 1];
        loop variant len + 1 - i + (ok ? 1 : 0); */
    while (ok && (i <= len)) {
        if ((i == len) || (path[i] == '.')) {
            uint32_t clen = i - start;
            if ((clen == 0u) || (clen > KM_BTF_NAME_MAX) || (n >= KM_BTF_MAX_PATH)) {
                ok = false;
            } else {
                comps[n].start = start;
                comps[n].len = clen;
                n++;
                start = i + 1u;
            }
        } else if (!km_btf_is_ident_char(path[i])) {
            ok = false;
        } else {
            /* part of an identifier */
        }
        if (ok) {
            i++;
        }
    }
    *ncomp = n;
    *bad = n;
    return ok && (n >= 1u);
}

/* Follow typedef/const/volatile/restrict/type-tag links from id. */
/*@ requires km_btf_ok(b) && \valid(out_id) && \valid(tv) && \separated(out_id, tv, b);
    requires km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, out_id, tv);
    assigns *out_id, *tv, *err;
    ensures \result == KM_OK ==> tv->layer < b->nlayers;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA; */
static km_status km_btf_peel(const km_btf *b, uint32_t id, uint32_t *out_id, km_btf_tv *tv,
                             km_btf_error *err)
{
    km_status st = KM_OK;
    uint32_t cur = id;
    uint32_t hops = 0u;
    bool done = false;
    km_btf_tv t = {0u, 0u, 0u, 0u, 0u};
    km_btf_reason why = KM_BTF_R_NONE;
    km_btf_error le;
    /*@ loop invariant 0 <= hops <= KM_BTF_MAX_HOPS;
        loop invariant st == KM_OK || st == KM_ERR_BAD_DATA;
        loop invariant done ==> st == KM_OK && t.layer < b->nlayers;
        loop assigns st, cur, hops, done, t, why, le;
        loop variant KM_BTF_MAX_HOPS - hops + (done || st != KM_OK ? 0 : 1); */
    while ((st == KM_OK) && !done) {
        if (km_btf_type(b, cur, &t, &why) != KM_OK) {
            st = km_btf_bad(&le, why, cur);
        } else if (!km_btf_is_modifier(km_btf_kind_of(t.info))) {
            done = true;
        } else if (hops >= KM_BTF_MAX_HOPS) {
            st = km_btf_bad(&le, KM_BTF_R_LOOP, cur);
        } else {
            cur = t.st;
            hops++;
        }
    }
    if (st == KM_OK) {
        /*@ assert t.layer < b->nlayers; */
        *out_id = cur;
        *tv = t;
    } else {
        km_btf_err_out(err, &le);
    }
    return st;
}

/* Size in bytes of type id (arrays: elements x element size). */
/*@ requires km_btf_ok(b) && \valid(size);
    requires km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, size);
    assigns *size, *err;
    ensures \result != KM_OK ==> *size == \old(*size); */
static km_status km_btf_size_id(const km_btf *b, uint32_t id, uint32_t *size, km_btf_error *err)
{
    km_status st = KM_OK;
    uint64_t mult = 1u;
    uint64_t total = 0u;
    uint32_t cur = id;
    uint32_t hops = 0u;
    bool done = false;
    km_btf_tv t = {0u, 0u, 0u, 0u, 0u};
    km_btf_reason why = KM_BTF_R_NONE;
    km_btf_error le;
    /*@ loop invariant 0 <= hops <= KM_BTF_MAX_HOPS;
        loop invariant mult <= UINT32_MAX;
        loop invariant done ==> st == KM_OK && total <= UINT32_MAX;
        loop assigns st, mult, total, cur, hops, done, t, why, le;
        loop variant KM_BTF_MAX_HOPS - hops + (done || st != KM_OK ? 0 : 1); */
    while ((st == KM_OK) && !done) {
        if (km_btf_type(b, cur, &t, &why) != KM_OK) {
            st = km_btf_bad(&le, why, cur);
        } else {
            uint32_t kind = km_btf_kind_of(t.info);
            if ((kind == (uint32_t)KM_BTF_KIND_INT) || km_btf_is_composite(kind) ||
                km_btf_is_enum(kind) || (kind == (uint32_t)KM_BTF_KIND_FLOAT) ||
                (kind == (uint32_t)KM_BTF_KIND_DATASEC) || (kind == (uint32_t)KM_BTF_KIND_PTR)) {
                uint64_t unit = (kind == (uint32_t)KM_BTF_KIND_PTR) ? (uint64_t)b->ptr_size
                                                                     : (uint64_t)t.st;
                uint64_t prod = mult * unit;
                if (prod > UINT32_MAX) {
                    st = km_btf_fail(&le, KM_ERR_OVERFLOW, KM_BTF_R_OVERFLOW, cur, prod);
                } else {
                    total = prod;
                    done = true;
                }
            } else if (hops >= KM_BTF_MAX_HOPS) {
                st = km_btf_bad(&le, KM_BTF_R_LOOP, cur);
            } else if (km_btf_is_modifier(kind)) {
                cur = t.st;
                hops++;
            } else if (kind == (uint32_t)KM_BTF_KIND_ARRAY) {
                uint32_t elem = 0u;
                uint32_t nelems = 0u;
                if ((km_btf_ext(b, &t, 0u, &elem) != KM_OK) ||
                    (km_btf_ext(b, &t, 8u, &nelems) != KM_OK)) {
                    st = km_btf_bad(&le, KM_BTF_R_TRUNCATED, cur);
                } else if ((mult * (uint64_t)nelems) > UINT32_MAX) {
                    st = km_btf_fail(&le, KM_ERR_OVERFLOW, KM_BTF_R_OVERFLOW, cur,
                                     mult * (uint64_t)nelems);
                } else {
                    mult = mult * (uint64_t)nelems;
                    cur = elem;
                    hops++;
                }
            } else {
                st = km_btf_fail(&le, KM_ERR_UNSUPPORTED, KM_BTF_R_NO_SIZE, cur, 0u);
                le.kind = kind;
            }
        }
    }
    if (st == KM_OK) {
        *size = (uint32_t)total;
    } else {
        km_btf_err_out(err, &le);
    }
    return st;
}

/* First index of a[0 .. n-1] (ascending) whose value is >= h. */
/*@ requires n > 0 ==> \valid_read(a + (0 .. n - 1));
    assigns \nothing;
    ensures 0 <= \result <= n; */
static uint32_t km_btf_lower_bound(const uint32_t *a, uint32_t n, uint32_t h)
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

/* Lowest type id named name[0 .. n-1] of kind `kind` (0: any indexed kind). */
/*@ requires km_btf_ok(b) && \valid(id);
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    assigns *id;
    ensures !\result ==> *id == \old(*id); */
static bool km_btf_lookup(const km_btf *b, const char *name, uint32_t n, uint32_t kind,
                          uint32_t *id)
{
    uint32_t h = km_btf_hash_chars(name, n);
    bool found = false;
    uint32_t found_id = 0u;
    uint32_t li = 0u;
    /*@ loop invariant 0 <= li <= b->nlayers;
        loop assigns li, found, found_id;
        loop variant b->nlayers - li + (found ? 0 : 1); */
    while ((li < b->nlayers) && !found) {
        const km_btf_layer *l = &b->layers[li];
        uint32_t j = km_btf_lower_bound(l->name_hash, l->named, h);
        /*@ loop invariant 0 <= j <= l->named;
            loop assigns j, found, found_id;
            loop variant l->named - j + (found ? 0 : 1); */
        while ((j < l->named) && (l->name_hash[j] == h) && !found) {
            km_btf_tv tv;
            km_btf_reason why = KM_BTF_R_NONE;
            uint32_t tid = l->name_ids[j];
            if ((km_btf_type(b, tid, &tv, &why) == KM_OK) &&
                ((kind == 0u) || (km_btf_kind_of(tv.info) == kind)) &&
                km_btf_name_eq(b, tv.name_off, name, n)) {
                found_id = tid;
                found = true;
            } else {
                j++;
            }
        }
        if (!found) {
            li++;
        }
    }
    if (found) {
        *id = found_id;
    }
    return found;
}

/* A named type for the start of a path or for sizeof: struct, union,
 * typedef, enum, enum64, int, float (in that order of preference). */
/*@ requires km_btf_ok(b) && \valid(id);
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    requires km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, id);
    assigns *id, *err;
    ensures \result == KM_OK || \result == KM_ERR_NO_TYPE; */
static km_status km_btf_root(const km_btf *b, const char *name, uint32_t n, uint32_t *id,
                             km_btf_error *err)
{
    static const uint32_t km_btf_root_kinds[7] = {
        (uint32_t)KM_BTF_KIND_STRUCT, (uint32_t)KM_BTF_KIND_UNION, (uint32_t)KM_BTF_KIND_TYPEDEF,
        (uint32_t)KM_BTF_KIND_ENUM,   (uint32_t)KM_BTF_KIND_ENUM64, (uint32_t)KM_BTF_KIND_INT,
        (uint32_t)KM_BTF_KIND_FLOAT};
    km_status st = KM_ERR_NO_TYPE;
    uint32_t k = 0u;
    uint32_t found_id = 0u;
    /*@ loop invariant 0 <= k <= 7;
        loop invariant st == KM_OK || st == KM_ERR_NO_TYPE;
        loop assigns k, st, found_id;
        loop variant 7 - k + (st == KM_OK ? 0 : 1); */
    while ((k < 7u) && (st != KM_OK)) {
        if (km_btf_lookup(b, name, n, km_btf_root_kinds[k], &found_id)) {
            st = KM_OK;
        } else {
            k++;
        }
    }
    if (st == KM_OK) {
        *id = found_id;
    }
    if (st != KM_OK) {
        uint32_t fwd = 0u;
        km_btf_reason why = km_btf_lookup(b, name, n, (uint32_t)KM_BTF_KIND_FWD, &fwd)
                                ? KM_BTF_R_FWD_ONLY
                                : KM_BTF_R_NO_TYPE;
        (void)km_btf_fail(err, KM_ERR_NO_TYPE, why, fwd, 0u);
        if (err != NULL) {
            err->index = 0u;
            km_btf_err_copy(err->name, name, n);
        }
    }
    return st;
}

/* Find member name[0 .. n-1] in the struct/union ctv, looking through
 * anonymous struct/union members.  *mtype, *mbits (bit offset from the
 * start of ctv) and *bitsize (kind_flag bitfield size, else 0). */
/*@ requires km_btf_ok(b) && \valid_read(ctv) && ctv->layer < b->nlayers;
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    requires \valid(mtype) && \valid(mbits) && \valid(bitsize) && \separated(mtype, mbits, bitsize);
    requires km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, mtype, mbits, bitsize, ctv);
    assigns *mtype, *mbits, *bitsize, *err;
    ensures \result == KM_OK ==> *mbits <= KM_BTF_MAX_NEST * 0x100000000;
    ensures \result == KM_OK || \result == KM_ERR_NO_TYPE || \result == KM_ERR_BAD_DATA; */
static km_status km_btf_find_member(const km_btf *b, const km_btf_tv *ctv, const char *name,
                                    uint32_t n, uint32_t *mtype, uint64_t *mbits, uint32_t *bitsize,
                                    km_btf_error *err)
{
    /* The DFS stack, one array per field (kept flat for the proof). */
    km_btf_tv s_tv[KM_BTF_MAX_NEST];
    uint32_t s_next[KM_BTF_MAX_NEST];
    uint32_t s_vlen[KM_BTF_MAX_NEST];
    uint64_t s_bits[KM_BTF_MAX_NEST];
    uint32_t depth = 1u;
    uint32_t visits = 0u;
    bool found = false;
    km_status st = KM_OK;
    uint32_t f_type = 0u;
    uint64_t f_bits = 0u;
    uint32_t f_size = 0u;
    km_btf_error le;

    s_tv[0] = *ctv;
    s_next[0] = 0u;
    s_vlen[0] = km_btf_vlen_of(ctv->info);
    s_bits[0] = 0u;
    /*@ loop invariant 0 <= depth <= KM_BTF_MAX_NEST;
        loop invariant 0 <= visits <= KM_BTF_MAX_VISITS;
        loop invariant st == KM_OK || st == KM_ERR_BAD_DATA;
        loop invariant \forall integer q; 0 <= q < depth ==> s_tv[q].layer < b->nlayers;
        loop invariant \forall integer q; 0 <= q < depth ==> s_vlen[q] <= 65535;
        loop invariant \forall integer q; 0 <= q < depth ==> s_bits[q] <= q * 0x100000000;
        loop invariant found ==> st == KM_OK && f_bits <= KM_BTF_MAX_NEST * 0x100000000;
        loop assigns depth, visits, found, st, s_tv[0 .. KM_BTF_MAX_NEST - 1],
                     s_next[0 .. KM_BTF_MAX_NEST - 1], s_vlen[0 .. KM_BTF_MAX_NEST - 1],
                     s_bits[0 .. KM_BTF_MAX_NEST - 1], f_type, f_bits, f_size, le;
        loop variant 2 * (KM_BTF_MAX_VISITS - visits) + depth + (st == KM_OK ? 1 : 0); */
    while ((st == KM_OK) && !found && (depth > 0u)) {
        uint32_t top = depth - 1u;
        if (s_next[top] >= s_vlen[top]) {
            depth--;
        } else if (visits >= KM_BTF_MAX_VISITS) {
            st = km_btf_bad(&le, KM_BTF_R_NESTING, 0u);
        } else {
            uint32_t i = s_next[top];
            uint32_t at = 12u * i; /* member i: name, type, offset */
            uint32_t m_name = 0u;
            uint32_t m_type = 0u;
            uint32_t m_off = 0u;
            s_next[top] = i + 1u;
            visits++;
            if ((km_btf_ext(b, &s_tv[top], at, &m_name) != KM_OK) ||
                (km_btf_ext(b, &s_tv[top], at + 4u, &m_type) != KM_OK) ||
                (km_btf_ext(b, &s_tv[top], at + 8u, &m_off) != KM_OK)) {
                st = km_btf_bad(&le, KM_BTF_R_TRUNCATED, 0u);
            } else {
                /* kind_flag: bits 0-23 the bit offset, 24-31 the bitfield size */
                uint32_t bitoff32 = m_off;
                uint32_t bsz = 0u;
                if (km_btf_kflag_of(s_tv[top].info)) {
                    bitoff32 = m_off % 0x1000000u;
                    bsz = m_off / 0x1000000u;
                }
                uint64_t bits = s_bits[top] + (uint64_t)bitoff32;
                if (m_name != 0u) {
                    if (km_btf_name_eq(b, m_name, name, n)) {
                        f_type = m_type;
                        f_bits = bits;
                        f_size = bsz;
                        found = true;
                    }
                } else {
                    uint32_t pid = 0u;
                    km_btf_tv ptv = {0u, 0u, 0u, 0u, 0u};
                    st = km_btf_peel(b, m_type, &pid, &ptv, &le);
                    if ((st == KM_OK) && km_btf_is_composite(km_btf_kind_of(ptv.info))) {
                        if (depth >= KM_BTF_MAX_NEST) {
                            st = km_btf_bad(&le, KM_BTF_R_NESTING, pid);
                        } else {
                            s_tv[depth] = ptv;
                            s_next[depth] = 0u;
                            s_vlen[depth] = km_btf_vlen_of(ptv.info);
                            s_bits[depth] = bits;
                            depth++;
                        }
                    }
                }
            }
        }
    }
    if ((st == KM_OK) && !found) {
        st = km_btf_fail(&le, KM_ERR_NO_TYPE, KM_BTF_R_NO_MEMBER, 0u, 0u);
    }
    if (st == KM_OK) {
        *mtype = f_type;
        *mbits = f_bits;
        *bitsize = f_size;
    } else {
        km_btf_err_out(err, &le);
    }
    return st;
}

/* The member (or type) a split path names. */
/*@ requires km_btf_ok(b) && \valid_read(path + (0 .. len));
    requires 1 <= ncomp <= KM_BTF_MAX_PATH && \valid_read(comps + (0 .. ncomp - 1));
    requires \forall integer i; 0 <= i < ncomp ==>
        1 <= comps[i].len <= KM_BTF_NAME_MAX && comps[i].start + comps[i].len <= len;
    requires \valid(out);
    requires km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, out);
    assigns *out, *err;
    ensures \result != KM_OK ==> *out == \old(*out); */
static km_status km_btf_member_comps(const km_btf *b, const char *path, uint32_t len,
                                     const km_btf_comp *comps, uint32_t ncomp, km_btf_member_info *out,
                                     km_btf_error *err)
{
    uint32_t cur = 0u;
    uint64_t bits = 0u;
    uint32_t bitsize = 0u;
    km_btf_error le;
    km_status st = km_btf_root(b, &path[comps[0].start], comps[0].len, &cur, &le);
    uint32_t c = 1u;
    (void)len;
    /*@ loop invariant 1 <= c <= ncomp;
        loop invariant bits <= (c - 1) * (KM_BTF_MAX_NEST + 1) * 0x100000000;
        loop assigns c, cur, bits, bitsize, st, le;
        loop variant ncomp - c; */
    while ((st == KM_OK) && (c < ncomp)) {
        uint32_t pid = 0u;
        km_btf_tv ptv = {0u, 0u, 0u, 0u, 0u};
        st = km_btf_peel(b, cur, &pid, &ptv, &le);
        if (st == KM_OK) {
            uint32_t kind = km_btf_kind_of(ptv.info);
            if (!km_btf_is_composite(kind)) {
                km_btf_reason why = (kind == (uint32_t)KM_BTF_KIND_PTR) ? KM_BTF_R_POINTER
                                                                        : KM_BTF_R_NOT_COMPOSITE;
                st = km_btf_fail(&le, KM_ERR_NO_TYPE, why, pid, 0u);
                le.index = c - 1u;
                le.kind = kind;
                km_btf_err_copy(le.name, &path[comps[c - 1u].start], comps[c - 1u].len);
            } else {
                uint32_t mtype = 0u;
                uint64_t mbits = 0u;
                uint32_t msz = 0u;
                st = km_btf_find_member(b, &ptv, &path[comps[c].start], comps[c].len, &mtype,
                                        &mbits, &msz, &le);
                if (st == KM_OK) {
                    bits += mbits;
                    cur = mtype;
                    bitsize = msz;
                    c++;
                } else {
                    le.index = c;
                    le.type_id = pid;
                    km_btf_err_copy(le.name, &path[comps[c].start], comps[c].len);
                    km_btf_err_btf_name(b, &le, ptv.name_off);
                }
            }
        }
    }
    uint32_t size = 0u;
    uint32_t pid = 0u;
    km_btf_tv ptv = {0u, 0u, 0u, 0u, 0u};
    bool is_signed = false;
    if (st == KM_OK) {
        st = km_btf_size_id(b, cur, &size, &le);
    }
    if (st == KM_OK) {
        st = km_btf_peel(b, cur, &pid, &ptv, &le);
    }
    if (st == KM_OK) {
        uint32_t kind = km_btf_kind_of(ptv.info);
        if (kind == (uint32_t)KM_BTF_KIND_INT) {
            uint32_t enc = 0u;
            if (km_btf_ext(b, &ptv, 0u, &enc) != KM_OK) {
                st = km_btf_bad(&le, KM_BTF_R_TRUNCATED, pid);
            } else {
                uint32_t nr_bits = enc % 0x100u;
                uint32_t ioff = (enc / 0x10000u) % 0x100u;
                is_signed = (((enc / 0x1000000u) % 0x10u) % 2u) == KM_BTF_INT_SIGNED;
                /* Older BTF (no kind_flag) marks a bitfield in the int's encoding. */
                if ((ncomp > 1u) && (bitsize == 0u) &&
                    ((ioff != 0u) || ((uint64_t)nr_bits != ((uint64_t)size * 8u)))) {
                    bitsize = nr_bits;
                    bits += ioff;
                }
            }
        } else if (km_btf_is_enum(kind)) {
            is_signed = km_btf_kflag_of(ptv.info);
        } else {
            /* no sign */
        }
    }
    if ((st == KM_OK) && ((bits / 8u) > UINT32_MAX)) {
        st = km_btf_fail(&le, KM_ERR_OVERFLOW, KM_BTF_R_OVERFLOW, cur, bits);
    }
    if (st == KM_OK) {
        out->offset = (uint32_t)(bits / 8u);
        out->bit_offset = bits;
        out->size = size;
        out->bitfield_bits = bitsize;
        out->type_id = cur;
        out->kind = (km_btf_kind)km_btf_kind_of(ptv.info);
        out->is_signed = is_signed;
    } else {
        km_btf_err_out(err, &le);
    }
    return st;
}

/* Validate a name argument: non-NULL, 1 .. KM_BTF_NAME_MAX characters. */
/*@ requires s == \null || valid_read_string(s);
    requires \valid(n);
    assigns *n;
    ensures \result ==> s != \null && 1 <= *n <= KM_BTF_NAME_MAX && *n == strlen(s) &&
                        \valid_read(s + (0 .. *n)); */
static bool km_btf_name_arg(const char *s, uint32_t *n)
{
    bool ok = false;
    if (s != NULL) {
        size_t len = strlen(s);
        if ((len >= 1u) && (len <= (size_t)KM_BTF_NAME_MAX)) {
            *n = (uint32_t)len;
            ok = true;
        }
    }
    return ok;
}

/* Check b and split path; *len receives strlen(path). */
/*@ requires b == \null || \valid_read(b);
    requires path == \null || valid_read_string(path);
    requires \valid(comps + (0 .. KM_BTF_MAX_PATH - 1)) && \valid(ncomp) && \valid(plen);
    requires \separated(ncomp, plen, comps + (0 .. KM_BTF_MAX_PATH - 1));
    requires err == \null || (\valid(err) && \separated(err, ncomp, plen, comps + (0 .. KM_BTF_MAX_PATH - 1)));
    requires b != \null ==> km_btf_err_ok(b, err);
    requires err != \null && path != \null ==> \separated(err, path + (0 .. strlen(path)));
    assigns comps[0 .. KM_BTF_MAX_PATH - 1], *ncomp, *plen, *err;
    ensures \result == KM_OK ==> km_btf_ok(b) && 1 <= *ncomp <= KM_BTF_MAX_PATH &&
        *plen == strlen(path) && \valid_read(path + (0 .. *plen)) &&
        (\forall integer i; 0 <= i < *ncomp ==>
            1 <= comps[i].len <= KM_BTF_NAME_MAX && comps[i].start + comps[i].len <= *plen); */
static km_status km_btf_prepare(const km_btf *b, const char *path, km_btf_comp *comps,
                                uint32_t *ncomp, uint32_t *plen, km_btf_error *err)
{
    km_status st = KM_OK;
    uint32_t bad = 0u;
    km_btf_clear(err);
    if ((b == NULL) || (path == NULL)) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
    } else if ((b->nlayers == 0u) || (b->nlayers > KM_BTF_MAX_LAYERS)) {
        st = km_btf_fail(err, KM_ERR_STATE, KM_BTF_R_INVALID_ARG, 0u, 0u);
    } else {
        size_t n = strlen(path);
        if ((n > ((size_t)KM_BTF_MAX_PATH * ((size_t)KM_BTF_NAME_MAX + 1u))) ||
            !km_btf_split_path(path, (uint32_t)n, comps, ncomp, &bad)) {
            st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_BAD_PATH, 0u, 0u);
            if (err != NULL) {
                err->index = bad;
            }
            km_btf_err_arg(err, path);
        } else {
            *plen = (uint32_t)n;
        }
    }
    return st;
}

km_status km_btf_member(const km_btf *b, const char *path, km_btf_member_info *out, km_btf_error *err)
{
    km_btf_comp comps[KM_BTF_MAX_PATH];
    for (uint32_t i = 0u; i < KM_BTF_MAX_PATH; i++) {
        comps[i].start = 0u;
        comps[i].len = 0u;
    }
    uint32_t ncomp = 0u;
    uint32_t plen = 0u;
    km_status st = km_btf_prepare(b, path, comps, &ncomp, &plen, err);
    if (st == KM_OK) {
        st = km_btf_member_comps(b, path, plen, comps, ncomp, out, err);
    }
    return st;
}

km_status km_btf_offsetof(const km_btf *b, const char *path, uint32_t *offset, km_btf_error *err)
{
    km_btf_member_info m;
    km_status st = km_btf_member(b, path, &m, err);
    if ((st == KM_OK) && ((m.bitfield_bits != 0u) || ((m.bit_offset % 8u) != 0u))) {
        st = km_btf_fail(err, KM_ERR_UNSUPPORTED, KM_BTF_R_BITFIELD, m.type_id, m.bit_offset);
        if (err != NULL) {
            err->kind = m.bitfield_bits;
        }
        km_btf_err_arg(err, path);
    }
    if (st == KM_OK) {
        *offset = m.offset;
    }
    return st;
}

km_status km_btf_sizeof(const km_btf *b, const char *type_name, uint32_t *size, km_btf_error *err)
{
    km_status st = KM_OK;
    uint32_t n = 0u;
    uint32_t id = 0u;
    km_btf_clear(err);
    if ((b == NULL) || (size == NULL) || !km_btf_name_arg(type_name, &n) ||
        (strchr(type_name, '.') != NULL)) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_BAD_PATH, 0u, 0u);
        km_btf_err_arg(err, type_name);
    } else if ((b->nlayers == 0u) || (b->nlayers > KM_BTF_MAX_LAYERS)) {
        st = km_btf_fail(err, KM_ERR_STATE, KM_BTF_R_INVALID_ARG, 0u, 0u);
    } else {
        /* A type name may hold spaces ("unsigned int"); it is not a path. */
        st = km_btf_root(b, type_name, n, &id, err);
        if (st == KM_OK) {
            st = km_btf_size_id(b, id, size, err);
        }
    }
    return st;
}

km_status km_btf_find_type(const km_btf *b, const char *name, km_btf_kind kind, uint32_t *id)
{
    km_status st = KM_ERR_NO_TYPE;
    if ((b == NULL) || (name == NULL) || (id == NULL)) {
        st = KM_ERR_INVALID_ARG;
    } else if ((b->nlayers == 0u) || (b->nlayers > KM_BTF_MAX_LAYERS)) {
        st = KM_ERR_STATE;
    } else {
        size_t n = strlen(name);
        uint32_t k = (uint32_t)kind;
        if ((n > 0u) && (n <= (size_t)UINT32_MAX) && ((k == 0u) || km_btf_kind_indexed(k)) &&
            km_btf_lookup(b, name, (uint32_t)n, k, id)) {
            st = KM_OK;
        }
    }
    return st;
}

km_status km_btf_type_info(const km_btf *b, uint32_t id, km_btf_kind *kind, const char **name,
                           uint32_t *size)
{
    km_status st = KM_OK;
    km_btf_tv tv = {0u, 0u, 0u, 0u, 0u};
    km_btf_reason why = KM_BTF_R_NONE;
    const uint8_t *s = NULL;
    uint32_t room = 0u;
    uint32_t sz = 0u;
    if ((b == NULL) || (kind == NULL) || (name == NULL) || (size == NULL)) {
        st = KM_ERR_INVALID_ARG;
    } else if ((b->nlayers == 0u) || (b->nlayers > KM_BTF_MAX_LAYERS)) {
        st = KM_ERR_STATE;
    } else if (km_btf_type(b, id, &tv, &why) != KM_OK) {
        st = (why == KM_BTF_R_BAD_TYPE_ID) ? KM_ERR_NO_TYPE : KM_ERR_BAD_DATA;
    } else if (km_btf_str(b, tv.name_off, &s, &room) != KM_OK) {
        st = KM_ERR_BAD_DATA;
    } else {
        if (km_btf_size_id(b, id, &sz, NULL) != KM_OK) {
            sz = 0u;
        }
    }
    if (st == KM_OK) {
        *kind = (km_btf_kind)km_btf_kind_of(tv.info);
        *name = (const char *)s;
        *size = sz;
    }
    return st;
}

/* ---------------------------------------------------------------- enums */

/* Look for enumerator name[0 .. n-1] in enum tv; *found says if it is there. */
/*@ requires km_btf_ok(b) && \valid_read(tv) && tv->layer < b->nlayers;
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    requires \valid(out) && \valid(found) && \separated(out, found, tv);
    assigns *out, *found;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA; */
static km_status km_btf_enum_scan(const km_btf *b, const km_btf_tv *tv, uint32_t id,
                                  const char *name, uint32_t n, km_btf_enum_val *out, bool *found)
{
    km_status st = KM_OK;
    uint32_t kind = km_btf_kind_of(tv->info);
    uint32_t vlen = km_btf_vlen_of(tv->info);
    uint32_t stride = 8u; /* ENUM: name, value */
    if (kind == (uint32_t)KM_BTF_KIND_ENUM64) {
        stride = 12u; /* name, lo32, hi32 */
    }
    bool sig = km_btf_kflag_of(tv->info);
    uint32_t i = 0u;
    bool hit = false;
    uint64_t v = 0u;
    /*@ loop invariant 0 <= i <= vlen;
        loop assigns i, st, hit, v;
        loop variant vlen - i + (hit || st != KM_OK ? 0 : 1); */
    while ((st == KM_OK) && !hit && (i < vlen)) {
        uint32_t noff = 0u;
        uint32_t lo = 0u;
        uint32_t hi = 0u;
        if ((km_btf_ext(b, tv, stride * i, &noff) != KM_OK) ||
            (km_btf_ext(b, tv, (stride * i) + 4u, &lo) != KM_OK) ||
            ((stride == 12u) && (km_btf_ext(b, tv, (stride * i) + 8u, &hi) != KM_OK))) {
            st = KM_ERR_BAD_DATA;
        } else if (km_btf_name_eq(b, noff, name, n)) {
            if (stride == 12u) {
                v = (uint64_t)lo + ((uint64_t)hi * 0x100000000u);
            } else if (sig && (lo >= 0x80000000u)) {
                v = (uint64_t)lo + 0xFFFFFFFF00000000u; /* sign-extend a negative s32 */
            } else {
                v = (uint64_t)lo;
            }
            hit = true;
        } else {
            i++;
        }
    }
    if (hit) {
        out->value = v;
        out->is_signed = sig;
        out->size = tv->st;
        out->enum_id = id;
    }
    *found = hit;
    return st;
}

/* Search every enum of b for name; duplicates must agree. */
/*@ requires km_btf_ok(b);
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    requires \valid(out);
    requires km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, out);
    assigns *out, *err; */
static km_status km_btf_enum_any(const km_btf *b, const char *name, uint32_t n, km_btf_enum_val *out,
                                 km_btf_error *err)
{
    km_status st = KM_OK;
    uint32_t total = km_btf_total(b);
    uint32_t id = 1u;
    bool have = false;
    km_btf_enum_val first = {0u, false, 0u, 0u};
    km_btf_error le;
    /*@ loop invariant 1 <= id;
        loop assigns id, st, have, first, le;
        loop variant total - id; */
    while ((st == KM_OK) && (id < total)) {
        km_btf_tv tv = {0u, 0u, 0u, 0u, 0u};
        km_btf_reason why = KM_BTF_R_NONE;
        if (km_btf_type(b, id, &tv, &why) != KM_OK) {
            st = km_btf_bad(&le, why, id);
        } else if (km_btf_is_enum(km_btf_kind_of(tv.info))) {
            km_btf_enum_val v = {0u, false, 0u, 0u};
            bool found = false;
            if (km_btf_enum_scan(b, &tv, id, name, n, &v, &found) != KM_OK) {
                st = km_btf_bad(&le, KM_BTF_R_TRUNCATED, id);
            } else if (found && !have) {
                first = v;
                have = true;
            } else if (found && (v.value != first.value)) {
                st = km_btf_fail(&le, KM_ERR_MISMATCH, KM_BTF_R_AMBIGUOUS, id, 0u);
            } else {
                /* absent here, or the same value again */
            }
        } else {
            /* not an enum */
        }
        id++;
    }
    if ((st == KM_OK) && !have) {
        st = km_btf_fail(&le, KM_ERR_NO_TYPE, KM_BTF_R_NO_ENUMERATOR, 0u, 0u);
    }
    if (st == KM_OK) {
        *out = first;
    } else {
        km_btf_err_out(err, &le);
    }
    return st;
}

/* The enum named ename (or a typedef of one) and name's value in it. */
/*@ requires km_btf_ok(b);
    requires en > 0 ==> \valid_read(ename + (0 .. en - 1));
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    requires \valid(out);
    requires km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, out);
    assigns *out, *err; */
static km_status km_btf_enum_in(const km_btf *b, const char *ename, uint32_t en, const char *name,
                                uint32_t n, km_btf_enum_val *out, km_btf_error *err)
{
    km_status st = KM_OK;
    uint32_t id = 0u;
    uint32_t eid = 0u;
    km_btf_tv tv = {0u, 0u, 0u, 0u, 0u};
    bool found = false;
    if (!km_btf_lookup(b, ename, en, (uint32_t)KM_BTF_KIND_ENUM, &id) &&
        !km_btf_lookup(b, ename, en, (uint32_t)KM_BTF_KIND_ENUM64, &id) &&
        !km_btf_lookup(b, ename, en, (uint32_t)KM_BTF_KIND_TYPEDEF, &id)) {
        st = km_btf_fail(err, KM_ERR_NO_TYPE, KM_BTF_R_NO_ENUM, 0u, 0u);
    } else {
        st = km_btf_peel(b, id, &eid, &tv, err);
        if ((st == KM_OK) && !km_btf_is_enum(km_btf_kind_of(tv.info))) {
            st = km_btf_fail(err, KM_ERR_NO_TYPE, KM_BTF_R_NO_ENUM, eid, 0u);
        }
    }
    if (st == KM_OK) {
        km_btf_enum_val v = {0u, false, 0u, 0u};
        if (km_btf_enum_scan(b, &tv, eid, name, n, &v, &found) != KM_OK) {
            st = km_btf_bad(err, KM_BTF_R_TRUNCATED, eid);
        } else if (!found) {
            st = km_btf_fail(err, KM_ERR_NO_TYPE, KM_BTF_R_NO_ENUMERATOR, eid, 0u);
        } else {
            *out = v;
        }
    }
    return st;
}

/* km_btf_enum_value's body (also used by the enum resolver). */
/*@ requires b == \null || km_btf_usable(b);
    requires enum_name == \null || valid_read_string(enum_name);
    requires name == \null || valid_read_string(name);
    requires out == \null || \valid(out);
    requires err == \null || \valid(err);
    requires b != \null ==> km_btf_err_ok(b, err);
    requires err != \null && out != \null ==> \separated(err, out);
    requires err != \null && name != \null ==> \separated(err, name + (0 .. strlen(name)));
    requires err != \null && enum_name != \null ==>
        \separated(err, enum_name + (0 .. strlen(enum_name)));
    assigns *out, *err; */
static km_status km_btf_enum_lookup(const km_btf *b, const char *enum_name, const char *name,
                                    km_btf_enum_val *out, km_btf_error *err)
{
    km_status st = KM_OK;
    uint32_t n = 0u;
    uint32_t en = 0u;
    km_btf_clear(err);
    if ((b == NULL) || (out == NULL) || !km_btf_name_arg(name, &n) ||
        ((enum_name != NULL) && !km_btf_name_arg(enum_name, &en))) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
    } else if ((b->nlayers == 0u) || (b->nlayers > KM_BTF_MAX_LAYERS)) {
        st = km_btf_fail(err, KM_ERR_STATE, KM_BTF_R_INVALID_ARG, 0u, 0u);
    } else if (enum_name == NULL) {
        st = km_btf_enum_any(b, name, n, out, err);
    } else {
        st = km_btf_enum_in(b, enum_name, en, name, n, out, err);
    }
    if (st != KM_OK) {
        km_btf_err_arg(err, name);
        if ((err != NULL) && (enum_name != NULL)) {
            size_t en_len = strlen(enum_name);
            uint32_t m = KM_BTF_ERR_NAME;
            if (en_len < (size_t)KM_BTF_ERR_NAME) {
                m = (uint32_t)en_len;
            }
            km_btf_err_copy(err->context, enum_name, m);
        }
    }
    return st;
}

km_status km_btf_enum_value(const km_btf *b, const char *enum_name, const char *name,
                            km_btf_enum_val *out, km_btf_error *err)
{
    return km_btf_enum_lookup(b, enum_name, name, out, err);
}

/* ---------------------------------------------------------------- batch resolvers */

/* Resolve one field; *present false (and KM_OK) when it is simply absent
 * (no such struct or member) and not required. */
static km_status km_btf_field_one(const km_btf *b, const km_btf_field *f, km_btf_member_info *m,
                                  bool *present, km_btf_error *err)
{
    km_status st = km_btf_member(b, f->path, m, err);
    *present = (st == KM_OK);
    if ((st == KM_OK) && (f->path != NULL) && (strchr(f->path, '.') != NULL) &&
        ((m->bitfield_bits != 0u) || ((m->bit_offset % 8u) != 0u))) {
        st = km_btf_fail(err, KM_ERR_UNSUPPORTED, KM_BTF_R_BITFIELD, m->type_id, m->bit_offset);
        if (err != NULL) {
            err->kind = m->bitfield_bits;
        }
        km_btf_err_arg(err, f->path);
        *present = false;
    }
    if ((st == KM_ERR_NO_TYPE) && !f->required) {
        st = KM_OK; /* optional and absent */
        km_btf_clear(err);
    }
    return st;
}

km_status km_btf_resolve_fields(const km_btf *b, km_btf_field *fields, uint32_t n,
                                km_btf_error *err)
{
    km_status st = KM_OK;
    km_btf_clear(err);
    if ((b == NULL) || ((fields == NULL) && (n > 0u))) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
    }
    /* First pass: check every entry, write nothing. */
    for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
        km_btf_member_info m;
        bool present = false;
        st = km_btf_field_one(b, &fields[i], &m, &present, err);
        if ((st != KM_OK) && (err != NULL)) {
            err->entry = i;
        }
    }
    /* Second pass: the same lookups (they cannot fail now), writing. */
    for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
        km_btf_member_info m;
        bool present = false;
        st = km_btf_field_one(b, &fields[i], &m, &present, err);
        fields[i].found = present;
        if (present) {
            if (fields[i].offset != NULL) {
                *fields[i].offset = m.offset;
            }
            if (fields[i].size != NULL) {
                *fields[i].size = m.size;
            }
        }
    }
    return st;
}

static km_status km_btf_enum_one(const km_btf *b, const km_btf_enum_field *f, km_btf_enum_val *v,
                                 bool *present, km_btf_error *err)
{
    km_status st = km_btf_enum_lookup(b, f->enum_name, f->name, v, err);
    *present = (st == KM_OK);
    if ((st == KM_ERR_NO_TYPE) && !f->required) {
        st = KM_OK;
        km_btf_clear(err);
    }
    return st;
}

km_status km_btf_resolve_enums(const km_btf *b, km_btf_enum_field *fields, uint32_t n,
                               km_btf_error *err)
{
    km_status st = KM_OK;
    km_btf_clear(err);
    if ((b == NULL) || ((fields == NULL) && (n > 0u))) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
    }
    for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
        km_btf_enum_val v;
        bool present = false;
        st = km_btf_enum_one(b, &fields[i], &v, &present, err);
        if ((st != KM_OK) && (err != NULL)) {
            err->entry = i;
        }
    }
    for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
        km_btf_enum_val v = {0u, false, 0u, 0u};
        bool present = false;
        st = km_btf_enum_one(b, &fields[i], &v, &present, err);
        fields[i].found = present;
        if (present && (fields[i].value != NULL)) {
            *fields[i].value = v.value;
        }
    }
    return st;
}
