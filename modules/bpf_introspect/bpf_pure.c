/* ktmon bpf_introspect: the pure parts (xarray entry classification, slot
 * and index arithmetic, array element bounds, error records).  Proved with
 * WP (verify/wp/bpf_introspect.wp).  No guest access, no allocation. */
#include "ktmon/bpf_introspect.h"

#include "bpf_int.h"

km_bpf_xa_kind km_bpf_xa_classify(uint64_t e)
{
    km_bpf_xa_kind k = KM_BPF_XA_LEAF;
    if (e == 0u) {
        k = KM_BPF_XA_EMPTY;
    } else if (((e % 4u) == 2u) && (e > KM_BPF_XA_NODE_MIN)) {
        k = KM_BPF_XA_NODE;
    } else {
        k = KM_BPF_XA_LEAF;
    }
    return k;
}

bool km_bpf_xa_is_pointer(uint64_t e)
{
    return (e != 0u) && ((e % 4u) == 0u);
}

uint64_t km_bpf_xa_node_kva(uint64_t e)
{
    return e - (e % 4u);
}

bool km_bpf_xa_shift_ok(uint32_t shift)
{
    return (shift < 64u) && ((shift % KM_BPF_XA_CHUNK_SHIFT) == 0u);
}

uint32_t km_bpf_xa_slot(uint64_t index, uint32_t shift)
{
    return (uint32_t)((index >> shift) & UINT64_C(63));
}

bool km_bpf_xa_in_range(uint64_t index, uint32_t shift)
{
    bool in = true;
    /* 64 << shift >= 2^64 from shift 58 on: every index is covered */
    if (shift < (64u - KM_BPF_XA_CHUNK_SHIFT)) {
        uint32_t above = shift + KM_BPF_XA_CHUNK_SHIFT;
        in = ((index >> above) == 0u);
    }
    return in;
}

km_status km_bpf_xa_slot_index(uint64_t base, uint32_t slot, uint32_t shift, uint64_t *out)
{
    /* 2^shift for the legal shifts 0, 6, ..., 60: multiplication keeps the
     * index arithmetic within what the provers handle well */
    static const uint64_t span_of[KM_BPF_XA_MAX_DEPTH] = {
        UINT64_C(1) << 0,  UINT64_C(1) << 6,  UINT64_C(1) << 12, UINT64_C(1) << 18,
        UINT64_C(1) << 24, UINT64_C(1) << 30, UINT64_C(1) << 36, UINT64_C(1) << 42,
        UINT64_C(1) << 48, UINT64_C(1) << 54, UINT64_C(1) << 60};
    km_status st = KM_OK;
    /*@ assert shift == 0 || shift == 6 || shift == 12 || shift == 18 || shift == 24 || shift == 30 ||
               shift == 36 || shift == 42 || shift == 48 || shift == 54 || shift == 60; */
    uint64_t span = span_of[shift / KM_BPF_XA_CHUNK_SHIFT];
    /*@ assert span == km_xa_span(shift); */
    if ((shift == KM_BPF_XA_MAX_SHIFT) && (slot >= 16u)) {
        st = KM_ERR_OVERFLOW; /* slot * 2^60 >= 2^64 */
    } else {
                st = km_bpf_kva_add(base, (uint64_t)slot * span, out);
    }
    return st;
}

void km_bpf_xa_iter_init(km_bpf_xa_iter *it, uint64_t head)
{
    it->head = head;
    it->state = KM_BPF_XA_START;
    it->depth = 0u;
    it->nodes = 0u;
    /*@ loop invariant 0 <= i <= KM_BPF_XA_MAX_DEPTH;
        loop assigns i, it->lv[0 .. KM_BPF_XA_MAX_DEPTH - 1];
        loop variant KM_BPF_XA_MAX_DEPTH - i; */
    for (uint32_t i = 0u; i < KM_BPF_XA_MAX_DEPTH; i++) {
        it->lv[i].node = 0u;
        it->lv[i].base = 0u;
        it->lv[i].shift = 0u;
        it->lv[i].next = 0u;
    }
}

km_status km_bpf_elem_kva(uint64_t base, uint32_t key, uint32_t max_entries, uint32_t value_size, uint32_t off,
                          uint32_t len, uint64_t *kva)
{
    km_status st = KM_OK;
    /* round_up(value_size, 8): at most 2^32, so key * stride < 2^64 */
    uint64_t stride = (((uint64_t)value_size + 7u) / 8u) * 8u;
    if (key >= max_entries) {
        st = KM_ERR_RANGE;
    } else if ((len == 0u) || (((uint64_t)off + (uint64_t)len) > (uint64_t)value_size)) {
        st = KM_ERR_INVALID_ARG;
    } else {
        uint64_t elem = 0u;
        st = km_bpf_kva_add(base, (uint64_t)key * stride, &elem);
        if (st == KM_OK) {
            st = km_bpf_kva_add(elem, (uint64_t)off, kva);
        }
    }
    return st;
}
