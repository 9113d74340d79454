/* ktmon: BTF header check, type-record walk and bounds-checked access.
 *
 * Proved by WP (verify/wp/btf.wp): every byte read lies inside the section
 * it belongs to, whatever the input; the walk terminates; outputs are
 * written only on success.  The format (kernel Documentation/bpf/btf.rst):
 * a 24-byte header {magic 0xEB9F, version 1, flags, hdr_len, type_off,
 * type_len, str_off, str_len} (offsets from the end of the header), then
 * type records of 12 bytes {name_off, info (vlen 0-15, kind 24-28,
 * kind_flag 31), size|type} followed by kind-specific data, and a string
 * section of NUL-terminated names.  Nothing here allocates. */
#include "btf_int.h"

bool km_btf_rd32(const uint8_t *p, uint32_t len, uint64_t off, uint32_t *out)
{
    bool ok = false;
    if ((off <= (uint64_t)len) && (((uint64_t)len - off) >= 4u)) {
        /* Byte assembly with + and * (WP proves it without bit reasoning). */
        *out = (uint32_t)p[off] + ((uint32_t)p[off + 1u] * 0x100u) +
               ((uint32_t)p[off + 2u] * 0x10000u) + ((uint32_t)p[off + 3u] * 0x1000000u);
        ok = true;
    }
    return ok;
}

uint32_t km_btf_kind_of(uint32_t info)
{
    return (info / 0x1000000u) % 32u; /* bits 24-28 */
}

uint32_t km_btf_vlen_of(uint32_t info)
{
    return info % 0x10000u; /* bits 0-15 */
}

bool km_btf_kflag_of(uint32_t info)
{
    return (info / 0x80000000u) != 0u; /* bit 31 */
}

km_status km_btf_parse_header(const uint8_t *data, uint32_t len, bool split, km_btf_hdr *out,
                              km_btf_reason *why, uint64_t *where)
{
    km_status st = KM_OK;
    km_btf_reason r = KM_BTF_R_NONE;
    uint64_t w = 0u;
    uint32_t hdr_len = 0u;
    uint32_t toff = 0u;
    uint32_t tlen = 0u;
    uint32_t soff = 0u;
    uint32_t slen = 0u;

    if (len < 2u) {
        st = KM_ERR_BAD_DATA;
        r = KM_BTF_R_NOT_BTF;
    } else {
        uint32_t magic = (uint32_t)data[0] + ((uint32_t)data[1] * 0x100u);
        if (magic == 0x9FEBu) {
            st = KM_ERR_UNSUPPORTED;
            r = KM_BTF_R_ENDIAN;
        } else if (magic != KM_BTF_MAGIC) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_NOT_BTF;
        } else if (len < KM_BTF_HDR_MIN) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_HEADER;
            w = len;
        } else if (data[2] != KM_BTF_VERSION) {
            st = KM_ERR_UNSUPPORTED;
            r = KM_BTF_R_VERSION;
            w = data[2];
        } else if (data[3] != 0u) {
            st = KM_ERR_UNSUPPORTED;
            r = KM_BTF_R_FLAGS;
            w = data[3];
        } else {
            (void)km_btf_rd32(data, len, 4u, &hdr_len);
            (void)km_btf_rd32(data, len, 8u, &toff);
            (void)km_btf_rd32(data, len, 12u, &tlen);
            (void)km_btf_rd32(data, len, 16u, &soff);
            (void)km_btf_rd32(data, len, 20u, &slen);
            if ((hdr_len < KM_BTF_HDR_MIN) || (hdr_len > len)) {
                st = KM_ERR_BAD_DATA;
                r = KM_BTF_R_HEADER;
                w = hdr_len;
            }
        }
    }
    if (st == KM_OK) {
        /* A longer header is a newer format: accept it only if the fields
         * we do not know are zero (as the kernel does). */
        uint32_t i = KM_BTF_HDR_MIN;
        /*@ loop invariant KM_BTF_HDR_MIN <= i <= hdr_len;
            loop assigns i;
            loop variant hdr_len - i; */
        while ((i < hdr_len) && (data[i] == 0u)) {
            i++;
        }
        if (i < hdr_len) {
            st = KM_ERR_UNSUPPORTED;
            r = KM_BTF_R_HEADER;
            w = i;
        }
    }
    if (st == KM_OK) {
        uint32_t avail = len - hdr_len;
        if ((toff > avail) || (tlen > (avail - toff)) || (soff > avail) ||
            (slen > (avail - soff)) || (((uint64_t)toff + (uint64_t)tlen) > (uint64_t)soff)) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_SECTIONS;
            w = (uint64_t)hdr_len + (uint64_t)toff;
        } else if ((slen == 0u) && !split) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_STRINGS;
            w = (uint64_t)hdr_len + (uint64_t)soff;
        } else if ((slen > 0u) && (data[(hdr_len + soff + slen) - 1u] != 0u)) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_STRINGS; /* last string unterminated (truncated string section?) */
            w = (uint64_t)hdr_len + (uint64_t)soff + (uint64_t)slen;
        } else if (!split && (data[hdr_len + soff] != 0u)) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_NEEDS_BASE; /* offset 0 must be the empty name: split BTF? */
            w = (uint64_t)hdr_len + (uint64_t)soff;
        } else {
            out->hdr_len = hdr_len;
            out->types_off = hdr_len + toff;
            out->types_len = tlen;
            out->strs_off = hdr_len + soff;
            out->strs_len = slen;
        }
    }
    *why = r;
    *where = w;
    return st;
}

/* Bytes that follow a record's fixed part for kind/vlen; false for an
 * unknown kind. */
/*@ requires \valid(extra);
    assigns *extra;
    ensures \result ==> *extra <= 12 * 65535; */
static bool km_btf_rec_extra(uint32_t kind, uint32_t vlen, uint32_t *extra)
{
    bool ok = true;
    uint32_t v = (vlen <= 0xFFFFu) ? vlen : 0xFFFFu;
    switch (kind) {
    case 1u:  /* INT: encoding word */
    case 14u: /* VAR: linkage */
    case 17u: /* DECL_TAG: component index */
        *extra = 4u;
        break;
    case 3u: /* ARRAY: type, index type, nelems */
        *extra = 12u;
        break;
    case 4u:  /* STRUCT */
    case 5u:  /* UNION: name, type, offset per member */
    case 15u: /* DATASEC: type, offset, size per variable */
    case 19u: /* ENUM64: name, lo32, hi32 per value */
        *extra = 12u * v;
        break;
    case 6u:  /* ENUM: name, value */
    case 13u: /* FUNC_PROTO: name, type per parameter */
        *extra = 8u * v;
        break;
    case 0u:  /* UNKN (void) */
    case 2u:  /* PTR */
    case 7u:  /* FWD */
    case 8u:  /* TYPEDEF */
    case 9u:  /* VOLATILE */
    case 10u: /* CONST */
    case 11u: /* RESTRICT */
    case 12u: /* FUNC */
    case 16u: /* FLOAT */
    case 18u: /* TYPE_TAG */
        *extra = 0u;
        break;
    default:
        ok = false;
        break;
    }
    return ok;
}

km_status km_btf_index_types(const uint8_t *types, uint32_t len, uint32_t *offs, uint32_t cap,
                             uint32_t *n, km_btf_reason *why, uint64_t *where)
{
    km_status st = KM_OK;
    uint32_t pos = 0u;
    uint32_t cnt = 0u;
    km_btf_reason r = KM_BTF_R_NONE;
    uint64_t w = 0u;

    /*@ loop invariant 0 <= pos <= len;
        loop invariant 0 <= cnt <= cap;
        loop invariant \forall integer i; 0 <= i < cnt ==> offs[i] + KM_BTF_TYPE_HDR <= len;
        loop assigns pos, cnt, st, r, w, offs[0 .. cap - 1];
        loop variant len - pos + (st == KM_OK ? 1 : 0); */
    while ((st == KM_OK) && (pos < len)) {
        uint32_t info = 0u;
        uint32_t extra = 0u;
        bool whole = ((len - pos) >= KM_BTF_TYPE_HDR) &&
                     km_btf_rd32(types, len, (uint64_t)pos + 4u, &info);
        bool known = whole && km_btf_rec_extra(km_btf_kind_of(info), km_btf_vlen_of(info), &extra);
        if (cnt >= cap) {
            st = KM_ERR_CAPACITY;
            r = KM_BTF_R_TOO_MANY;
            w = pos;
        } else if (whole && !known) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_UNKNOWN_KIND;
            w = pos;
        } else if (!whole || (extra > ((len - pos) - KM_BTF_TYPE_HDR))) {
            st = KM_ERR_BAD_DATA;
            r = KM_BTF_R_TRUNCATED; /* fixed part or kind-specific data cut off */
            w = pos;
        } else {
            offs[cnt] = pos;
            cnt++;
            pos = (pos + KM_BTF_TYPE_HDR) + extra;
        }
    }
    *n = cnt;
    *why = r;
    *where = w;
    return st;
}

uint32_t km_btf_total(const km_btf *b)
{
    const km_btf_layer *top = &b->layers[b->nlayers - 1u];
    return top->start_id + top->nr_types;
}

km_status km_btf_type(const km_btf *b, uint32_t id, km_btf_tv *tv, km_btf_reason *why)
{
    km_status st = KM_ERR_BAD_DATA;
    km_btf_reason r = KM_BTF_R_BAD_TYPE_ID;
    km_btf_tv t = {0u, 0u, 0u, 0u, 0u}; /* id 0 (void): a record of zeros */
    if (id == 0u) {
        st = KM_OK;
        r = KM_BTF_R_NONE;
    } else {
        uint32_t i = 0u;
        bool done = false;
        /*@ loop invariant 0 <= i <= b->nlayers;
            loop invariant st == KM_OK || st == KM_ERR_BAD_DATA;
            loop invariant st == KM_OK ==> done && t.layer < b->nlayers;
            loop assigns i, done, st, r, t;
            loop variant b->nlayers - i + (done ? 0 : 1); */
        while ((i < b->nlayers) && !done) {
            const km_btf_layer *l = &b->layers[i];
            if ((id >= l->start_id) && ((id - l->start_id) < l->nr_types)) {
                uint32_t off = l->offs[id - l->start_id];
                uint32_t name_off = 0u;
                uint32_t info = 0u;
                uint32_t szt = 0u;
                if (km_btf_rd32(l->types, l->types_len, (uint64_t)off, &name_off) &&
                    km_btf_rd32(l->types, l->types_len, (uint64_t)off + 4u, &info) &&
                    km_btf_rd32(l->types, l->types_len, (uint64_t)off + 8u, &szt)) {
                    t.layer = i;
                    t.off = off;
                    t.name_off = name_off;
                    t.info = info;
                    t.st = szt;
                    st = KM_OK;
                    r = KM_BTF_R_NONE;
                } else {
                    r = KM_BTF_R_TRUNCATED;
                }
                done = true;
            } else {
                i++;
            }
        }
    }
    if (st == KM_OK) {
        /*@ assert t.layer < b->nlayers; */
        *tv = t;
    }
    *why = r;
    return st;
}

km_status km_btf_ext(const km_btf *b, const km_btf_tv *tv, uint32_t pos, uint32_t *out)
{
    km_status st = KM_ERR_BAD_DATA;
    const km_btf_layer *l = &b->layers[tv->layer];
    uint64_t at = ((uint64_t)tv->off + KM_BTF_TYPE_HDR) + (uint64_t)pos;
    if (km_btf_rd32(l->types, l->types_len, at, out)) {
        st = KM_OK;
    }
    return st;
}

km_status km_btf_str(const km_btf *b, uint32_t off, const uint8_t **s, uint32_t *room)
{
    km_status st = KM_ERR_BAD_DATA;
    uint32_t i = b->nlayers;
    uint32_t li = 0u;
    uint32_t rel = 0u;
    bool done = false;
    /* The topmost layer whose strings start at or below off holds it. */
    /*@ loop invariant 0 <= i <= b->nlayers;
        loop invariant st == KM_OK || st == KM_ERR_BAD_DATA;
        loop invariant st == KM_OK ==> li < b->nlayers && rel < b->layers[li].strs_len;
        loop assigns i, li, rel, done, st;
        loop variant i; */
    while ((i > 0u) && !done) {
        i--;
        const km_btf_layer *l = &b->layers[i];
        if (off >= l->start_str) {
            uint32_t r = off - l->start_str;
            if (r < l->strs_len) {
                li = i;
                rel = r;
                st = KM_OK;
            }
            done = true;
        }
    }
    if (st == KM_OK) {
        const km_btf_layer *l = &b->layers[li];
        /*@ assert km_btf_layer_ok(b->layers[li]); */
        /*@ assert \valid_read(l->strs + (rel .. l->strs_len - 1)); */
        *s = &l->strs[rel];
        *room = l->strs_len - rel;
    }
    return st;
}

/* The byte value (0..255) of a char, whatever char's signedness. */
/*@ assigns \nothing;
    ensures 0 <= \result <= 255; */
static uint32_t km_btf_char_byte(char c)
{
    int32_t v = (int32_t)c;
    if (v < 0) {
        v += 256;
    }
    return (uint32_t)v;
}

bool km_btf_name_eq(const km_btf *b, uint32_t off, const char *name, uint32_t n)
{
    const uint8_t *s = NULL;
    uint32_t room = 0u;
    bool eq = false;
    if (km_btf_str(b, off, &s, &room) == KM_OK) {
        uint32_t k = 0u;
        eq = true;
        /*@ loop invariant 0 <= k <= n;
            loop invariant k <= room;
            loop assigns k, eq;
            loop variant n - k + (eq ? 1 : 0); */
        while (eq && (k < n)) {
            if ((k >= room) || ((uint32_t)s[k] != km_btf_char_byte(name[k]))) {
                eq = false;
            } else {
                k++;
            }
        }
        if (eq) {
            eq = (n < room) && (s[n] == 0u);
        }
    }
    return eq;
}

uint32_t km_btf_hash_chars(const char *s, uint32_t n)
{
    uint32_t h = 2166136261u;
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, h;
        loop variant n - i; */
    for (uint32_t i = 0u; i < n; i++) {
        uint32_t m = h ^ km_btf_char_byte(s[i]);
        uint64_t x = (uint64_t)m * 16777619u;
        h = (uint32_t)(x % 0x100000000u);
    }
    return h;
}

uint32_t km_btf_hash_bytes(const uint8_t *s, uint32_t n)
{
    uint32_t h = 2166136261u;
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, h;
        loop variant n - i; */
    for (uint32_t i = 0u; i < n; i++) {
        uint32_t m = h ^ (uint32_t)s[i];
        uint64_t x = (uint64_t)m * 16777619u;
        h = (uint32_t)(x % 0x100000000u);
    }
    return h;
}

bool km_btf_kind_indexed(uint32_t kind)
{
    return (kind == (uint32_t)KM_BTF_KIND_INT) || (kind == (uint32_t)KM_BTF_KIND_STRUCT) ||
           (kind == (uint32_t)KM_BTF_KIND_UNION) || (kind == (uint32_t)KM_BTF_KIND_ENUM) ||
           (kind == (uint32_t)KM_BTF_KIND_FWD) || (kind == (uint32_t)KM_BTF_KIND_TYPEDEF) ||
           (kind == (uint32_t)KM_BTF_KIND_VAR) || (kind == (uint32_t)KM_BTF_KIND_DATASEC) ||
           (kind == (uint32_t)KM_BTF_KIND_FLOAT) || (kind == (uint32_t)KM_BTF_KIND_ENUM64);
}
