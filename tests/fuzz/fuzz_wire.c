/* libFuzzer target: the kernel-op wire codec (and the dispatcher on what it decodes).
 *
 * Byte 0 picks how the rest is used:
 *   even  the rest is a whole frame (header included), decoded as a request and as a reply;
 *   odd   the rest is a payload: it gets a valid header (tag by bit 1, right length and CRC), so the
 *         fuzzer reaches the payload parser without having to guess a CRC.
 * Properties checked (abort on violation):
 *   - decoding never reads outside the input (ASan: the input is copied into an exact-size heap buffer);
 *   - a decoded request re-encodes to the same bytes, and decodes again to the same request
 *     (the encoding is canonical); the same for replies;
 *   - request Bytes values point inside the input;
 *   - a failed decode leaves the output untouched;
 *   - dispatching a decoded request over a small fake RAM (pa: targets; no guest kernel) never
 *     touches memory outside it and fills a reply that encodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/kop_dispatch.h"

#define RAM 65536u

static km_kop_request req, req2;
static km_kop_reply rep, rep2;
static uint8_t out[KM_KOP_FRAME_MAX];
static uint8_t data[1u << 17], data2[1u << 17];
static uint8_t *ram;
static volatile uint64_t sink;

static void check(int cond)
{
    if (!cond) {
        abort();
    }
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void fuzz_request(const uint8_t *buf, size_t len)
{
    km_kop_wire_error e;
    memset(&req, 0xa5, sizeof(req));
    km_status st = km_kop_decode_request(buf, len, &req, &e);
    if (st != KM_OK) {
        static km_kop_request pristine;
        memset(&pristine, 0xa5, sizeof(pristine));
        check(memcmp(&pristine, &req, sizeof(req)) == 0);
        sink += (uint64_t)e.reason + e.offset;
        return;
    }
    check(req.count <= KM_KOP_MAX_ENTRIES && req.tag_len <= KM_KOP_TAG_MAX);
    for (uint32_t i = 0; i < req.count; i++) {
        const km_kop_value *v = &req.entries[i].value;
        if (v->kind == KM_KOP_V_BYTES && req.dir == KM_KOP_WRITE) {
            check(v->len >= 1 && v->len <= KM_KOP_BYTES_MAX);
            check(v->bytes >= buf && v->bytes + v->len <= buf + len);
        }
    }
    size_t n = 0;
    check(km_kop_encode_request(&req, out, sizeof(out), &n) == KM_OK);
    check(n == len && memcmp(out, buf, len) == 0);
    check(km_kop_decode_request(out, n, &req2, NULL) == KM_OK);
    check(req2.count == req.count && req2.request_id == req.request_id);

    /* dispatch over the fake RAM: hot, then cold under a freshly minted token */
    km_mem mem;
    km_mem_init(&mem);
    check(km_mem_add_region(&mem, 0x1000, RAM, ram, true) == KM_OK);
    km_kop_ctx ctx;
    km_kop_ctx_init(&ctx, &mem, NULL, NULL, NULL);
    km_kop_gate gate;
    km_freeze_token tok;
    km_kop_gate_init(&gate);
    km_kop_gate_mint(&gate, &tok);
    km_kop_reply_init(&rep, data, sizeof(data));
    (void)km_kop_dispatch(&ctx, &gate, &tok, &req, &rep);
    km_kop_gate_thaw(&gate);
    check(rep.completed <= req.count && rep.writes_applied <= rep.completed);
    check(rep.success == (rep.completed == req.count));
    check(rep.reason.len <= KM_KOP_REASON_MAX && strlen(rep.reason.text) == rep.reason.len);
    check(km_kop_encode_reply(&rep, out, sizeof(out), &n) == KM_OK);
    km_kop_reply_init(&rep2, data2, sizeof(data2));
    check(km_kop_decode_reply(out, n, &rep2, NULL) == KM_OK);
    check(rep2.nreads == rep.nreads && rep2.completed == rep.completed && rep2.success == rep.success);
    sink += rep.data_len;
}

static void fuzz_reply(const uint8_t *buf, size_t len)
{
    km_kop_wire_error e;
    km_kop_reply_init(&rep, data, (uint32_t)(len % 4096u)); /* small storage: capacity errors too */
    km_status st = km_kop_decode_reply(buf, len, &rep, &e);
    if (st != KM_OK) {
        check(rep.nreads == 0 && rep.data_len == 0);
        sink += (uint64_t)e.reason;
        return;
    }
    check(rep.nreads <= rep.completed && rep.data_len <= rep.data_cap);
    size_t n = 0;
    check(km_kop_encode_reply(&rep, out, sizeof(out), &n) == KM_OK);
    check(n == len && memcmp(out, buf, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t size)
{
    if (ram == NULL) {
        ram = malloc(RAM);
        if (ram == NULL) {
            return 0;
        }
    }
    if (size < 1 || size > KM_KOP_FRAME_MAX) {
        return 0;
    }
    size_t len = size - 1;
    uint8_t *buf;
    if ((d[0] & 1u) != 0u) {
        /* a payload: give it a valid header */
        buf = malloc(len + 16);
        if (buf == NULL) {
            return 0;
        }
        uint32_t tag = ((d[0] & 2u) != 0u) ? KM_KOP_TAG_REPLY : KM_KOP_TAG_REQUEST;
        put32(buf, tag);
        put32(buf + 4, (uint32_t)len);
        put32(buf + 8, km_kop_crc32(d + 1, len));
        put32(buf + 12, 0);
        if (len > 0) {
            memcpy(buf + 16, d + 1, len);
        }
        len += 16;
    } else {
        buf = malloc(len > 0 ? len : 1);
        if (buf == NULL) {
            return 0;
        }
        if (len > 0) {
            memcpy(buf, d + 1, len);
        }
    }
    fuzz_request(buf, len);
    fuzz_reply(buf, len);
    uint32_t tag = 0;
    if (km_kop_frame_tag(buf, len, &tag) == KM_OK) {
        sink += tag;
    }
    free(buf);
    return 0;
}
