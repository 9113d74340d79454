/* ktmon kop_dispatch: the wire codec (proved by WP: verify/wp/kop_wire.wp).
 *
 * Format (docs/wire-format.md): a 16-byte header {msg_type, length,
 * crc32(payload), 0}, all u32 little-endian, then `length` payload bytes and
 * nothing else.  Payload v1: fixed-width little-endian integers, strings as
 * u16 length + bytes.  Every read goes through a cursor that checks the bytes
 * left first, so no input can make the decoder read outside it; counts and
 * lengths are capped before anything is stored.
 *
 * Decoding is two passes over the frame: the first (out == NULL) validates
 * and stores nothing, the second fills *out.  So *out is written only when
 * the frame is valid.  Nothing here allocates, calls the C library or
 * depends on host byte order. */
#include "kop_int.h"

#include "ktmon/kop_dispatch.h"

/* ---------------------------------------------------------------- CRC-32 */

uint32_t km_kop_crc32(const uint8_t *buf, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    /*@ loop invariant 0 <= i <= len;
        loop invariant c == km_crc_acc(buf, i);
        loop assigns i, c;
        loop variant len - i; */
    for (size_t i = 0u; i < len; i++) {
        c = c ^ (uint32_t)buf[i];
        /*@ ghost uint32_t c0 = c; */
        /*@ loop invariant 0 <= k <= 8;
            loop invariant c == km_crc_bits(c0, k);
            loop assigns k, c;
            loop variant 8 - k; */
        for (uint32_t k = 0u; k < 8u; k++) {
            if ((c % 2u) == 1u) {
                c = (c / 2u) ^ 0xEDB88320u;
            } else {
                c = c / 2u;
            }
        }
    }
    return c ^ 0xFFFFFFFFu;
}

/* ---------------------------------------------------------------- status codes on the wire */

/* A status code from the wire (checked < KM_STATUS_COUNT) as a km_status. */
/*@ requires v < KM_STATUS_COUNT;
    assigns \nothing;
    ensures \result == v; */
static km_status km_kop_status_of(uint32_t v)
{
    static const km_status tbl[KM_STATUS_COUNT] = {
        KM_OK, KM_ERR_RANGE, KM_ERR_UNMAPPED, KM_ERR_MISALIGNED, KM_ERR_BAD_DATA, KM_ERR_NO_SYMBOL,
        KM_ERR_NO_TYPE, KM_ERR_IO, KM_ERR_PROTOCOL, KM_ERR_TIMEOUT, KM_ERR_BUSY, KM_ERR_UNSUPPORTED,
        KM_ERR_INVALID_ARG, KM_ERR_OVERFLOW, KM_ERR_CROSSES_REGION, KM_ERR_NOT_PRESENT, KM_ERR_BAD_DESCRIPTOR,
        KM_ERR_TABLE_OUTSIDE_RAM, KM_ERR_BAD_REGISTERS, KM_ERR_NO_MEMORY, KM_ERR_CAPACITY, KM_ERR_STATE,
        KM_ERR_NOT_READY, KM_ERR_MISMATCH,
    };
    return tbl[v];
}

/* ---------------------------------------------------------------- the read cursor */

typedef struct km_kop_rd {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} km_kop_rd;

/*@ predicate km_rd_ok(km_kop_rd *r) =
        \valid(r) && r->pos <= r->len && r->len <= KM_KOP_FRAME_MAX &&
        \valid_read(r->buf + (0 .. r->len - 1)) && \separated(r, r->buf + (0 .. r->len - 1)); */

/*@ requires \valid(e);
    assigns *e;
    ensures e->status == KM_ERR_BAD_DATA && e->reason == reason;
    ensures \result == KM_ERR_BAD_DATA; */
static km_status km_kop_wfail(km_kop_wire_error *e, km_kop_wire_reason reason, size_t offset, uint32_t entry)
{
    e->status = KM_ERR_BAD_DATA;
    e->reason = reason;
    e->offset = (offset <= (size_t)UINT32_MAX) ? (uint32_t)offset : UINT32_MAX;
    e->entry = entry;
    return KM_ERR_BAD_DATA;
}

/* Take n bytes: *at = their offset in the buffer. */
/*@ requires km_rd_ok(r) && \valid(at) && \separated(at, r) && \valid(e) && \separated(e, r, at);
    requires \separated(at, r->buf + (0 .. r->len - 1)) && \separated(e, r->buf + (0 .. r->len - 1));
    assigns r->pos, *at, *e;
    ensures km_rd_ok(r);
    behavior enough:
      assumes n <= r->len - r->pos;
      ensures \result == KM_OK && *at == \old(r->pos) && r->pos == \old(r->pos) + n;
    behavior short:
      assumes n > r->len - r->pos;
      ensures \result == KM_ERR_BAD_DATA && r->pos == \old(r->pos);
    complete behaviors;
    disjoint behaviors; */
static km_status km_kop_take(km_kop_rd *r, size_t n, size_t *at, km_kop_wire_error *e, uint32_t entry)
{
    km_status st;
    if (n > (r->len - r->pos)) {
        st = km_kop_wfail(e, KM_KOP_W_TRUNCATED, r->pos, entry);
    } else {
        *at = r->pos;
        r->pos += n;
        st = KM_OK;
    }
    return st;
}

/*@ requires km_rd_ok(r) && \valid(v) && \valid(e) && \separated(v, e, r);
    requires \separated(v, r->buf + (0 .. r->len - 1)) && \separated(e, r->buf + (0 .. r->len - 1));
    assigns r->pos, *v, *e;
    ensures km_rd_ok(r) && r->pos >= \old(r->pos);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK ==> r->pos == \old(r->pos) + 1; */
static km_status km_kop_rd_u8(km_kop_rd *r, uint8_t *v, km_kop_wire_error *e, uint32_t entry)
{
    size_t at = 0u;
    km_status st = km_kop_take(r, 1u, &at, e, entry);
    if (st == KM_OK) {
        *v = r->buf[at];
    }
    return st;
}

/*@ requires km_rd_ok(r) && \valid(v) && \valid(e) && \separated(v, e, r);
    requires \separated(v, r->buf + (0 .. r->len - 1)) && \separated(e, r->buf + (0 .. r->len - 1));
    assigns r->pos, *v, *e;
    ensures km_rd_ok(r) && r->pos >= \old(r->pos);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK ==> *v <= 65535; */
static km_status km_kop_rd_u16(km_kop_rd *r, uint32_t *v, km_kop_wire_error *e, uint32_t entry)
{
    size_t at = 0u;
    km_status st = km_kop_take(r, 2u, &at, e, entry);
    if (st == KM_OK) {
        *v = (uint32_t)r->buf[at] + ((uint32_t)r->buf[at + 1u] * 0x100u);
    }
    return st;
}

/*@ requires km_rd_ok(r) && \valid(v) && \valid(e) && \separated(v, e, r);
    requires \separated(v, r->buf + (0 .. r->len - 1)) && \separated(e, r->buf + (0 .. r->len - 1));
    assigns r->pos, *v, *e;
    ensures km_rd_ok(r) && r->pos >= \old(r->pos);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA; */
static km_status km_kop_rd_u32(km_kop_rd *r, uint32_t *v, km_kop_wire_error *e, uint32_t entry)
{
    size_t at = 0u;
    km_status st = km_kop_take(r, 4u, &at, e, entry);
    if (st == KM_OK) {
        *v = (uint32_t)r->buf[at] + ((uint32_t)r->buf[at + 1u] * 0x100u) +
             ((uint32_t)r->buf[at + 2u] * 0x10000u) + ((uint32_t)r->buf[at + 3u] * 0x1000000u);
    }
    return st;
}

/*@ requires km_rd_ok(r) && \valid(v) && \valid(e) && \separated(v, e, r);
    requires \separated(v, r->buf + (0 .. r->len - 1)) && \separated(e, r->buf + (0 .. r->len - 1));
    assigns r->pos, *v, *e;
    ensures km_rd_ok(r) && r->pos >= \old(r->pos);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA; */
static km_status km_kop_rd_u64(km_kop_rd *r, uint64_t *v, km_kop_wire_error *e, uint32_t entry)
{
    uint32_t lo = 0u;
    uint32_t hi = 0u;
    km_status st = km_kop_rd_u32(r, &lo, e, entry);
    if (st == KM_OK) {
        st = km_kop_rd_u32(r, &hi, e, entry);
    }
    if (st == KM_OK) {
        *v = (uint64_t)lo + ((uint64_t)hi * 0x100000000u);
    }
    return st;
}

/* A string: u16 length <= max, then that many bytes, none of them NUL.
 * Copied with a terminating NUL into dst[0 .. max] when dst is not NULL. */
/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    requires max <= 65535;
    requires dst != \null ==> \valid(dst + (0 .. max)) && \separated(dst + (0 .. max), r, e) &&
                              \separated(dst + (0 .. max), r->buf + (0 .. r->len - 1));
    requires len_out == \null || (\valid(len_out) && \separated(len_out, r, e) &&
                                  \separated(len_out, r->buf + (0 .. r->len - 1)));
    requires dst != \null && len_out != \null ==> \separated(len_out, dst + (0 .. max));
    assigns r->pos, *e, dst[0 .. max], *len_out;
    ensures km_rd_ok(r) && r->pos >= \old(r->pos);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK && len_out != \null ==> *len_out <= max; */
static km_status km_kop_rd_str(km_kop_rd *r, uint32_t max, char *dst, uint32_t *len_out, km_kop_wire_error *e,
                               uint32_t entry)
{
    uint32_t n = 0u;
    size_t at = 0u;
    km_status st = km_kop_rd_u16(r, &n, e, entry);
    if ((st == KM_OK) && (n > max)) {
        st = km_kop_wfail(e, KM_KOP_W_STRING, r->pos, entry);
    }
    if (st == KM_OK) {
        st = km_kop_take(r, n, &at, e, entry);
    }
    if (st == KM_OK) {
        /*@ loop invariant 0 <= i <= n;
            loop assigns i, dst[0 .. max];
            loop variant n - i; */
        for (uint32_t i = 0u; i < n; i++) {
            uint8_t c = r->buf[at + i];
            if (dst != NULL) {
                dst[i] = (char)c;
            }
        }
        /*@ loop invariant 0 <= i <= n;
            loop invariant st == KM_OK || st == KM_ERR_BAD_DATA;
            loop assigns i, st, *e;
            loop variant n - i; */
        for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
            if (r->buf[at + i] == 0u) {
                st = km_kop_wfail(e, KM_KOP_W_STRING, at + i, entry);
            }
        }
        if (dst != NULL) {
            dst[n] = '\0';
        }
        if ((st == KM_OK) && (len_out != NULL)) {
            *len_out = n;
        }
    }
    return st;
}

/* ---------------------------------------------------------------- the frame */

/*@ requires len >= 4 && \valid_read(b + (0 .. len - 1)) && at <= len - 4;
    assigns \nothing; */
static uint32_t km_kop_le32_at(const uint8_t *b, size_t len, size_t at)
{
    (void)len;
    return (uint32_t)b[at] + ((uint32_t)b[at + 1u] * 0x100u) + ((uint32_t)b[at + 2u] * 0x10000u) +
           ((uint32_t)b[at + 3u] * 0x1000000u);
}

km_status km_kop_frame_tag(const uint8_t *buf, size_t len, uint32_t *tag)
{
    km_status st = KM_ERR_BAD_DATA;
    if ((buf != NULL) && (len >= KM_KOP_HDR_SIZE)) {
        *tag = km_kop_le32_at(buf, len, 0u);
        st = KM_OK;
    }
    return st;
}

/* Check the header and open a cursor over the payload. */
/*@ requires len >= 1 && \valid_read(buf + (0 .. len - 1)) && \valid(p) && \valid(e);
    requires \separated(p, e) && \separated(p, buf + (0 .. len - 1)) && \separated(e, buf + (0 .. len - 1));
    assigns *p, *e;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK ==> km_rd_ok(p) && p->pos == 0 && p->len >= 1 &&
                                 p->buf == buf + KM_KOP_HDR_SIZE && p->len == len - KM_KOP_HDR_SIZE; */
static km_status km_kop_frame_open(const uint8_t *buf, size_t len, uint32_t want, km_kop_rd *p,
                                   km_kop_wire_error *e)
{
    km_status st = KM_OK;
    if (len < KM_KOP_HDR_SIZE) {
        st = km_kop_wfail(e, KM_KOP_W_SHORT_HEADER, 0u, KM_NO_INDEX);
    } else if (km_kop_le32_at(buf, len, 0u) != want) {
        st = km_kop_wfail(e, KM_KOP_W_UNKNOWN_TAG, 0u, KM_NO_INDEX);
    } else if (km_kop_le32_at(buf, len, 12u) != 0u) {
        st = km_kop_wfail(e, KM_KOP_W_PAD, 12u, KM_NO_INDEX);
    } else {
        uint32_t plen = km_kop_le32_at(buf, len, 4u);
        size_t have = len - KM_KOP_HDR_SIZE;
        if ((plen > KM_KOP_PAYLOAD_MAX) || ((size_t)plen > have) || (plen == 0u)) {
            st = km_kop_wfail(e, KM_KOP_W_LENGTH, 4u, KM_NO_INDEX);
        } else if ((size_t)plen < have) {
            st = km_kop_wfail(e, KM_KOP_W_TRAILING, KM_KOP_HDR_SIZE + (size_t)plen, KM_NO_INDEX);
        } else if (km_kop_crc32(&buf[KM_KOP_HDR_SIZE], plen) != km_kop_le32_at(buf, len, 8u)) {
            st = km_kop_wfail(e, KM_KOP_W_CRC, 8u, KM_NO_INDEX);
        } else {
            p->buf = &buf[KM_KOP_HDR_SIZE];
            p->len = plen;
            p->pos = 0u;
        }
    }
    return st;
}

/* The payload's version field. */
/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    assigns r->pos, *e;
    ensures km_rd_ok(r);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA; */
static km_status km_kop_rd_version(km_kop_rd *r, km_kop_wire_error *e)
{
    uint32_t v = 0u;
    km_status st = km_kop_rd_u16(r, &v, e, KM_NO_INDEX);
    if ((st == KM_OK) && (v != KM_KOP_WIRE_VERSION)) {
        st = km_kop_wfail(e, KM_KOP_W_VERSION, r->pos, KM_NO_INDEX);
    }
    return st;
}

/* ---------------------------------------------------------------- requests */

/*@ predicate km_target_sep(km_kop_target *t, km_kop_rd *r, km_kop_wire_error *e) =
        t == \null || (\valid(t) && \separated(t, r, e) && \separated(t, r->buf + (0 .. r->len - 1))); */

/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    requires km_target_sep(t, r, e);
    assigns r->pos, *e, *t;
    ensures km_rd_ok(r);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA; */
static km_status km_kop_rd_target(km_kop_rd *r, km_kop_target *t, km_kop_wire_error *e, uint32_t entry)
{
    uint8_t kind = 0u;
    uint8_t flags = 0u;
    uint32_t cpu = 0u;
    uint32_t pid = 0u;
    uint64_t a = 0u;
    uint64_t off = 0u;
    km_kop_target_kind k = KM_KOP_T_SYMBOL;
    km_status st = km_kop_rd_u8(r, &kind, e, entry);
    if (st == KM_OK) {
        switch (kind) {
        case 0u:
        case 3u:
            k = (kind == 0u) ? KM_KOP_T_SYMBOL : KM_KOP_T_PERCPU;
            st = km_kop_rd_str(r, KM_KOP_NAME_MAX, (t != NULL) ? t->name : NULL, NULL, e, entry);
            if (st == KM_OK) {
                st = km_kop_rd_str(r, KM_KOP_NAME_MAX, (t != NULL) ? t->type : NULL, NULL, e, entry);
            }
            if (st == KM_OK) {
                st = km_kop_rd_str(r, KM_KOP_FIELD_MAX, (t != NULL) ? t->field : NULL, NULL, e, entry);
            }
            if (st == KM_OK) {
                st = km_kop_rd_u64(r, &off, e, entry);
            }
            if ((st == KM_OK) && (kind == 3u)) {
                st = km_kop_rd_u32(r, &cpu, e, entry);
            }
            break;
        case 1u:
        case 2u:
        case 5u:
            if (kind == 1u) {
                k = KM_KOP_T_DIRECT;
            } else if (kind == 2u) {
                k = KM_KOP_T_KVA;
            } else {
                k = KM_KOP_T_PA;
            }
            st = km_kop_rd_u64(r, &a, e, entry);
            break;
        case 4u:
            k = KM_KOP_T_TASK;
            st = km_kop_rd_u32(r, &pid, e, entry);
            if (st == KM_OK) {
                st = km_kop_rd_u8(r, &flags, e, entry);
            }
            if ((st == KM_OK) && (flags > 1u)) {
                st = km_kop_wfail(e, KM_KOP_W_BAD_ENUM, r->pos, entry);
            }
            if (st == KM_OK) {
                st = km_kop_rd_u64(r, &a, e, entry);
            }
            if (st == KM_OK) {
                st = km_kop_rd_str(r, KM_KOP_FIELD_MAX, (t != NULL) ? t->field : NULL, NULL, e, entry);
            }
            break;
        default:
            st = km_kop_wfail(e, KM_KOP_W_BAD_ENUM, r->pos, entry);
            break;
        }
    }
    if ((st == KM_OK) && (t != NULL)) {
        t->kind = k;
        t->offset = off;
        t->cpu = cpu;
        t->pid = pid;
        t->check_start = (flags == 1u);
        if (k == KM_KOP_T_TASK) {
            t->start_ns = a;
            t->addr = 0u;
            t->name[0] = '\0';
            t->type[0] = '\0';
        } else {
            t->start_ns = 0u;
            t->addr = a;
        }
        if ((k == KM_KOP_T_DIRECT) || (k == KM_KOP_T_KVA) || (k == KM_KOP_T_PA)) {
            t->name[0] = '\0';
            t->type[0] = '\0';
            t->field[0] = '\0';
        }
    }
    return st;
}

/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    requires v == \null || (\valid(v) && \separated(v, r, e) && \separated(v, r->buf + (0 .. r->len - 1)));
    assigns r->pos, *e, *v;
    ensures km_rd_ok(r);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK && v != \null && v->kind == KM_KOP_V_BYTES ==> v->len <= KM_KOP_BYTES_MAX;
    ensures \result == KM_OK && v != \null && v->kind == KM_KOP_V_BYTES && write ==>
            v->len >= 1 && v->bytes == r->buf + (r->pos - v->len) && r->pos >= v->len; */
static km_status km_kop_rd_value(km_kop_rd *r, bool write, km_kop_value *v, km_kop_wire_error *e, uint32_t entry)
{
    uint8_t kind = 0u;
    uint32_t x32 = 0u;
    uint64_t x64 = 0u;
    size_t at = 0u;
    const uint8_t *bytes = NULL;
    km_kop_value_kind k = KM_KOP_V_U32;
    km_status st = km_kop_rd_u8(r, &kind, e, entry);
    if (st == KM_OK) {
        switch (kind) {
        case 0u:
        case 3u:
            k = (kind == 0u) ? KM_KOP_V_U32 : KM_KOP_V_OR_U32;
            if (write) {
                st = km_kop_rd_u32(r, &x32, e, entry);
                x64 = x32;
            }
            break;
        case 1u:
            k = KM_KOP_V_U64;
            if (write) {
                st = km_kop_rd_u64(r, &x64, e, entry);
            }
            break;
        case 2u:
            k = KM_KOP_V_BYTES;
            st = km_kop_rd_u32(r, &x32, e, entry);
            if ((st == KM_OK) && ((x32 == 0u) || (x32 > KM_KOP_BYTES_MAX))) {
                st = km_kop_wfail(e, KM_KOP_W_BYTES, r->pos, entry);
            }
            if ((st == KM_OK) && write) {
                st = km_kop_take(r, x32, &at, e, entry);
                if (st == KM_OK) {
                    bytes = &r->buf[at];
                }
            }
            break;
        default:
            st = km_kop_wfail(e, KM_KOP_W_BAD_ENUM, r->pos, entry);
            break;
        }
    }
    if ((st == KM_OK) && (v != NULL)) {
        v->kind = k;
        v->scalar = (k == KM_KOP_V_BYTES) ? 0u : x64;
        v->len = (k == KM_KOP_V_BYTES) ? x32 : 0u;
        v->bytes = bytes;
    }
    return st;
}

/* The request's tag bytes (tag_len <= KM_KOP_TAG_MAX), copied right after the cursor took them. */
/*@ requires \valid(q) && tag_len <= KM_KOP_TAG_MAX;
    requires \valid_read(tag + (0 .. tag_len - 1)) && \separated(q, tag + (0 .. tag_len - 1));
    assigns q->tag[0 .. KM_KOP_TAG_MAX - 1]; */
static void km_kop_put_tag(km_kop_request *q, const uint8_t *tag, uint32_t tag_len)
{
    /*@ loop invariant 0 <= i <= tag_len;
        loop assigns i, q->tag[0 .. KM_KOP_TAG_MAX - 1];
        loop variant tag_len - i; */
    for (uint32_t i = 0u; i < tag_len; i++) {
        q->tag[i] = tag[i];
    }
}

/* The request header fields from validated values (mode, dir <= 1; tag_len <= KM_KOP_TAG_MAX). */
/*@ requires \valid(q) && mode <= 1 && dir <= 1 && tag_len <= KM_KOP_TAG_MAX;
    assigns q->request_id, q->mode, q->dir, q->tag_len;
    ensures q->tag_len == tag_len;
    ensures q->mode == KM_KOP_HOT || q->mode == KM_KOP_COLD;
    ensures q->dir == KM_KOP_WRITE || q->dir == KM_KOP_READ; */
static void km_kop_put_header(km_kop_request *q, uint64_t id, uint8_t mode, uint8_t dir, uint32_t tag_len)
{
    q->request_id = id;
    q->mode = (mode == 1u) ? KM_KOP_COLD : KM_KOP_HOT;
    q->dir = (dir == 1u) ? KM_KOP_READ : KM_KOP_WRITE;
    q->tag_len = tag_len;
}

/*@ predicate km_req_sep(km_kop_request *q, km_kop_rd *r, km_kop_wire_error *e) =
        q == \null || (\valid(q) && \separated(q, r, e) && \separated(q, r->buf + (0 .. r->len - 1))); */

/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    requires km_req_sep(q, r, e);
    assigns r->pos, *e, *q;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK && q != \null ==>
            q->count <= KM_KOP_MAX_ENTRIES && q->tag_len <= KM_KOP_TAG_MAX &&
            (q->mode == KM_KOP_HOT || q->mode == KM_KOP_COLD) &&
            (q->dir == KM_KOP_WRITE || q->dir == KM_KOP_READ); */
static km_status km_kop_parse_request(km_kop_rd *r, km_kop_request *q, km_kop_wire_error *e)
{
    uint8_t mode = 0u;
    uint8_t dir = 0u;
    uint64_t id = 0u;
    uint32_t tag_len = 0u;
    uint32_t count = 0u;
    size_t tag_at = 0u;
    km_status st = km_kop_rd_version(r, e);
    if (st == KM_OK) {
        st = km_kop_rd_u8(r, &mode, e, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u8(r, &dir, e, KM_NO_INDEX);
    }
    if ((st == KM_OK) && ((mode > 1u) || (dir > 1u))) {
        st = km_kop_wfail(e, KM_KOP_W_BAD_ENUM, r->pos, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u64(r, &id, e, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u16(r, &tag_len, e, KM_NO_INDEX);
    }
    if ((st == KM_OK) && (tag_len > KM_KOP_TAG_MAX)) {
        st = km_kop_wfail(e, KM_KOP_W_STRING, r->pos, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_take(r, tag_len, &tag_at, e, KM_NO_INDEX);
    }
    if ((st == KM_OK) && (q != NULL)) {
        km_kop_put_tag(q, &r->buf[tag_at], tag_len);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u16(r, &count, e, KM_NO_INDEX);
    }
    if ((st == KM_OK) && (count > KM_KOP_MAX_ENTRIES)) {
        st = km_kop_wfail(e, KM_KOP_W_TOO_MANY, r->pos, KM_NO_INDEX);
    }
    if ((st == KM_OK) && (q != NULL)) {
        q->count = 0u;
    }
    /*@ loop invariant 0 <= i <= count;
        loop invariant km_rd_ok(r);
        loop invariant st == KM_OK || st == KM_ERR_BAD_DATA;
        loop invariant st == KM_OK ==> count <= KM_KOP_MAX_ENTRIES;
        loop invariant st == KM_OK ==> mode <= 1 && dir <= 1 && tag_len <= KM_KOP_TAG_MAX;
        loop invariant q != \null && st == KM_OK ==> q->count == i;
        loop assigns i, st, r->pos, *e, q->entries[0 .. KM_KOP_MAX_ENTRIES - 1], q->count;
        loop variant count - i; */
    for (uint32_t i = 0u; (st == KM_OK) && (i < count); i++) {
        /* decoded in place (validated only when q is NULL): no struct copy, so the proof
         * needs nothing about the entry beyond the two callees' contracts */
        km_kop_target *t = NULL;
        km_kop_value *v = NULL;
        if (q != NULL) {
            t = &q->entries[i].target;
            v = &q->entries[i].value;
        }
        st = km_kop_rd_target(r, t, e, i);
        if (st == KM_OK) {
            st = km_kop_rd_value(r, dir == 0u, v, e, i);
        }
        if ((st == KM_OK) && (q != NULL)) {
            q->count = i + 1u;
        }
    }
    if ((st == KM_OK) && (r->pos != r->len)) {
        st = km_kop_wfail(e, KM_KOP_W_PAYLOAD_TRAILING, r->pos, KM_NO_INDEX);
    }
    /* The header fields last, from the validated locals: the entry loop above then needs no
     * invariant about them. */
    if ((st == KM_OK) && (q != NULL)) {
        km_kop_put_header(q, id, mode, dir, tag_len);
    }
    return st;
}

/*@ requires len == 0 || \valid_read(buf + (0 .. len - 1));
    requires \valid(out) && \separated(out, buf + (0 .. len - 1));
    requires err == \null || (\valid(err) && \separated(err, out) && \separated(err, buf + (0 .. len - 1)));
    assigns *out, *err;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_INVALID_ARG;
    ensures \result == KM_OK ==> out->count <= KM_KOP_MAX_ENTRIES && out->tag_len <= KM_KOP_TAG_MAX; */
km_status km_kop_decode_request(const uint8_t *buf, size_t len, km_kop_request *out, km_kop_wire_error *err)
{
    km_kop_wire_error e = {KM_OK, KM_KOP_W_NONE, 0u, KM_NO_INDEX};
    km_kop_rd r = {NULL, 0u, 0u};
    km_status st = KM_ERR_INVALID_ARG;
    if ((buf != NULL) && (len > 0u) && (len <= KM_KOP_FRAME_MAX)) {
        st = km_kop_frame_open(buf, len, KM_KOP_TAG_REQUEST, &r, &e);
        if (st == KM_OK) {
            st = km_kop_parse_request(&r, NULL, &e);
        }
        if (st == KM_OK) {
            r.pos = 0u;
            st = km_kop_parse_request(&r, out, &e);
        }
    } else if ((buf != NULL) && (len > KM_KOP_FRAME_MAX)) {
        st = km_kop_wfail(&e, KM_KOP_W_LENGTH, 4u, KM_NO_INDEX);
    } else {
        e.status = KM_ERR_INVALID_ARG;
    }
    if (err != NULL) {
        *err = e;
    }
    return st;
}

/* ---------------------------------------------------------------- replies */

/* One read value of a reply: index (< completed), kind, kva, pa, value;
 * Bytes are copied to data[*used ..] (capacity data_cap).  rd == NULL:
 * validate only.  *used advances by the Bytes length on success. */
/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    requires \valid(used) && \separated(used, r, e) && \separated(used, r->buf + (0 .. r->len - 1));
    requires *used <= data_cap;
    requires rd == \null || (\valid(rd) && \separated(rd, r, e, used) && \separated(rd, r->buf + (0 .. r->len - 1)));
    requires rd != \null && data_cap > 0 ==>
             \valid(data + (0 .. data_cap - 1)) && \separated(data + (0 .. data_cap - 1), r, e, used, rd) &&
             \separated(data + (0 .. data_cap - 1), r->buf + (0 .. r->len - 1));
    assigns r->pos, *e, *used, *rd, data[0 .. data_cap - 1];
    ensures km_rd_ok(r) && \old(*used) <= *used <= data_cap;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_CAPACITY; */
static km_status km_kop_rd_read(km_kop_rd *r, uint32_t completed, km_kop_read *rd, uint8_t *data, uint32_t data_cap,
                                uint32_t *used, km_kop_wire_error *e, uint32_t i)
{
    uint32_t index = 0u;
    uint8_t kind = 0u;
    uint64_t kva = 0u;
    uint64_t pa = 0u;
    uint64_t scalar = 0u;
    uint32_t blen = 0u;
    uint32_t x32 = 0u;
    size_t at = 0u;
    uint32_t u = *used;
    km_status st = km_kop_rd_u32(r, &index, e, i);
    if (st == KM_OK) {
        st = km_kop_rd_u8(r, &kind, e, i);
    }
    if ((st == KM_OK) && ((index >= completed) || (kind > 2u))) {
        st = km_kop_wfail(e, KM_KOP_W_BAD_ENUM, r->pos, i);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u64(r, &kva, e, i);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u64(r, &pa, e, i);
    }
    if ((st == KM_OK) && (kind == 0u)) {
        st = km_kop_rd_u32(r, &x32, e, i);
        scalar = x32;
    } else if ((st == KM_OK) && (kind == 1u)) {
        st = km_kop_rd_u64(r, &scalar, e, i);
    } else if (st == KM_OK) {
        st = km_kop_rd_u32(r, &blen, e, i);
        if ((st == KM_OK) && ((blen == 0u) || (blen > KM_KOP_BYTES_MAX))) {
            st = km_kop_wfail(e, KM_KOP_W_BYTES, r->pos, i);
        }
        if (st == KM_OK) {
            st = km_kop_take(r, blen, &at, e, i);
        }
        if ((st == KM_OK) && (blen > (data_cap - u))) {
            st = KM_ERR_CAPACITY;
            e->status = KM_ERR_CAPACITY;
            e->reason = KM_KOP_W_CAPACITY;
            e->offset = (r->pos <= (size_t)UINT32_MAX) ? (uint32_t)r->pos : UINT32_MAX;
            e->entry = i;
        }
    } else {
        /* failed */
    }
    if ((st == KM_OK) && (rd != NULL)) {
        rd->index = index;
        if (kind == 0u) {
            rd->kind = KM_KOP_V_U32;
        } else if (kind == 1u) {
            rd->kind = KM_KOP_V_U64;
        } else {
            rd->kind = KM_KOP_V_BYTES;
        }
        rd->kva = kva;
        rd->pa = pa;
        rd->scalar = scalar;
        rd->off = (kind == 2u) ? u : 0u;
        rd->len = blen;
        /*@ loop invariant 0 <= j <= blen;
            loop assigns j, data[0 .. data_cap - 1];
            loop variant blen - j; */
        for (uint32_t j = 0u; j < blen; j++) {
            data[u + j] = r->buf[at + j];
        }
    }
    if (st == KM_OK) {
        *used = u + blen;
    }
    return st;
}

/* The fixed part of a reply payload. */
typedef struct km_kop_reply_head {
    uint8_t success;
    uint8_t status;
    uint64_t id;
    uint32_t failed;
    uint32_t completed;
    uint32_t applied;
} km_kop_reply_head;

/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    requires \valid(h) && \separated(h, r, e) && \separated(h, r->buf + (0 .. r->len - 1));
    assigns r->pos, *e, *h;
    ensures km_rd_ok(r);
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA;
    ensures \result == KM_OK ==> h->completed <= KM_KOP_MAX_ENTRIES && h->status < KM_STATUS_COUNT &&
                                 h->success <= 1; */
static km_status km_kop_rd_reply_head(km_kop_rd *r, km_kop_reply_head *h, km_kop_wire_error *e)
{
    km_status st = km_kop_rd_version(r, e);
    if (st == KM_OK) {
        st = km_kop_rd_u8(r, &h->success, e, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u8(r, &h->status, e, KM_NO_INDEX);
    }
    if ((st == KM_OK) && ((h->success > 1u) || (h->status >= (uint8_t)KM_STATUS_COUNT))) {
        st = km_kop_wfail(e, KM_KOP_W_BAD_ENUM, r->pos, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u64(r, &h->id, e, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u32(r, &h->failed, e, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u32(r, &h->completed, e, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u32(r, &h->applied, e, KM_NO_INDEX);
    }
    /* success <=> status 0 and no failed entry; counts within a batch */
    if ((st == KM_OK) && ((h->completed > KM_KOP_MAX_ENTRIES) || (h->applied > h->completed) ||
                          ((h->success == 1u) && ((h->status != 0u) || (h->failed != KM_NO_INDEX))) ||
                          ((h->success == 0u) && (h->status == 0u)) ||
                          ((h->failed != KM_NO_INDEX) && (h->failed != h->completed)))) {
        st = km_kop_wfail(e, KM_KOP_W_INCONSISTENT, r->pos, KM_NO_INDEX);
    }
    return st;
}

/* q == NULL: validate only (data is not touched).  Otherwise fill *q, and
 * Bytes values into data[0 .. data_cap) (the caller's reply storage). */
/*@ requires km_rd_ok(r) && \valid(e) && \separated(e, r) && \separated(e, r->buf + (0 .. r->len - 1));
    requires q == \null || (\valid(q) && \separated(q, r, e) && \separated(q, r->buf + (0 .. r->len - 1)));
    requires q != \null && data_cap > 0 ==>
             \valid(data + (0 .. data_cap - 1)) && \separated(data + (0 .. data_cap - 1), r, e, q) &&
             \separated(data + (0 .. data_cap - 1), r->buf + (0 .. r->len - 1));
    assigns r->pos, *e, *q, data[0 .. data_cap - 1];
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_CAPACITY; */
static km_status km_kop_parse_reply(km_kop_rd *r, km_kop_reply *q, uint8_t *data, uint32_t data_cap,
                                    km_kop_wire_error *e)
{
    km_kop_reply_head h = {0u, 0u, 0u, 0u, 0u, 0u};
    uint32_t rlen = 0u;
    uint32_t nreads = 0u;
    uint32_t used = 0u;
    km_status st = km_kop_rd_reply_head(r, &h, e);
    if (st == KM_OK) {
        st = km_kop_rd_str(r, KM_KOP_REASON_MAX, (q != NULL) ? q->reason.text : NULL, &rlen, e, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_kop_rd_u16(r, &nreads, e, KM_NO_INDEX);
    }
    if ((st == KM_OK) && ((nreads > KM_KOP_MAX_ENTRIES) || (nreads > h.completed))) {
        st = km_kop_wfail(e, KM_KOP_W_TOO_MANY, r->pos, KM_NO_INDEX);
    }
    if ((st == KM_OK) && (q != NULL)) {
        q->request_id = h.id;
        q->success = (h.success == 1u);
        q->status = km_kop_status_of(h.status);
        q->failed_index = h.failed;
        q->completed = h.completed;
        q->writes_applied = h.applied;
        q->reason.len = rlen;
        q->reason.truncated = false;
        q->nreads = 0u;
        q->data_len = 0u;
    }
    /*@ loop invariant 0 <= i <= nreads;
        loop invariant km_rd_ok(r);
        loop invariant st == KM_OK ==> nreads <= KM_KOP_MAX_ENTRIES;
        loop invariant used <= data_cap;
        loop invariant st == KM_OK || st == KM_ERR_BAD_DATA || st == KM_ERR_CAPACITY;
        loop invariant q != \null && st == KM_OK ==> q->nreads == i && q->data_len == used;
        loop assigns i, st, used, r->pos, *e, q->reads[0 .. KM_KOP_MAX_ENTRIES - 1], q->nreads, q->data_len,
                     data[0 .. data_cap - 1];
        loop variant nreads - i; */
    for (uint32_t i = 0u; (st == KM_OK) && (i < nreads); i++) {
        /* decoded in place (validated only when q is NULL), as in km_kop_parse_request */
        km_kop_read *rd = NULL;
        if (q != NULL) {
            rd = &q->reads[i];
        }
        st = km_kop_rd_read(r, h.completed, rd, data, data_cap, &used, e, i);
        if ((st == KM_OK) && (q != NULL)) {
            q->nreads = i + 1u;
            q->data_len = used;
        }
    }
    if ((st == KM_OK) && (r->pos != r->len)) {
        st = km_kop_wfail(e, KM_KOP_W_PAYLOAD_TRAILING, r->pos, KM_NO_INDEX);
    }
    return st;
}

/*@ requires len == 0 || \valid_read(buf + (0 .. len - 1));
    requires \valid(out) && \separated(out, buf + (0 .. len - 1));
    requires out->data_len == 0 || \true;
    requires out->data_cap > 0 ==> \valid(out->data + (0 .. out->data_cap - 1)) &&
             \separated(out->data + (0 .. out->data_cap - 1), out) &&
             \separated(out->data + (0 .. out->data_cap - 1), buf + (0 .. len - 1));
    requires err == \null || (\valid(err) && \separated(err, out) && \separated(err, buf + (0 .. len - 1)) &&
             (out->data_cap > 0 ==> \separated(err, out->data + (0 .. out->data_cap - 1))));
    assigns *out, *err, out->data[0 .. out->data_cap - 1];
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_INVALID_ARG ||
            \result == KM_ERR_CAPACITY; */
km_status km_kop_decode_reply(const uint8_t *buf, size_t len, km_kop_reply *out, km_kop_wire_error *err)
{
    km_kop_wire_error e = {KM_OK, KM_KOP_W_NONE, 0u, KM_NO_INDEX};
    km_kop_rd r = {NULL, 0u, 0u};
    km_status st = KM_ERR_INVALID_ARG;
    uint8_t *data = out->data;
    uint32_t cap = (data != NULL) ? out->data_cap : 0u;
    if ((buf != NULL) && (len > 0u) && (len <= KM_KOP_FRAME_MAX)) {
        st = km_kop_frame_open(buf, len, KM_KOP_TAG_REPLY, &r, &e);
        if (st == KM_OK) {
            st = km_kop_parse_reply(&r, NULL, data, cap, &e);
        }
        if (st == KM_OK) {
            r.pos = 0u;
            out->data_cap = cap;
            out->data_len = 0u;
            st = km_kop_parse_reply(&r, out, data, cap, &e);
        }
    } else if ((buf != NULL) && (len > KM_KOP_FRAME_MAX)) {
        st = km_kop_wfail(&e, KM_KOP_W_LENGTH, 4u, KM_NO_INDEX);
    } else {
        e.status = KM_ERR_INVALID_ARG;
    }
    if (err != NULL) {
        *err = e;
    }
    return st;
}

/* ---------------------------------------------------------------- names */

const char *km_kop_wire_reason_name(km_kop_wire_reason r)
{
    static const char *const names[KM_KOP_WIRE_REASONS] = {
        "no error",
        "short header (fewer than 16 bytes)",
        "unknown message tag",
        "header pad word is not zero",
        "payload length out of range",
        "trailing bytes after the frame",
        "CRC32 mismatch",
        "unsupported payload version",
        "payload truncated inside a field",
        "bytes after the last field of the payload",
        "enumeration value out of range",
        "too many entries",
        "string too long or holding a NUL byte",
        "Bytes length out of range",
        "inconsistent reply fields",
        "caller storage too small",
    };
    const char *s = "unknown reason";
    uint32_t i = (uint32_t)r;
    if (i < KM_KOP_WIRE_REASONS) {
        s = names[i];
    }
    return s;
}
