/* ktmon kop_dispatch: bounded messages, names, request and reply set-up.
 *
 * Reasons are built without stdio or heap: appended piece by piece into a
 * km_kop_msg and cut at KM_KOP_REASON_MAX bytes on a UTF-8 boundary. */
#include <string.h>

#include "kop_int.h"
#include "kop_msg.h"

void km_kop_msg_clear(km_kop_msg *m)
{
    m->len = 0u;
    m->truncated = false;
    m->text[0] = '\0';
}

void km_kop_msg_put_n(km_kop_msg *m, const char *s, size_t n)
{
    if (!m->truncated && (m->len <= KM_KOP_REASON_MAX)) {
        size_t room = (size_t)KM_KOP_REASON_MAX - (size_t)m->len;
        size_t k = km_kop_utf8_cut((const uint8_t *)s, n, room);
        if (k > 0u) {
            (void)memcpy(&m->text[m->len], s, k);
        }
        m->len += (uint32_t)k;
        m->text[m->len] = '\0';
        if (k < n) {
            m->truncated = true;
        }
    }
}

void km_kop_msg_put(km_kop_msg *m, const char *s)
{
    km_kop_msg_put_n(m, s, strlen(s));
}

void km_kop_msg_put_u64(km_kop_msg *m, uint64_t v)
{
    static const char digits[] = "0123456789";
    char d[24];
    size_t n = 0u;
    uint64_t x = v;
    do {
        d[sizeof(d) - 1u - n] = digits[x % 10u];
        x /= 10u;
        n++;
    } while ((x != 0u) && (n < sizeof(d)));
    km_kop_msg_put_n(m, &d[sizeof(d) - n], n);
}

void km_kop_msg_put_hex(km_kop_msg *m, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char d[18];
    size_t n = 0u;
    uint64_t x = v;
    do {
        d[sizeof(d) - 1u - n] = digits[x & 0xFu];
        x >>= 4;
        n++;
    } while ((x != 0u) && (n < 16u));
    d[sizeof(d) - 1u - n] = 'x';
    n++;
    d[sizeof(d) - 1u - n] = '0';
    n++;
    km_kop_msg_put_n(m, &d[sizeof(d) - n], n);
}

void km_kop_msg_put_quoted(km_kop_msg *m, const char *s)
{
    km_kop_msg_put(m, "'");
    km_kop_msg_put(m, s);
    km_kop_msg_put(m, "'");
}

void km_kop_msg_copy(km_kop_msg *dst, const km_kop_msg *src)
{
    km_kop_msg_put_n(dst, src->text, src->len);
    if (src->truncated) {
        dst->truncated = true;
    }
}

/* ---------------------------------------------------------------- requests and replies */

void km_kop_request_init(km_kop_request *req, uint64_t request_id, km_kop_mode mode, km_kop_dir dir)
{
    (void)memset(req, 0, sizeof(*req));
    req->request_id = request_id;
    req->mode = mode;
    req->dir = dir;
}

void km_kop_request_set_tag(km_kop_request *req, const uint8_t *tag, size_t len)
{
    size_t n = (tag != NULL) ? km_kop_utf8_cut(tag, len, KM_KOP_TAG_MAX) : 0u;
    if (n > 0u) {
        (void)memcpy(req->tag, tag, n);
    }
    req->tag_len = (uint32_t)n;
}

km_status km_kop_copy_name(char *dst, size_t cap, const char *s)
{
    km_status st = KM_ERR_INVALID_ARG;
    if ((dst != NULL) && (s != NULL)) {
        size_t n = strlen(s);
        if (n <= cap) {
            (void)memcpy(dst, s, n);
            dst[n] = '\0';
            st = KM_OK;
        }
    }
    return st;
}

void km_kop_reply_init(km_kop_reply *rep, uint8_t *data, uint32_t data_cap)
{
    (void)memset(rep, 0, sizeof(*rep));
    rep->status = KM_OK;
    rep->failed_index = KM_NO_INDEX;
    rep->data = data;
    rep->data_cap = (data != NULL) ? data_cap : 0u;
    km_kop_msg_clear(&rep->reason);
}

const char *km_kop_target_kind_name(km_kop_target_kind k)
{
    const char *s = "unknown";
    switch (k) {
    case KM_KOP_T_SYMBOL:
        s = "symbol";
        break;
    case KM_KOP_T_DIRECT:
        s = "direct";
        break;
    case KM_KOP_T_KVA:
        s = "kva";
        break;
    case KM_KOP_T_PERCPU:
        s = "percpu";
        break;
    case KM_KOP_T_TASK:
        s = "task";
        break;
    case KM_KOP_T_PA:
        s = "pa";
        break;
    default:
        s = "unknown";
        break;
    }
    return s;
}

const char *km_kop_value_kind_name(km_kop_value_kind k)
{
    const char *s = "unknown";
    switch (k) {
    case KM_KOP_V_U32:
        s = "u32";
        break;
    case KM_KOP_V_U64:
        s = "u64";
        break;
    case KM_KOP_V_BYTES:
        s = "bytes";
        break;
    case KM_KOP_V_OR_U32:
        s = "or_u32";
        break;
    default:
        s = "unknown";
        break;
    }
    return s;
}
