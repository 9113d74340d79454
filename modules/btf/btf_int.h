/* ktmon: modules/btf private declarations.
 *
 * btf_parse.c  header check, type-record walk, bounds-checked record and
 *              string access, the name hash (WP: verify/wp/btf.wp)
 * btf_query.c  member paths, sizes, enums, batch resolvers (WP: verify/wp/btf.wp)
 * btf_load.c   files, ELF .BTF sections (libelf), allocation, the name index
 * btf_error.c  error context and text */
#ifndef KTMON_BTF_INT_H
#define KTMON_BTF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/btf.h"

/* Bytes of a type record's fixed part (name_off, info, size/type). */
#define KM_BTF_TYPE_HDR 12u
/* BTF_INT encoding bit for signed integers. */
#define KM_BTF_INT_SIGNED 1u

/* The predicates km_btf_layer_ok, km_btf_ok, km_btf_err_sep and km_btf_err_ok
 * live in include/ktmon/btf.h. */

/* The header, with section offsets made absolute (from the start of data). */
typedef struct km_btf_hdr {
    uint32_t hdr_len;
    uint32_t types_off;
    uint32_t types_len;
    uint32_t strs_off;
    uint32_t strs_len;
} km_btf_hdr;

/* A type record located in one layer. */
typedef struct km_btf_tv {
    uint32_t layer;     /* index into b->layers */
    uint32_t off;       /* offset of the record in that layer's type section */
    uint32_t name_off;
    uint32_t info;
    uint32_t st;        /* size or type, by kind */
} km_btf_tv;

/* Little-endian u32 at p[off .. off+3], if it lies inside p[0 .. len-1]. */
/*@ requires len > 0 ==> \valid_read(p + (0 .. len - 1));
    requires \valid(out);
    assigns *out;
    ensures \result <==> (off + 4 <= len);
    ensures !\result ==> *out == \old(*out); */
bool km_btf_rd32(const uint8_t *p, uint32_t len, uint64_t off, uint32_t *out);

/* Check the header of data[0 .. len-1].  split: the BTF extends a base (its
 * string section may be empty and need not start with NUL).  On failure
 * *why and *where say what and where. */
/*@ requires len > 0 ==> \valid_read(data + (0 .. len - 1));
    requires \valid(out) && \valid(why) && \valid(where);
    requires \separated(out, why, where);
    assigns *out, *why, *where;
    ensures \result == KM_OK ==>
        out->types_off <= len && out->types_len <= len - out->types_off &&
        out->strs_off <= len && out->strs_len <= len - out->strs_off &&
        (out->strs_len > 0 ==> data[out->strs_off + out->strs_len - 1] == 0) &&
        (!split ==> out->strs_len > 0);
    ensures \result != KM_OK ==> *out == \old(*out);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_UNSUPPORTED; */
km_status km_btf_parse_header(const uint8_t *data, uint32_t len, bool split, km_btf_hdr *out,
                              km_btf_reason *why, uint64_t *where);

/* Walk the type section: offs[i] receives the offset of the i-th record;
 * every record must be complete and of a known kind.  cap bounds the
 * count.  On failure *n is the failing record's index and *where its
 * offset (or its kind, for an unknown kind). */
/*@ requires len > 0 ==> \valid_read(types + (0 .. len - 1));
    requires cap > 0 ==> \valid(offs + (0 .. cap - 1));
    requires \valid(n) && \valid(why) && \valid(where);
    requires \separated(n, why, where, offs + (0 .. cap - 1));
    requires \separated(offs + (0 .. cap - 1), types + (0 .. len - 1));
    assigns offs[0 .. cap - 1], *n, *why, *where;
    ensures \result == KM_OK ==> *n <= cap &&
        (\forall integer i; 0 <= i < *n ==> offs[i] + KM_BTF_TYPE_HDR <= len); */
km_status km_btf_index_types(const uint8_t *types, uint32_t len, uint32_t *offs, uint32_t cap,
                             uint32_t *n, km_btf_reason *why, uint64_t *where);

/*@ assigns \nothing;
    ensures \result < 32; */
uint32_t km_btf_kind_of(uint32_t info);
/*@ assigns \nothing;
    ensures \result <= 65535; */
uint32_t km_btf_vlen_of(uint32_t info);
/*@ assigns \nothing; */
bool km_btf_kflag_of(uint32_t info);

/* One past the highest type id of b. */
/*@ requires km_btf_ok(b);
    assigns \nothing; */
uint32_t km_btf_total(const km_btf *b);

/* The record of type id (id 0: void, a zero record).  KM_ERR_BAD_DATA with
 * *why = BAD_TYPE_ID for an id that does not exist. */
/*@ requires km_btf_ok(b) && \valid(tv) && \valid(why) && \separated(tv, why, b);
    assigns *tv, *why;
    ensures in_layer: \result == KM_OK ==> tv->layer < b->nlayers;
    ensures status: \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures untouched: \result != KM_OK ==> *tv == \old(*tv); */
km_status km_btf_type(const km_btf *b, uint32_t id, km_btf_tv *tv, km_btf_reason *why);

/* The u32 at byte pos of the data following tv's fixed part. */
/*@ requires km_btf_ok(b) && \valid_read(tv) && tv->layer < b->nlayers && \valid(out);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result != KM_OK ==> *out == \old(*out); */
km_status km_btf_ext(const km_btf *b, const km_btf_tv *tv, uint32_t pos, uint32_t *out);

/* The string at offset off: *s and the bytes to the end of its section
 * (*room >= 1; the loader checked that the section ends in NUL, so the
 * string is NUL-terminated inside, but readers bound themselves by *room). */
/*@ requires km_btf_ok(b) && \valid(s) && \valid(room) && \separated(s, room, b);
    assigns *s, *room;
    ensures \result == KM_OK ==> *room >= 1 && \valid_read(*s + (0 .. *room - 1));
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result != KM_OK ==> *s == \old(*s) && *room == \old(*room); */
km_status km_btf_str(const km_btf *b, uint32_t off, const uint8_t **s, uint32_t *room);

/* Is the string at off equal to name[0 .. n-1]?  false for a bad offset. */
/*@ requires km_btf_ok(b);
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    assigns \nothing; */
bool km_btf_name_eq(const km_btf *b, uint32_t off, const char *name, uint32_t n);

/* 32-bit FNV-1a over n bytes (the product is formed in 64 bits). */
/*@ requires n > 0 ==> \valid_read(s + (0 .. n - 1));
    assigns \nothing; */
uint32_t km_btf_hash_chars(const char *s, uint32_t n);
/*@ requires n > 0 ==> \valid_read(s + (0 .. n - 1));
    assigns \nothing; */
uint32_t km_btf_hash_bytes(const uint8_t *s, uint32_t n);

/* Kinds that carry a name and go into the name index. */
/*@ assigns \nothing; */
bool km_btf_kind_indexed(uint32_t kind);

/* Record an error (err may be NULL); returns s.  Inline so that static
 * analysers see that it returns its status argument. */
/*@ requires err == \null || \valid(err);
    assigns *err;
    ensures \result == s; */
static inline km_status km_btf_fail(km_btf_error *err, km_status s, km_btf_reason reason,
                                    uint32_t type_id, uint64_t offset)
{
    if (err != NULL) {
        err->status = s;
        err->reason = reason;
        err->sys_errno = 0;
        err->type_id = type_id;
        err->index = KM_NO_INDEX;
        err->entry = KM_NO_INDEX;
        err->kind = 0u;
        err->offset = offset;
        err->name[0] = '\0';
        err->context[0] = '\0';
        err->lib_msg = NULL;
    }
    return s;
}

/* Byte copy for the loader (a loop the compiler turns into memcpy; the
 * string.h form is banned by the project's clang-tidy profile). */
/*@ requires n > 0 ==> \valid(dst + (0 .. n - 1)) && \valid_read(src + (0 .. n - 1));
    requires \separated(dst + (0 .. n - 1), src + (0 .. n - 1));
    assigns dst[0 .. n - 1]; */
static inline void km_btf_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
    /*@ loop invariant 0 <= i <= n;
        loop assigns i, dst[0 .. n - 1];
        loop variant n - i; */
    for (size_t i = 0u; i < n; i++) {
        dst[i] = src[i];
    }
}

/* Copy up to KM_BTF_ERR_NAME-1 bytes of name[0 .. n-1] into dst (NUL-terminated). */
/*@ requires \valid(dst + (0 .. KM_BTF_ERR_NAME - 1));
    requires n > 0 ==> \valid_read(name + (0 .. n - 1));
    assigns dst[0 .. KM_BTF_ERR_NAME - 1]; */
void km_btf_err_copy(char *dst, const char *name, uint32_t n);

#endif /* KTMON_BTF_INT_H */
