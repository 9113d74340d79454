/* ktmon kop_dispatch: running a batch (cold under a freeze token, hot with single stores and CAS).
 *
 * Per entry: the static check (kop_check.c), target resolution
 * (kop_resolve.c), then the access.  An access first maps its whole span to
 * physical chunks (one per page for kernel VAs), each inside one RAM region
 * and writable for a write; only then is anything stored, so an entry is
 * applied whole or not at all.  Nothing allocates. */
#include <string.h>

#include "kop_int.h"
#include "kop_msg.h"

/* Chunks of the largest access: a Bytes value over 17 pages. */
#define KM_KOP_MAX_CHUNKS ((uint32_t)(KM_KOP_BYTES_MAX / KM_KOP_PAGE) + 1u)

typedef struct km_kop_span {
    uint32_t n;
    uint64_t pa[KM_KOP_MAX_CHUNKS];
    uint32_t len[KM_KOP_MAX_CHUNKS];
} km_kop_span;

static void km_kop_msg_status(km_kop_msg *why, const char *what, uint64_t addr, km_status st)
{
    km_kop_msg_put(why, what);
    km_kop_msg_put(why, " ");
    km_kop_msg_put_hex(why, addr);
    km_kop_msg_put(why, ": ");
    km_kop_msg_put(why, (st == KM_ERR_UNMAPPED) ? "page unmapped" : km_status_name(st));
}

/* Map [w, w + len) to chunks (nothing is accessed). */
static km_status km_kop_span_map(km_kop_ctx *c, const km_kop_where *w, uint32_t len, bool write,
                                 km_kop_span *sp, km_kop_msg *why)
{
    km_status st = KM_OK;
    uint32_t done = 0u;
    sp->n = 0u;
    sp->pa[0] = 0u;
    sp->len[0] = 0u;
    if (len == 0u) {
        st = KM_ERR_INVALID_ARG;
        km_kop_msg_put(why, "empty access");
    }
    while ((st == KM_OK) && (done < len)) {
        uint64_t pa = 0u;
        uint32_t chunk = len - done;
        uint32_t idx = 0u;
        if (w->physical) {
            pa = w->pa + done;
        } else {
            uint64_t va = w->kva + done;
            uint64_t left = KM_KOP_PAGE - (va % KM_KOP_PAGE);
            if (left < (uint64_t)chunk) {
                chunk = (uint32_t)left;
            }
            st = km_gk_kva_to_pa(c->gk, va, &pa);
            if (st != KM_OK) {
                km_kop_msg_status(why, "kva", va, st);
            }
        }
        if ((st == KM_OK) && (sp->n >= KM_KOP_MAX_CHUNKS)) {
            st = KM_ERR_CAPACITY;
            km_kop_msg_put(why, "access spans too many pages");
        }
        if (st == KM_OK) {
            st = km_mem_find(c->mem, pa, chunk, &idx);
            if ((st == KM_OK) && write && !c->mem->regions[idx].writable) {
                st = KM_ERR_STATE;
                km_kop_msg_put(why, "pa ");
                km_kop_msg_put_hex(why, pa);
                km_kop_msg_put(why, ": guest memory is read-only (a core file?)");
            } else if (st != KM_OK) {
                km_kop_msg_status(why, "pa", pa, st);
            } else {
                sp->pa[sp->n] = pa;
                sp->len[sp->n] = chunk;
                sp->n++;
                done += chunk;
            }
        }
    }
    return st;
}

static km_status km_kop_span_read(const km_kop_ctx *c, const km_kop_span *sp, uint8_t *dst)
{
    km_status st = KM_OK;
    size_t off = 0u;
    for (uint32_t i = 0u; (st == KM_OK) && (i < sp->n); i++) {
        size_t got = 0u;
        st = km_mem_read_bytes(c->mem, sp->pa[i], &dst[off], sp->len[i], &got);
        if ((st == KM_OK) && (got != sp->len[i])) {
            st = KM_ERR_CROSSES_REGION;
        }
        off += sp->len[i];
    }
    return st;
}

static km_status km_kop_span_write(const km_kop_ctx *c, const km_kop_span *sp, const uint8_t *src)
{
    km_status st = KM_OK;
    size_t off = 0u;
    for (uint32_t i = 0u; (st == KM_OK) && (i < sp->n); i++) {
        size_t put = 0u;
        st = km_mem_write_bytes(c->mem, sp->pa[i], &src[off], sp->len[i], &put);
        if ((st == KM_OK) && (put != sp->len[i])) {
            st = KM_ERR_CROSSES_REGION;
        }
        off += sp->len[i];
    }
    /* Order the copy before anything the host does next (docs/memory-ordering.md). */
    km_kop_prim_fence_release();
    return st;
}

/* Scalar of 4 or 8 bytes: one access when it sits in one chunk (single-copy
 * atomic if aligned, per byte otherwise, as km_mem does), else byte-wise. */
static km_status km_kop_read_scalar(const km_kop_ctx *c, const km_kop_span *sp, uint32_t width, uint64_t *out)
{
    km_status st;
    if (sp->n == 1u) {
        if (width == 4u) {
            uint32_t v = 0u;
            st = km_mem_read_u32(c->mem, sp->pa[0], &v);
            *out = v;
        } else {
            st = km_mem_read_u64(c->mem, sp->pa[0], out);
        }
    } else {
        uint8_t b[8] = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
        st = km_kop_span_read(c, sp, b);
        if (st == KM_OK) {
            uint64_t v = 0u;
            for (uint32_t i = width; i > 0u; i--) {
                v = (v * 256u) + b[i - 1u];
            }
            *out = v;
        }
    }
    return st;
}

static km_status km_kop_write_scalar(const km_kop_ctx *c, const km_kop_span *sp, uint32_t width, uint64_t v)
{
    km_status st;
    if (sp->n == 1u) {
        st = (width == 4u) ? km_mem_write_u32(c->mem, sp->pa[0], (uint32_t)(v & 0xFFFFFFFFu))
                           : km_mem_write_u64(c->mem, sp->pa[0], v);
    } else {
        uint8_t b[8];
        uint64_t x = v;
        for (uint32_t i = 0u; i < 8u; i++) {
            b[i] = (uint8_t)(x & 0xFFu);
            x >>= 8;
        }
        st = km_kop_span_write(c, sp, b);
    }
    return st;
}

static km_status km_kop_push_read(km_kop_reply *rep, uint32_t index, km_kop_value_kind kind,
                                  const km_kop_where *w, uint64_t scalar, uint32_t off, uint32_t len)
{
    km_status st = KM_ERR_CAPACITY;
    if (rep->nreads < KM_KOP_MAX_ENTRIES) {
        km_kop_read *r = &rep->reads[rep->nreads];
        r->index = index;
        r->kind = kind;
        r->kva = w->kva;
        r->pa = w->pa;
        r->scalar = scalar;
        r->off = off;
        r->len = len;
        rep->nreads++;
        st = KM_OK;
    }
    return st;
}

/* Host pointer for a hot single-word access (one chunk, width 4 or 8). */
static km_status km_kop_hot_ptr(const km_kop_ctx *c, const km_kop_span *sp, uint32_t width, volatile uint8_t **p)
{
    km_status st = KM_ERR_MISALIGNED;
    if ((sp->n == 1u) && (sp->len[0] == width)) {
        st = km_mem_host_ptr(c->mem, sp->pa[0], width, p);
    }
    return st;
}

static km_status km_kop_access_hot_write(km_kop_ctx *c, const km_kop_value *v, const km_kop_where *w,
                                         km_kop_msg *why)
{
    uint32_t width = km_kop_width((uint32_t)v->kind, v->len);
    uint64_t addr = w->physical ? w->pa : w->kva;
    km_kop_span sp;
    volatile uint8_t *p = NULL;
    km_status st = KM_OK;
    if (!km_kop_aligned(addr, width)) {
        st = KM_ERR_MISALIGNED;
        km_kop_msg_put(why, "hot writes need natural alignment: ");
        km_kop_msg_put_hex(why, addr);
        km_kop_msg_put(why, " is not ");
        km_kop_msg_put_u64(why, width);
        km_kop_msg_put(why, "-byte aligned (use a cold write)");
    } else {
        st = km_kop_span_map(c, w, width, true, &sp, why);
    }
    if (st == KM_OK) {
        st = km_kop_hot_ptr(c, &sp, width, &p);
        if (st != KM_OK) {
            km_kop_msg_put(why, "no single host word for the hot access: ");
            km_kop_msg_put(why, km_status_name(st));
        }
    }
    if (st == KM_OK) {
        if (v->kind == KM_KOP_V_U64) {
            st = km_kop_prim_store_u64(p, v->scalar);
        } else if (v->kind == KM_KOP_V_U32) {
            st = km_kop_prim_store_u32(p, (uint32_t)(v->scalar & 0xFFFFFFFFu));
        } else {
            uint32_t old = 0u;
            uint32_t tries = 0u;
            st = km_kop_prim_or_u32(p, (uint32_t)(v->scalar & 0xFFFFFFFFu), c->cas_max_tries, &old, &tries);
            if (st == KM_ERR_BUSY) {
                km_kop_msg_put(why, "OrU32 compare-and-swap lost ");
                km_kop_msg_put_u64(why, tries);
                km_kop_msg_put(why, " times to concurrent writers: nothing stored");
            }
        }
        if (st == KM_ERR_MISALIGNED) {
            km_kop_msg_put(why, "the host address of the guest word is not aligned");
        }
    }
    return st;
}

/* One entry's access.  w->pa is refreshed to the first chunk's PA. */
static km_status km_kop_access(km_kop_ctx *c, bool cold, km_kop_dir dir, const km_kop_value *v, uint32_t index,
                               km_kop_where *w, km_kop_reply *rep, km_kop_msg *why)
{
    km_status st = KM_OK;
    km_kop_span sp;
    uint32_t width = km_kop_width((uint32_t)v->kind, v->len);
    bool hot_word = !cold && ((v->kind == KM_KOP_V_U32) || (v->kind == KM_KOP_V_U64)) &&
                    km_kop_aligned(w->physical ? w->pa : w->kva, width);
    if ((dir == KM_KOP_WRITE) && !cold) {
        st = km_kop_access_hot_write(c, v, w, why);
    } else {
        st = km_kop_span_map(c, w, width, dir == KM_KOP_WRITE, &sp, why);
        if (st == KM_OK) {
            w->pa = sp.pa[0];
        }
    }
    if ((st == KM_OK) && (dir == KM_KOP_READ)) {
        uint64_t val = 0u;
        if (v->kind == KM_KOP_V_BYTES) {
            if ((rep->data == NULL) || (width > (rep->data_cap - rep->data_len))) {
                st = KM_ERR_CAPACITY;
                km_kop_msg_put(why, "the reply's data storage is full");
            } else {
                st = km_kop_span_read(c, &sp, &rep->data[rep->data_len]);
                if (st == KM_OK) {
                    st = km_kop_push_read(rep, index, KM_KOP_V_BYTES, w, 0u, rep->data_len, width);
                }
                if (st == KM_OK) {
                    rep->data_len += width;
                }
            }
        } else {
            volatile uint8_t *p = NULL;
            if (hot_word && (km_kop_hot_ptr(c, &sp, width, &p) == KM_OK)) {
                if (width == 4u) {
                    uint32_t x = 0u;
                    st = km_kop_prim_load_u32(p, &x);
                    val = x;
                } else {
                    st = km_kop_prim_load_u64(p, &val);
                }
            } else {
                st = km_kop_read_scalar(c, &sp, width, &val);
            }
            if (st == KM_OK) {
                st = km_kop_push_read(rep, index, v->kind, w, val, 0u, 0u);
            }
        }
        if ((st != KM_OK) && (why->len == 0u)) {
            km_kop_msg_status(why, "read at pa", w->pa, st);
        }
    } else if ((st == KM_OK) && cold) {
        /* cold write: the VM is frozen, a read-modify-write is atomic by quiescence */
        if (v->kind == KM_KOP_V_BYTES) {
            st = km_kop_span_write(c, &sp, v->bytes);
        } else if (v->kind == KM_KOP_V_OR_U32) {
            uint64_t old = 0u;
            st = km_kop_read_scalar(c, &sp, 4u, &old);
            if (st == KM_OK) {
                st = km_kop_write_scalar(c, &sp, 4u, km_kop_or((uint32_t)(old & 0xFFFFFFFFu),
                                                                (uint32_t)(v->scalar & 0xFFFFFFFFu)));
            }
        } else {
            st = km_kop_write_scalar(c, &sp, width, v->scalar);
        }
        if ((st != KM_OK) && (why->len == 0u)) {
            km_kop_msg_status(why, "write at pa", w->pa, st);
        }
    } else {
        /* hot write done, or failed with its reason */
    }
    return st;
}

static void km_kop_fail(km_kop_reply *rep, km_status st, uint32_t index, const km_kop_msg *why)
{
    rep->success = false;
    rep->status = st;
    rep->failed_index = index;
    km_kop_msg_clear(&rep->reason);
    if (index == KM_NO_INDEX) {
        km_kop_msg_put(&rep->reason, "request: ");
    } else {
        km_kop_msg_put(&rep->reason, "entry[");
        km_kop_msg_put_u64(&rep->reason, index);
        km_kop_msg_put(&rep->reason, "]: ");
    }
    km_kop_msg_copy(&rep->reason, why);
}

static km_status km_kop_run(km_kop_ctx *c, const km_kop_gate *g, const km_freeze_token *t,
                            const km_kop_request *req, km_kop_reply *rep, bool cold)
{
    km_status st = KM_OK;
    km_kop_msg why;
    km_kop_mode want = cold ? KM_KOP_COLD : KM_KOP_HOT;
    uint8_t *data = rep->data;
    uint32_t data_cap = rep->data_cap;
    km_kop_reply_init(rep, data, data_cap);
    rep->request_id = req->request_id;
    km_kop_msg_clear(&why);
    if (req->count > KM_KOP_MAX_ENTRIES) {
        st = KM_ERR_INVALID_ARG;
        km_kop_msg_put(&why, "too many entries (");
        km_kop_msg_put_u64(&why, req->count);
        km_kop_msg_put(&why, ", at most 64)");
    } else if ((req->mode != KM_KOP_HOT) && (req->mode != KM_KOP_COLD)) {
        st = KM_ERR_INVALID_ARG;
        km_kop_msg_put(&why, "request mode is neither hot nor cold");
    } else if (req->mode != want) {
        st = KM_ERR_INVALID_ARG;
        km_kop_msg_put(&why, cold ? "a hot request given to the cold path" : "a cold request given to the hot path");
    } else if (cold && !km_kop_token_current(g, t)) {
        st = KM_ERR_STATE;
        km_kop_msg_put(&why, "cold dispatch refused: the VM is not frozen (no current freeze token)");
    } else {
        /* run */
    }
    if (st != KM_OK) {
        km_kop_fail(rep, st, KM_NO_INDEX, &why);
    }
    for (uint32_t i = 0u; (st == KM_OK) && (i < req->count); i++) {
        const km_kop_entry *e = &req->entries[i];
        km_kop_where w;
        km_kop_refusal r = km_kop_check_entry((uint32_t)req->mode, (uint32_t)req->dir, (uint32_t)e->target.kind,
                                              (uint32_t)e->value.kind, e->value.len, e->value.bytes != NULL,
                                              e->value.scalar);
        km_kop_msg_clear(&why);
        if (cold && !km_kop_token_current(g, t)) {
            st = KM_ERR_STATE;
            km_kop_msg_put(&why, "the VM was thawed during the batch (freeze token no longer current)");
        } else if (r != KM_KOP_R_OK) {
            st = km_kop_refusal_status(r);
            km_kop_msg_put(&why, km_kop_refusal_text(r));
        } else {
            uint32_t width = km_kop_width((uint32_t)e->value.kind, e->value.len);
            st = km_kop_resolve(c, &e->target, req->dir, width, &w, &why);
            if (st == KM_OK) {
                st = km_kop_access(c, cold, req->dir, &e->value, i, &w, rep, &why);
            }
        }
        if (st == KM_OK) {
            rep->completed++;
            if (req->dir == KM_KOP_WRITE) {
                rep->writes_applied++;
            }
        } else {
            km_kop_fail(rep, st, i, &why);
        }
    }
    if (st == KM_OK) {
        rep->success = true;
        rep->status = KM_OK;
        rep->failed_index = KM_NO_INDEX;
    }
    return st;
}

km_status km_kop_dispatch_cold(km_kop_ctx *c, const km_kop_gate *g, const km_freeze_token *t,
                               const km_kop_request *req, km_kop_reply *rep)
{
    return km_kop_run(c, g, t, req, rep, true);
}

km_status km_kop_dispatch_hot(km_kop_ctx *c, const km_kop_request *req, km_kop_reply *rep)
{
    return km_kop_run(c, NULL, NULL, req, rep, false);
}

km_status km_kop_dispatch(km_kop_ctx *c, const km_kop_gate *g, const km_freeze_token *t,
                          const km_kop_request *req, km_kop_reply *rep)
{
    return km_kop_run(c, g, t, req, rep, req->mode == KM_KOP_COLD);
}
