/* Unit tests: the kernel-op wire codec (modules/kop_dispatch/kop_wire.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/kop_dispatch.h"

static uint8_t frame[KM_KOP_FRAME_MAX];

/* ------------------------------------------------------------------ helpers: raw payloads */

typedef struct {
    uint8_t b[4096];
    size_t n;
} raw;

static void put(raw *r, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        r->b[r->n++] = (uint8_t)(v >> (8 * i));
    }
}

static void put_str(raw *r, const char *s)
{
    size_t n = strlen(s);
    put(r, n, 2);
    memcpy(&r->b[r->n], s, n);
    r->n += n;
}

/* A frame around a payload; returns its length. */
static size_t wrap(uint32_t tag, const uint8_t *p, size_t n, uint8_t *out)
{
    uint32_t crc = km_kop_crc32(p, n);
    uint32_t h[4] = {tag, (uint32_t)n, crc, 0};
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 4; k++) {
            out[4 * i + k] = (uint8_t)(h[i] >> (8 * k));
        }
    }
    memcpy(&out[16], p, n);
    return 16 + n;
}

/* Request payload header: version, mode, dir, id, tag, count. */
static void req_head(raw *r, unsigned mode, unsigned dir, unsigned count)
{
    r->n = 0;
    put(r, 1, 2);
    put(r, mode, 1);
    put(r, dir, 1);
    put(r, 0x1122334455667788ull, 8);
    put_str(r, "t");
    put(r, count, 2);
}

static void kva_u32_entry(raw *r, uint64_t kva, uint32_t v)
{
    put(r, 2, 1);
    put(r, kva, 8);
    put(r, 0, 1);
    put(r, v, 4);
}

static km_kop_request req, req2;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ------------------------------------------------------------------ CRC */

Test(kop_wire, crc32_known_vectors)
{
    cr_assert_eq(km_kop_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    cr_assert_eq(km_kop_crc32((const uint8_t *)"", 0), 0u);
    cr_assert_eq(km_kop_crc32((const uint8_t *)"a", 1), 0xE8B7BE43u);
    uint8_t zeros[32] = {0};
    cr_assert_eq(km_kop_crc32(zeros, 32), 0x190A55ADu);
}

/* ------------------------------------------------------------------ round trips */

static const uint8_t blob[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x7f, 0x80, 0xff};

static void build_write_request(km_kop_request *q)
{
    km_kop_request_init(q, 0xfeedfacecafebeefull, KM_KOP_COLD, KM_KOP_WRITE);
    km_kop_request_set_tag(q, (const uint8_t *)"test tag \xc3\xa9", 11);
    km_kop_entry *e = q->entries;
    e[0].target.kind = KM_KOP_T_SYMBOL;
    strcpy(e[0].target.name, "init_uts_ns");
    strcpy(e[0].target.type, "uts_namespace");
    strcpy(e[0].target.field, "name.nodename");
    e[0].target.offset = 3;
    e[0].value.kind = KM_KOP_V_BYTES;
    e[0].value.bytes = blob;
    e[0].value.len = sizeof(blob);
    e[1].target.kind = KM_KOP_T_DIRECT;
    e[1].target.addr = 0xffff888000001000ull;
    e[1].value.kind = KM_KOP_V_U32;
    e[1].value.scalar = 0x12345678u;
    e[2].target.kind = KM_KOP_T_KVA;
    e[2].target.addr = 0xffffc90000000008ull;
    e[2].value.kind = KM_KOP_V_U64;
    e[2].value.scalar = 0x0102030405060708ull;
    e[3].target.kind = KM_KOP_T_PERCPU;
    strcpy(e[3].target.name, "runqueues");
    strcpy(e[3].target.field, "scx.flags");
    e[3].target.cpu = 7;
    e[3].value.kind = KM_KOP_V_OR_U32;
    e[3].value.scalar = 0x20u;
    e[4].target.kind = KM_KOP_T_TASK;
    e[4].target.pid = 4242;
    e[4].target.check_start = true;
    e[4].target.start_ns = 123456789012ull;
    strcpy(e[4].target.field, "scx.dsq_vtime");
    e[4].value.kind = KM_KOP_V_U64;
    e[4].value.scalar = UINT64_MAX;
    e[5].target.kind = KM_KOP_T_PA;
    e[5].target.addr = 0x1000;
    e[5].value.kind = KM_KOP_V_U32;
    e[5].value.scalar = 0;
    q->count = 6;
}

static void assert_same_request(const km_kop_request *a, const km_kop_request *b)
{
    cr_assert_eq(a->request_id, b->request_id);
    cr_assert_eq(a->mode, b->mode);
    cr_assert_eq(a->dir, b->dir);
    cr_assert_eq(a->tag_len, b->tag_len);
    cr_assert_arr_eq(a->tag, b->tag, a->tag_len);
    cr_assert_eq(a->count, b->count);
    for (uint32_t i = 0; i < a->count; i++) {
        const km_kop_entry *x = &a->entries[i], *y = &b->entries[i];
        cr_assert_eq(x->target.kind, y->target.kind, "entry %u", i);
        cr_assert_str_eq(x->target.name, y->target.name);
        cr_assert_str_eq(x->target.type, y->target.type);
        cr_assert_str_eq(x->target.field, y->target.field);
        cr_assert_eq(x->value.kind, y->value.kind);
        switch (x->target.kind) {
        case KM_KOP_T_SYMBOL:
        case KM_KOP_T_PERCPU:
            cr_assert_eq(x->target.offset, y->target.offset);
            if (x->target.kind == KM_KOP_T_PERCPU) {
                cr_assert_eq(x->target.cpu, y->target.cpu);
            }
            break;
        case KM_KOP_T_TASK:
            cr_assert_eq(x->target.pid, y->target.pid);
            cr_assert_eq(x->target.check_start, y->target.check_start);
            cr_assert_eq(x->target.start_ns, y->target.start_ns);
            break;
        default:
            cr_assert_eq(x->target.addr, y->target.addr);
            break;
        }
        if (x->value.kind == KM_KOP_V_BYTES) {
            cr_assert_eq(x->value.len, y->value.len);
            if (a->dir == KM_KOP_WRITE) {
                cr_assert_arr_eq(x->value.bytes, y->value.bytes, x->value.len);
            }
        } else if (a->dir == KM_KOP_WRITE) {
            cr_assert_eq(x->value.scalar, y->value.scalar, "entry %u", i);
        }
    }
}

Test(kop_wire, request_round_trip_every_target_and_value)
{
    build_write_request(&req);
    size_t n = 0;
    cr_assert_eq(km_kop_encode_request(&req, frame, sizeof(frame), &n), KM_OK);
    cr_assert_gt(n, 16u);
    /* header: KORQ, payload length, CRC of the payload, zero pad */
    cr_assert_eq(le32(&frame[0]), KM_KOP_TAG_REQUEST);
    cr_assert_eq(le32(&frame[4]), n - 16);
    cr_assert_eq(le32(&frame[8]), km_kop_crc32(&frame[16], n - 16));
    cr_assert_eq(le32(&frame[12]), 0u);
    uint32_t tag = 0;
    cr_assert_eq(km_kop_frame_tag(frame, n, &tag), KM_OK);
    cr_assert_eq(tag, KM_KOP_TAG_REQUEST);
    km_kop_wire_error e;
    memset(&req2, 0x5a, sizeof(req2));
    cr_assert_eq(km_kop_decode_request(frame, n, &req2, &e), KM_OK, "%s", km_kop_wire_reason_name(e.reason));
    assert_same_request(&req, &req2);
    /* Bytes are referenced in place, inside the frame */
    cr_assert(req2.entries[0].value.bytes >= frame && req2.entries[0].value.bytes + 8 <= frame + n);
    /* re-encoding the decoded request gives the same bytes */
    static uint8_t again[4096];
    size_t n2 = 0;
    cr_assert_eq(km_kop_encode_request(&req2, again, sizeof(again), &n2), KM_OK);
    cr_assert_eq(n2, n);
    cr_assert_arr_eq(again, frame, n);
}

Test(kop_wire, read_request_round_trip_carries_widths_only)
{
    km_kop_request_init(&req, 9, KM_KOP_HOT, KM_KOP_READ);
    req.entries[0].target.kind = KM_KOP_T_KVA;
    req.entries[0].target.addr = 0xffffffff81000000ull;
    req.entries[0].value.kind = KM_KOP_V_BYTES;
    req.entries[0].value.len = 300;
    req.entries[1].target.kind = KM_KOP_T_PA;
    req.entries[1].value.kind = KM_KOP_V_U64;
    req.count = 2;
    size_t n = 0;
    cr_assert_eq(km_kop_encode_request(&req, frame, sizeof(frame), &n), KM_OK);
    cr_assert_eq(km_kop_decode_request(frame, n, &req2, NULL), KM_OK);
    assert_same_request(&req, &req2);
    cr_assert_null(req2.entries[0].value.bytes);
    cr_assert_eq(req2.entries[0].value.len, 300u);
}

Test(kop_wire, reply_round_trip_with_reads)
{
    static uint8_t data[64], data2[64];
    km_kop_reply rep, rep2;
    km_kop_reply_init(&rep, data, sizeof(data));
    rep.request_id = 77;
    rep.success = false;
    rep.status = KM_ERR_UNMAPPED;
    rep.completed = 3;
    rep.failed_index = 3;
    rep.writes_applied = 0;
    strcpy(rep.reason.text, "entry[3]: kva 0xffffc90000000000: page unmapped");
    rep.reason.len = (uint32_t)strlen(rep.reason.text);
    rep.nreads = 3;
    rep.reads[0] = (km_kop_read){.index = 0, .kind = KM_KOP_V_U32, .kva = 1, .pa = 2, .scalar = 0xdeadbeef};
    rep.reads[1] = (km_kop_read){.index = 1, .kind = KM_KOP_V_U64, .kva = 3, .pa = 4, .scalar = UINT64_MAX};
    memcpy(data, "kt-cold", 8);
    rep.data_len = 8;
    rep.reads[2] = (km_kop_read){.index = 2, .kind = KM_KOP_V_BYTES, .kva = 5, .pa = 6, .off = 0, .len = 8};
    size_t n = 0;
    cr_assert_eq(km_kop_encode_reply(&rep, frame, sizeof(frame), &n), KM_OK);
    km_kop_reply_init(&rep2, data2, sizeof(data2));
    km_kop_wire_error e;
    cr_assert_eq(km_kop_decode_reply(frame, n, &rep2, &e), KM_OK, "%s", km_kop_wire_reason_name(e.reason));
    cr_assert_eq(rep2.request_id, 77u);
    cr_assert_not(rep2.success);
    cr_assert_eq(rep2.status, KM_ERR_UNMAPPED);
    cr_assert_eq(rep2.failed_index, 3u);
    cr_assert_eq(rep2.completed, 3u);
    cr_assert_str_eq(rep2.reason.text, rep.reason.text);
    cr_assert_eq(rep2.nreads, 3u);
    cr_assert_eq(rep2.reads[0].scalar, 0xdeadbeefu);
    cr_assert_eq(rep2.reads[1].scalar, UINT64_MAX);
    cr_assert_eq(rep2.reads[1].kva, 3u);
    cr_assert_eq(rep2.reads[2].kind, KM_KOP_V_BYTES);
    cr_assert_eq(rep2.reads[2].len, 8u);
    cr_assert_str_eq((const char *)&data2[rep2.reads[2].off], "kt-cold");
    /* the reply's Bytes do not fit caller storage of 4 bytes */
    uint8_t small[4];
    km_kop_reply_init(&rep2, small, sizeof(small));
    cr_assert_eq(km_kop_decode_reply(frame, n, &rep2, &e), KM_ERR_CAPACITY);
    cr_assert_eq(e.reason, KM_KOP_W_CAPACITY);
    cr_assert_eq(rep2.nreads, 0u, "nothing stored on failure");
}

Test(kop_wire, reply_must_be_consistent)
{
    km_kop_reply rep;
    km_kop_reply_init(&rep, NULL, 0);
    rep.success = true;
    rep.status = KM_ERR_RANGE; /* success with an error status */
    size_t n = 0;
    cr_assert_eq(km_kop_encode_reply(&rep, frame, sizeof(frame), &n), KM_ERR_INVALID_ARG);
    /* a hand-made inconsistent reply is refused by the decoder */
    raw r = {.n = 0};
    put(&r, 1, 2);
    put(&r, 1, 1);  /* success */
    put(&r, 1, 1);  /* status RANGE */
    put(&r, 5, 8);
    put(&r, UINT32_MAX, 4);
    put(&r, 0, 4);
    put(&r, 0, 4);
    put(&r, 0, 2);
    put(&r, 0, 2);
    size_t len = wrap(KM_KOP_TAG_REPLY, r.b, r.n, frame);
    km_kop_wire_error e;
    cr_assert_eq(km_kop_decode_reply(frame, len, &rep, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KOP_W_INCONSISTENT);
}

/* ------------------------------------------------------------------ malformed frames */

static size_t good_frame(void)
{
    build_write_request(&req);
    size_t n = 0;
    cr_assert_eq(km_kop_encode_request(&req, frame, sizeof(frame), &n), KM_OK);
    return n;
}

static void expect_bad(const uint8_t *f, size_t n, km_kop_wire_reason why)
{
    km_kop_wire_error e;
    memset(&req2, 0xa5, sizeof(req2));
    static km_kop_request pristine;
    memcpy(&pristine, &req2, sizeof(req2));
    km_status st = km_kop_decode_request(f, n, &req2, &e);
    cr_assert_eq(st, KM_ERR_BAD_DATA, "expected %s", km_kop_wire_reason_name(why));
    cr_assert_eq(e.reason, why, "got %s, expected %s", km_kop_wire_reason_name(e.reason),
                 km_kop_wire_reason_name(why));
    cr_assert_eq(memcmp(&pristine, &req2, sizeof(req2)), 0, "output untouched on failure");
}

Test(kop_wire, bad_crc)
{
    size_t n = good_frame();
    frame[n - 1] ^= 0x01;
    expect_bad(frame, n, KM_KOP_W_CRC);
    frame[n - 1] ^= 0x01;
    frame[9] ^= 0x80; /* the CRC field itself */
    expect_bad(frame, n, KM_KOP_W_CRC);
}

Test(kop_wire, short_header)
{
    size_t n = good_frame();
    (void)n;
    for (size_t k = 0; k < 16; k++) {
        expect_bad(frame, k == 0 ? 1 : k, KM_KOP_W_SHORT_HEADER);
    }
    km_kop_wire_error e;
    cr_assert_eq(km_kop_decode_request(frame, 0, &req2, &e), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_kop_decode_request(NULL, 5, &req2, &e), KM_ERR_INVALID_ARG);
}

Test(kop_wire, length_mismatch)
{
    size_t n = good_frame();
    /* the header promises more than the input holds */
    expect_bad(frame, n - 1, KM_KOP_W_LENGTH);
    /* a length field beyond the 1 MiB cap */
    frame[4] = 0;
    frame[5] = 0;
    frame[6] = 0x10;
    frame[7] = 0;
    frame[4] = 1; /* 0x100001 */
    expect_bad(frame, n, KM_KOP_W_LENGTH);
    /* zero-length payload */
    n = good_frame();
    memset(&frame[4], 0, 4);
    expect_bad(frame, 16, KM_KOP_W_LENGTH);
}

Test(kop_wire, trailing_bytes)
{
    size_t n = good_frame();
    frame[n] = 0;
    expect_bad(frame, n + 1, KM_KOP_W_TRAILING);
    /* bytes after the last field inside the payload (CRC and length updated) */
    raw r;
    req_head(&r, 1, 0, 1);
    kva_u32_entry(&r, 0xffffffff81000000ull, 1);
    put(&r, 0, 1);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_PAYLOAD_TRAILING);
}

Test(kop_wire, unknown_tag_and_pad)
{
    size_t n = good_frame();
    frame[0] = 'X';
    expect_bad(frame, n, KM_KOP_W_UNKNOWN_TAG);
    n = good_frame();
    frame[0] = (uint8_t)(KM_KOP_TAG_REPLY & 0xff); /* a reply is not a request */
    expect_bad(frame, n, KM_KOP_W_UNKNOWN_TAG);
    n = good_frame();
    frame[13] = 1;
    expect_bad(frame, n, KM_KOP_W_PAD);
}

Test(kop_wire, too_many_entries)
{
    raw r;
    req_head(&r, 1, 0, 65);
    for (int i = 0; i < 65; i++) {
        kva_u32_entry(&r, 0xffffffff81000000ull, 1);
    }
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_TOO_MANY);
    /* 64 is fine */
    req_head(&r, 1, 0, 64);
    for (int i = 0; i < 64; i++) {
        kva_u32_entry(&r, 0xffffffff81000000ull + 4u * (unsigned)i, (uint32_t)i);
    }
    size_t n = wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame);
    cr_assert_eq(km_kop_decode_request(frame, n, &req2, NULL), KM_OK);
    cr_assert_eq(req2.count, 64u);
    cr_assert_eq(req2.entries[63].value.scalar, 63u);
    /* the encoder refuses 65 */
    req2.count = 65;
    size_t w = 0;
    cr_assert_eq(km_kop_encode_request(&req2, frame, sizeof(frame), &w), KM_ERR_INVALID_ARG);
}

Test(kop_wire, oversize_and_empty_bytes)
{
    static raw big;
    raw *r = &big;
    req_head(r, 1, 1, 1); /* a read: Bytes carries only its length */
    put(r, 2, 1);
    put(r, 0xffffffff81000000ull, 8);
    put(r, 2, 1);
    put(r, KM_KOP_BYTES_MAX + 1u, 4);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r->b, r->n, frame), KM_KOP_W_BYTES);
    req_head(r, 1, 1, 1);
    put(r, 2, 1);
    put(r, 0xffffffff81000000ull, 8);
    put(r, 2, 1);
    put(r, 0, 4);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r->b, r->n, frame), KM_KOP_W_BYTES);
    /* a write whose Bytes run past the payload */
    req_head(r, 1, 0, 1);
    put(r, 2, 1);
    put(r, 0xffffffff81000000ull, 8);
    put(r, 2, 1);
    put(r, 100, 4);
    put(r, 0x41, 1);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r->b, r->n, frame), KM_KOP_W_TRUNCATED);
}

Test(kop_wire, version_enums_and_strings)
{
    raw r;
    req_head(&r, 1, 0, 0);
    r.b[0] = 2; /* version 2 */
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_VERSION);
    req_head(&r, 2, 0, 0); /* mode 2 */
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_BAD_ENUM);
    req_head(&r, 1, 0, 1);
    put(&r, 9, 1); /* target kind 9 */
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_BAD_ENUM);
    req_head(&r, 1, 0, 1);
    put(&r, 2, 1);
    put(&r, 0xffffffff81000000ull, 8);
    put(&r, 4, 1); /* value kind 4 */
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_BAD_ENUM);
    /* a symbol name of 128 bytes */
    char name[129];
    memset(name, 'a', 128);
    name[128] = 0;
    req_head(&r, 1, 0, 1);
    put(&r, 0, 1);
    put_str(&r, name);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_STRING);
    /* a NUL inside a name */
    req_head(&r, 1, 0, 1);
    put(&r, 0, 1);
    put(&r, 3, 2);
    put(&r, 'a', 1);
    put(&r, 0, 1);
    put(&r, 'b', 1);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_STRING);
    /* a tag over 256 bytes */
    r.n = 0;
    put(&r, 1, 2);
    put(&r, 1, 1);
    put(&r, 0, 1);
    put(&r, 1, 8);
    put(&r, 257, 2);
    for (int i = 0; i < 257; i++) {
        put(&r, 'x', 1);
    }
    put(&r, 0, 2);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_STRING);
    /* task flags other than bit 0 */
    req_head(&r, 1, 0, 1);
    put(&r, 4, 1);
    put(&r, 1, 4);
    put(&r, 2, 1);
    expect_bad(frame, wrap(KM_KOP_TAG_REQUEST, r.b, r.n, frame), KM_KOP_W_BAD_ENUM);
}

Test(kop_wire, every_truncation_of_a_valid_frame_is_refused)
{
    size_t n = good_frame();
    static uint8_t copy[4096];
    for (size_t k = 1; k < n; k++) {
        /* a copy of exactly k bytes (heap-exact, so ASan sees any overread) */
        uint8_t *p = malloc(k);
        memcpy(p, frame, k);
        km_kop_wire_error e;
        cr_assert_eq(km_kop_decode_request(p, k, &req2, &e), KM_ERR_BAD_DATA, "prefix %zu", k);
        free(p);
    }
    /* and a payload cut short with a matching header */
    memcpy(copy, frame, n);
    for (size_t k = 1; k < n - 16; k++) {
        size_t len = wrap(KM_KOP_TAG_REQUEST, &frame[16], k, copy);
        km_kop_wire_error e;
        cr_assert_eq(km_kop_decode_request(copy, len, &req2, &e), KM_ERR_BAD_DATA, "payload %zu", k);
        cr_assert(e.reason == KM_KOP_W_TRUNCATED || e.reason == KM_KOP_W_BYTES || e.reason == KM_KOP_W_STRING,
                  "payload %zu: %s", k, km_kop_wire_reason_name(e.reason));
    }
}

Test(kop_wire, encoder_capacity_and_invalid_requests)
{
    build_write_request(&req);
    size_t n = 0;
    cr_assert_eq(km_kop_encode_request(&req, frame, sizeof(frame), &n), KM_OK);
    size_t w = 12345;
    for (size_t cap = 0; cap < n; cap += 7) {
        cr_assert_eq(km_kop_encode_request(&req, frame, cap, &w), KM_ERR_CAPACITY, "cap %zu", cap);
        cr_assert_eq(w, 12345u);
    }
    cr_assert_eq(km_kop_encode_request(&req, frame, n, &w), KM_OK);
    cr_assert_eq(w, n);
    req.entries[1].value.scalar = 0x100000000ull; /* U32 wider than 32 bits */
    cr_assert_eq(km_kop_encode_request(&req, frame, sizeof(frame), &w), KM_ERR_INVALID_ARG);
    build_write_request(&req);
    req.entries[0].value.bytes = NULL;
    cr_assert_eq(km_kop_encode_request(&req, frame, sizeof(frame), &w), KM_ERR_INVALID_ARG);
}

Test(kop_wire, tags_are_cut_at_a_utf8_boundary)
{
    uint8_t tag[300];
    /* 'a' then 2-byte characters: byte 256 falls inside a character */
    tag[0] = 'a';
    for (int i = 1; i + 1 < 300; i += 2) {
        tag[i] = 0xc3;
        tag[i + 1] = 0xa9;
    }
    km_kop_request_init(&req, 1, KM_KOP_HOT, KM_KOP_READ);
    km_kop_request_set_tag(&req, tag, 299);
    cr_assert_eq(req.tag_len, 255u);
    cr_assert_eq(req.tag[254], 0xa9);
    size_t n = 0;
    cr_assert_eq(km_kop_encode_request(&req, frame, sizeof(frame), &n), KM_OK);
    cr_assert_eq(km_kop_decode_request(frame, n, &req2, NULL), KM_OK);
    cr_assert_eq(req2.tag_len, 255u);
}

Test(kop_wire, reason_names)
{
    for (unsigned r = 0; r < KM_KOP_WIRE_REASONS; r++) {
        cr_assert_str_neq(km_kop_wire_reason_name((km_kop_wire_reason)r), "unknown reason");
    }
    cr_assert_str_eq(km_kop_wire_reason_name((km_kop_wire_reason)99), "unknown reason");
}
