/* ktmon kop_dispatch: the wire encoders (docs/wire-format.md).
 *
 * The counterpart of kop_wire.c's decoders.  Not part of the WP harness
 * (verify/wp/kop_wire.wp proves the decoders and CRC-32, which face untrusted
 * input); the encoders write only through a bounds-checked cursor, refuse
 * what the decoder would refuse before writing, and are checked by the unit
 * tests (round trips, every capacity) and by the fuzz target, which
 * re-encodes every request it decodes.  Nothing here allocates. */
#include "kop_int.h"

#include "ktmon/kop_dispatch.h"

/* ---------------------------------------------------------------- encoding */

typedef struct km_kop_wr {
    uint8_t *buf;
    size_t cap;
    size_t pos;
} km_kop_wr;

/*@ predicate km_wr_ok(km_kop_wr *w) =
        \valid(w) && w->pos <= w->cap && \valid(w->buf + (0 .. w->cap - 1)) &&
        \separated(w, w->buf + (0 .. w->cap - 1)); */

/* Append n bytes of the value v (little-endian); false (nothing written) if full. */
/*@ requires km_wr_ok(w) && 1 <= n <= 8;
    assigns w->pos, w->buf[0 .. w->cap - 1];
    ensures km_wr_ok(w);
    ensures \result == \true ==> w->pos == \old(w->pos) + n;
    ensures \result == \false ==> w->pos == \old(w->pos); */
static bool km_kop_put(km_kop_wr *w, uint64_t v, uint32_t n)
{
    bool ok = false;
    if ((size_t)n <= (w->cap - w->pos)) {
        uint64_t x = v;
        /*@ loop invariant 0 <= i <= n && w->pos + n <= w->cap;
            loop assigns i, x, w->buf[0 .. w->cap - 1];
            loop variant n - i; */
        for (uint32_t i = 0u; i < n; i++) {
            w->buf[w->pos + i] = (uint8_t)(x % 256u);
            x /= 256u;
        }
        w->pos += n;
        ok = true;
    }
    return ok;
}

/*@ requires km_wr_ok(w) && (n == 0 || \valid_read(s + (0 .. n - 1)));
    requires \separated(w, s + (0 .. n - 1)) && \separated(w->buf + (0 .. w->cap - 1), s + (0 .. n - 1));
    assigns w->pos, w->buf[0 .. w->cap - 1];
    ensures km_wr_ok(w); */
static bool km_kop_put_bytes(km_kop_wr *w, const uint8_t *s, size_t n)
{
    bool ok = false;
    if (n <= (w->cap - w->pos)) {
        /*@ loop invariant 0 <= i <= n && w->pos + n <= w->cap;
            loop assigns i, w->buf[0 .. w->cap - 1];
            loop variant n - i; */
        for (size_t i = 0u; i < n; i++) {
            w->buf[w->pos + i] = s[i];
        }
        w->pos += n;
        ok = true;
    }
    return ok;
}

/* A NUL-terminated field of at most max bytes (+ NUL) as u16 length + bytes. */
/*@ requires km_wr_ok(w) && max <= 65535 && \valid_read(s + (0 .. max));
    requires \separated(w, s + (0 .. max)) && \separated(w->buf + (0 .. w->cap - 1), s + (0 .. max));
    assigns w->pos, w->buf[0 .. w->cap - 1];
    ensures km_wr_ok(w); */
static bool km_kop_put_str(km_kop_wr *w, const char *s, uint32_t max)
{
    uint32_t n = 0u;
    bool ok = true;
    /*@ loop invariant 0 <= n <= max + 1;
        loop assigns n;
        loop variant max + 1 - n; */
    while ((n <= max) && (s[n] != '\0')) {
        n++;
    }
    if (n > max) {
        ok = false; /* no NUL within the field: not a valid string */
    } else {
        ok = km_kop_put(w, n, 2u);
        /*@ loop invariant 0 <= i <= n;
            loop invariant km_wr_ok(w);
            loop assigns i, ok, w->pos, w->buf[0 .. w->cap - 1];
            loop variant n - i; */
        for (uint32_t i = 0u; ok && (i < n); i++) {
            uint8_t c = (uint8_t)s[i];
            ok = km_kop_put(w, c, 1u);
        }
    }
    return ok;
}

/* Open a frame: room for the header, filled by km_kop_frame_close. */
/*@ requires km_wr_ok(w);
    assigns w->pos, w->buf[0 .. w->cap - 1];
    ensures km_wr_ok(w);
    ensures \result == \true ==> w->pos == KM_KOP_HDR_SIZE; */
static bool km_kop_frame_begin(km_kop_wr *w)
{
    bool ok = false;
    w->pos = 0u;
    if (w->cap >= KM_KOP_HDR_SIZE) {
        w->pos = KM_KOP_HDR_SIZE;
        ok = km_kop_put(w, KM_KOP_WIRE_VERSION, 2u);
    }
    return ok;
}

/*@ requires km_wr_ok(w) && w->pos >= KM_KOP_HDR_SIZE;
    assigns w->buf[0 .. w->cap - 1];
    ensures km_wr_ok(w); */
static bool km_kop_frame_end(km_kop_wr *w, uint32_t tag)
{
    bool ok = false;
    size_t plen = w->pos - KM_KOP_HDR_SIZE;
    if (plen <= KM_KOP_PAYLOAD_MAX) {
        uint32_t crc = km_kop_crc32(&w->buf[KM_KOP_HDR_SIZE], plen);
        km_kop_wr h = {w->buf, w->cap, 0u};
        ok = km_kop_put(&h, tag, 4u) && km_kop_put(&h, (uint64_t)plen, 4u) && km_kop_put(&h, crc, 4u) &&
             km_kop_put(&h, 0u, 4u);
    }
    return ok;
}

/*@ requires km_wr_ok(w) && \valid_read(t);
    requires \separated(w, t) && \separated(w->buf + (0 .. w->cap - 1), t);
    assigns w->pos, w->buf[0 .. w->cap - 1];
    ensures km_wr_ok(w); */
static bool km_kop_put_target(km_kop_wr *w, const km_kop_target *t)
{
    bool ok = true;
    switch (t->kind) {
    case KM_KOP_T_SYMBOL:
    case KM_KOP_T_PERCPU:
        ok = km_kop_put(w, (t->kind == KM_KOP_T_SYMBOL) ? 0u : 3u, 1u) &&
             km_kop_put_str(w, t->name, KM_KOP_NAME_MAX) && km_kop_put_str(w, t->type, KM_KOP_NAME_MAX) &&
             km_kop_put_str(w, t->field, KM_KOP_FIELD_MAX) && km_kop_put(w, t->offset, 8u);
        if (ok && (t->kind == KM_KOP_T_PERCPU)) {
            ok = km_kop_put(w, t->cpu, 4u);
        }
        break;
    case KM_KOP_T_DIRECT:
        ok = km_kop_put(w, 1u, 1u) && km_kop_put(w, t->addr, 8u);
        break;
    case KM_KOP_T_KVA:
        ok = km_kop_put(w, 2u, 1u) && km_kop_put(w, t->addr, 8u);
        break;
    case KM_KOP_T_PA:
        ok = km_kop_put(w, 5u, 1u) && km_kop_put(w, t->addr, 8u);
        break;
    case KM_KOP_T_TASK:
        ok = km_kop_put(w, 4u, 1u) && km_kop_put(w, t->pid, 4u) && km_kop_put(w, t->check_start ? 1u : 0u, 1u) &&
             km_kop_put(w, t->start_ns, 8u) && km_kop_put_str(w, t->field, KM_KOP_FIELD_MAX);
        break;
    default:
        ok = false;
        break;
    }
    return ok;
}

/*@ requires km_wr_ok(w) && \valid_read(v);
    requires v->kind == KM_KOP_V_BYTES && write && 1 <= v->len <= KM_KOP_BYTES_MAX ==>
             \valid_read(v->bytes + (0 .. v->len - 1)) && \separated(w, v->bytes + (0 .. v->len - 1)) &&
             \separated(w->buf + (0 .. w->cap - 1), v->bytes + (0 .. v->len - 1));
    requires \separated(w, v) && \separated(w->buf + (0 .. w->cap - 1), v);
    assigns w->pos, w->buf[0 .. w->cap - 1];
    ensures km_wr_ok(w); */
static bool km_kop_put_value(km_kop_wr *w, bool write, const km_kop_value *v)
{
    bool ok = true;
    switch (v->kind) {
    case KM_KOP_V_U32:
    case KM_KOP_V_OR_U32:
        ok = km_kop_put(w, (v->kind == KM_KOP_V_U32) ? 0u : 3u, 1u);
        if (ok && write) {
            ok = (v->scalar <= UINT32_MAX) && km_kop_put(w, v->scalar, 4u);
        }
        break;
    case KM_KOP_V_U64:
        ok = km_kop_put(w, 1u, 1u);
        if (ok && write) {
            ok = km_kop_put(w, v->scalar, 8u);
        }
        break;
    case KM_KOP_V_BYTES:
        ok = (v->len >= 1u) && (v->len <= KM_KOP_BYTES_MAX) && km_kop_put(w, 2u, 1u) && km_kop_put(w, v->len, 4u);
        if (ok && write) {
            ok = (v->bytes != NULL) && km_kop_put_bytes(w, v->bytes, v->len);
        }
        break;
    default:
        ok = false;
        break;
    }
    return ok;
}

/* Encoding problems: a full buffer is CAPACITY, anything the decoder would
 * refuse is INVALID_ARG (checked before anything is written). */
/*@ requires \valid_read(req);
    assigns \nothing; */
static km_status km_kop_request_encodable(const km_kop_request *req)
{
    km_status st = KM_OK;
    if ((req->count > KM_KOP_MAX_ENTRIES) || (req->tag_len > KM_KOP_TAG_MAX) ||
        ((req->mode != KM_KOP_HOT) && (req->mode != KM_KOP_COLD)) ||
        ((req->dir != KM_KOP_WRITE) && (req->dir != KM_KOP_READ))) {
        st = KM_ERR_INVALID_ARG;
    }
    /*@ loop invariant 0 <= i <= req->count;
        loop assigns i, st;
        loop variant req->count - i; */
    for (uint32_t i = 0u; (st == KM_OK) && (i < req->count); i++) {
        const km_kop_value *v = &req->entries[i].value;
        uint32_t tk = (uint32_t)req->entries[i].target.kind;
        uint32_t vk = (uint32_t)v->kind;
        if ((tk >= KM_KOP_TARGET_KINDS) || (vk >= KM_KOP_VALUE_KINDS) ||
            ((vk == (uint32_t)KM_KOP_V_BYTES) && ((v->len == 0u) || (v->len > KM_KOP_BYTES_MAX) ||
                                                   ((req->dir == KM_KOP_WRITE) && (v->bytes == NULL)))) ||
            ((req->dir == KM_KOP_WRITE) && ((vk == (uint32_t)KM_KOP_V_U32) || (vk == (uint32_t)KM_KOP_V_OR_U32)) &&
             (v->scalar > UINT32_MAX))) {
            st = KM_ERR_INVALID_ARG;
        }
    }
    return st;
}

/*@ requires \valid_read(req) && \valid(written);
    requires cap > 0 ==> \valid(out + (0 .. cap - 1)) && \separated(out + (0 .. cap - 1), req, written);
    requires \forall integer i; 0 <= i < req->count && i < KM_KOP_MAX_ENTRIES ==>
             (req->entries[i].value.kind == KM_KOP_V_BYTES && req->dir == KM_KOP_WRITE &&
              1 <= req->entries[i].value.len <= KM_KOP_BYTES_MAX ==>
              \valid_read(req->entries[i].value.bytes + (0 .. req->entries[i].value.len - 1)) &&
              \separated(out + (0 .. cap - 1), req->entries[i].value.bytes + (0 .. req->entries[i].value.len - 1)));
    assigns *written, out[0 .. cap - 1];
    ensures \result == KM_OK || \result == KM_ERR_INVALID_ARG || \result == KM_ERR_CAPACITY;
    ensures \result == KM_OK ==> KM_KOP_HDR_SIZE <= *written <= cap; */
km_status km_kop_encode_request(const km_kop_request *req, uint8_t *out, size_t cap, size_t *written)
{
    km_status st = ((out == NULL) || (req == NULL)) ? KM_ERR_INVALID_ARG : km_kop_request_encodable(req);
    if (st == KM_OK) {
        size_t lim = (cap < KM_KOP_FRAME_MAX) ? cap : KM_KOP_FRAME_MAX;
        km_kop_wr w = {out, lim, 0u};
        bool ok = (lim > 0u) && km_kop_frame_begin(&w) && km_kop_put(&w, (uint64_t)req->mode, 1u) &&
                  km_kop_put(&w, (uint64_t)req->dir, 1u) && km_kop_put(&w, req->request_id, 8u) &&
                  km_kop_put(&w, req->tag_len, 2u) && km_kop_put_bytes(&w, req->tag, req->tag_len) &&
                  km_kop_put(&w, req->count, 2u);
        /*@ loop invariant 0 <= i <= req->count;
            loop invariant km_wr_ok(&w) && w.buf == out && w.cap == lim;
            loop invariant ok ==> w.pos >= KM_KOP_HDR_SIZE;
            loop assigns i, ok, w.pos, out[0 .. cap - 1];
            loop variant req->count - i; */
        for (uint32_t i = 0u; ok && (i < req->count); i++) {
            ok = km_kop_put_target(&w, &req->entries[i].target) &&
                 km_kop_put_value(&w, req->dir == KM_KOP_WRITE, &req->entries[i].value);
        }
        ok = ok && km_kop_frame_end(&w, KM_KOP_TAG_REQUEST);
        if (ok) {
            *written = w.pos;
        } else {
            st = KM_ERR_CAPACITY;
        }
    }
    return st;
}

/*@ requires \valid_read(rep) && \valid(written);
    requires cap > 0 ==> \valid(out + (0 .. cap - 1)) && \separated(out + (0 .. cap - 1), rep, written);
    requires rep->data_len > 0 ==> \valid_read(rep->data + (0 .. rep->data_len - 1)) &&
             \separated(out + (0 .. cap - 1), rep->data + (0 .. rep->data_len - 1));
    assigns *written, out[0 .. cap - 1];
    ensures \result == KM_OK || \result == KM_ERR_INVALID_ARG || \result == KM_ERR_CAPACITY; */
km_status km_kop_encode_reply(const km_kop_reply *rep, uint8_t *out, size_t cap, size_t *written)
{
    km_status st = KM_OK;
    uint32_t status = (uint32_t)rep->status;
    if ((out == NULL) || (rep->nreads > KM_KOP_MAX_ENTRIES) || (rep->completed > KM_KOP_MAX_ENTRIES) ||
        (rep->nreads > rep->completed) || (rep->writes_applied > rep->completed) ||
        (rep->reason.len > KM_KOP_REASON_MAX) || (status >= (uint32_t)KM_STATUS_COUNT) ||
        (rep->success != (status == 0u)) || (rep->success && (rep->failed_index != KM_NO_INDEX)) ||
        ((rep->failed_index != KM_NO_INDEX) && (rep->failed_index != rep->completed))) {
        st = KM_ERR_INVALID_ARG;
    }
    /*@ loop invariant 0 <= i <= rep->nreads;
        loop assigns i, st;
        loop variant rep->nreads - i; */
    for (uint32_t i = 0u; (st == KM_OK) && (i < rep->nreads); i++) {
        const km_kop_read *rd = &rep->reads[i];
        if ((rd->index >= rep->completed) ||
            ((rd->kind != KM_KOP_V_U32) && (rd->kind != KM_KOP_V_U64) && (rd->kind != KM_KOP_V_BYTES)) ||
            ((rd->kind == KM_KOP_V_U32) && (rd->scalar > UINT32_MAX)) ||
            ((rd->kind == KM_KOP_V_BYTES) &&
             ((rd->len == 0u) || (rd->len > KM_KOP_BYTES_MAX) || (rd->off > rep->data_len) ||
              (rd->len > (rep->data_len - rd->off))))) {
            st = KM_ERR_INVALID_ARG;
        }
    }
    if (st == KM_OK) {
        size_t lim = (cap < KM_KOP_FRAME_MAX) ? cap : KM_KOP_FRAME_MAX;
        km_kop_wr w = {out, lim, 0u};
        bool ok = (lim > 0u) && km_kop_frame_begin(&w) && km_kop_put(&w, rep->success ? 1u : 0u, 1u) &&
                  km_kop_put(&w, status, 1u) && km_kop_put(&w, rep->request_id, 8u) &&
                  km_kop_put(&w, rep->failed_index, 4u) && km_kop_put(&w, rep->completed, 4u) &&
                  km_kop_put(&w, rep->writes_applied, 4u) && km_kop_put(&w, rep->reason.len, 2u);
        /*@ loop invariant 0 <= i <= rep->reason.len;
            loop invariant km_wr_ok(&w) && w.buf == out && w.cap == lim;
            loop assigns i, ok, w.pos, out[0 .. cap - 1];
            loop variant rep->reason.len - i; */
        for (uint32_t i = 0u; ok && (i < rep->reason.len); i++) {
            ok = km_kop_put(&w, (uint8_t)rep->reason.text[i], 1u);
        }
        ok = ok && km_kop_put(&w, rep->nreads, 2u);
        /*@ loop invariant 0 <= i <= rep->nreads;
            loop invariant km_wr_ok(&w) && w.buf == out && w.cap == lim;
            loop invariant ok ==> w.pos >= KM_KOP_HDR_SIZE;
            loop assigns i, ok, w.pos, out[0 .. cap - 1];
            loop variant rep->nreads - i; */
        for (uint32_t i = 0u; ok && (i < rep->nreads); i++) {
            const km_kop_read *rd = &rep->reads[i];
            uint32_t kind = 2u;
            if (rd->kind == KM_KOP_V_U32) {
                kind = 0u;
            } else if (rd->kind == KM_KOP_V_U64) {
                kind = 1u;
            } else {
                kind = 2u;
            }
            ok = km_kop_put(&w, rd->index, 4u) && km_kop_put(&w, kind, 1u) && km_kop_put(&w, rd->kva, 8u) &&
                 km_kop_put(&w, rd->pa, 8u);
            if (ok && (kind == 0u)) {
                ok = km_kop_put(&w, rd->scalar, 4u);
            } else if (ok && (kind == 1u)) {
                ok = km_kop_put(&w, rd->scalar, 8u);
            } else if (ok) {
                ok = (rd->off <= rep->data_len) && (rd->len <= (rep->data_len - rd->off)) &&
                     km_kop_put(&w, rd->len, 4u) && km_kop_put_bytes(&w, &rep->data[rd->off], rd->len);
            } else {
                /* full */
            }
        }
        ok = ok && (w.pos >= KM_KOP_HDR_SIZE) && km_kop_frame_end(&w, KM_KOP_TAG_REPLY);
        if (ok) {
            *written = w.pos;
        } else {
            st = KM_ERR_CAPACITY;
        }
    }
    return st;
}
