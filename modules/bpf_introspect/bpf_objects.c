/* ktmon bpf_introspect: IDR iteration, struct bpf_map / bpf_prog readers and
 * map value reads over guest memory.
 *
 * Everything read from the guest is untrusted: every address computation is
 * checked for wrap-around, names are cut at 16 bytes, value reads are bounded
 * by value_size and max_entries, and every loop is bounded by the xarray
 * iterator's node bound or by the guest's CPU count (<= KM_GK_MAX_CPUS).
 * Nothing here allocates. */
#include "ktmon/bpf_introspect.h"

#include "bpf_int.h"

#define KM_BPF_PAGE UINT64_C(4096)

/* Most leaves one xarray iteration can return (the node bound times 64):
 * bounds the filtering loops below. */
#define KM_BPF_MAX_LEAVES (KM_BPF_XA_MAX_NODES * KM_BPF_XA_CHUNK_SIZE)

static const km_bpf_map_info km_bpf_map_zero;
static const km_bpf_prog_info km_bpf_prog_zero;

static bool km_bpf_ready(const km_guest_kernel *gk, const km_bpf_offsets *o)
{
    return (gk != NULL) && (o != NULL) && o->ready;
}

/* Read a u32 field at base + off. */
static km_status km_bpf_field_u32(km_guest_kernel *gk, uint64_t base, uint32_t off, uint32_t *out, km_bpf_error *err)
{
    uint64_t at = 0u;
    km_status st = km_bpf_kva_add(base, (uint64_t)off, &at);
    if (st != KM_OK) {
        st = km_bpf_fail(err, st, KM_BPF_R_READ, base, (uint64_t)off, KM_NO_INDEX);
    } else {
        st = km_bpf_rd_u32(gk, at, out);
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, at, 0u, KM_NO_INDEX);
        }
    }
    return st;
}

/* Read a u64 field at base + off. */
static km_status km_bpf_field_u64(km_guest_kernel *gk, uint64_t base, uint32_t off, uint64_t *out, km_bpf_error *err)
{
    uint64_t at = 0u;
    km_status st = km_bpf_kva_add(base, (uint64_t)off, &at);
    if (st != KM_OK) {
        st = km_bpf_fail(err, st, KM_BPF_R_READ, base, (uint64_t)off, KM_NO_INDEX);
    } else {
        st = km_bpf_rd_u64(gk, at, out);
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, at, 0u, KM_NO_INDEX);
        }
    }
    return st;
}

/* A 16-byte object name at base + off, cut at the first NUL; dst holds 17. */
static km_status km_bpf_field_name(km_guest_kernel *gk, uint64_t base, uint32_t off, char *dst, km_bpf_error *err)
{
    uint8_t raw[KM_BPF_OBJ_NAME_LEN];
    uint64_t at = 0u;
    km_status st = km_bpf_kva_add(base, (uint64_t)off, &at);
    for (uint32_t i = 0u; i < KM_BPF_OBJ_NAME_LEN; i++) {
        raw[i] = 0u;
    }
    if (st != KM_OK) {
        st = km_bpf_fail(err, st, KM_BPF_R_READ, base, (uint64_t)off, KM_NO_INDEX);
    } else {
        st = km_gk_read_bytes(gk, at, raw, sizeof(raw));
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, at, 0u, KM_NO_INDEX);
        }
    }
    if (st == KM_OK) {
        bool end = false;
        for (uint32_t i = 0u; i < KM_BPF_OBJ_NAME_LEN; i++) {
            if (raw[i] == 0u) {
                end = true;
            }
            if (end) {
                dst[i] = '\0';
            } else {
                dst[i] = (char)raw[i];
            }
        }
        dst[KM_BPF_OBJ_NAME_LEN] = '\0';
    }
    return st;
}

/* Translate every 4K page of [kva, kva+len) first, then copy: one unmapped
 * page fails the whole read before dst is touched.  (Only a guest that
 * changes its page tables between the two passes, live, can make the copy
 * fail after the check; the status then says so and dst holds a prefix.) */
static km_status km_bpf_read_span(km_guest_kernel *gk, uint64_t kva, uint8_t *dst, uint32_t len, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t last = 0u;
    if (km_bpf_kva_add(kva, (uint64_t)len - 1u, &last) != KM_OK) {
        st = km_bpf_fail(err, KM_ERR_OVERFLOW, KM_BPF_R_READ, kva, (uint64_t)len, KM_NO_INDEX);
    } else {
        uint64_t first_page = kva / KM_BPF_PAGE;
        uint64_t pages = (last / KM_BPF_PAGE) - first_page + 1u; /* <= len / 4096 + 2 */
        for (uint64_t p = 0u; (st == KM_OK) && (p < pages); p++) {
            uint64_t va = (p == 0u) ? kva : ((first_page + p) * KM_BPF_PAGE);
            uint64_t pa = 0u;
            st = km_gk_kva_to_pa(gk, va, &pa);
            if (st != KM_OK) {
                st = km_bpf_fail(err, st, KM_BPF_R_READ, va, (uint64_t)len, KM_NO_INDEX);
            }
        }
    }
    if (st == KM_OK) {
        st = km_gk_read_bytes(gk, kva, dst, (size_t)len);
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, kva, (uint64_t)len, KM_NO_INDEX);
        }
    }
    return st;
}

/* ------------------------------------------------------------------ IDR */

km_status km_bpf_idr_begin(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t idr_kva, km_bpf_idr_iter *it,
                           km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t head = 0u;
    uint32_t base = 0u;
    uint32_t next = 0u;
    if (!km_bpf_ready(gk, o) || (it == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else {
        uint64_t xa = 0u;
        st = km_bpf_kva_add(idr_kva, (uint64_t)o->idr_rt, &xa);
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, idr_kva, 0u, KM_NO_INDEX);
        } else {
            st = km_bpf_field_u64(gk, xa, o->xa_head, &head, err);
        }
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, idr_kva, o->idr_base, &base, err);
    }
    if ((st == KM_OK) && o->have_idr_next) {
        st = km_bpf_field_u32(gk, idr_kva, o->idr_next, &next, err);
    }
    if (st == KM_OK) {
        km_bpf_xa_iter_init(&it->xa, head);
        it->idr_kva = idr_kva;
        it->base = base;
        it->next_id = next;
        it->found = 0u;
        it->skipped = 0u;
        it->filtered = 0u;
    }
    return st;
}

km_status km_bpf_idr_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it, uint32_t *id,
                          uint64_t *ptr, bool *has, km_bpf_error *err)
{
    km_status st = KM_OK;
    bool got = false;
    bool end = false;
    uint32_t fid = 0u;
    uint64_t fptr = 0u;
    if (!km_bpf_ready(gk, o) || (it == NULL) || (id == NULL) || (ptr == NULL) || (has == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    }
    /* each pass consumes one leaf; the iterator returns at most KM_BPF_MAX_LEAVES */
    for (uint32_t n = 0u; (st == KM_OK) && !got && !end && (n <= KM_BPF_MAX_LEAVES); n++) {
        uint64_t index = 0u;
        uint64_t entry = 0u;
        bool more = false;
        st = km_bpf_xa_next(gk, o, &it->xa, &index, &entry, &more, err);
        if ((st == KM_OK) && !more) {
            end = true;
        } else if (st != KM_OK) {
            /* reported */
        } else if (!km_bpf_xa_is_pointer(entry)) {
            it->skipped++; /* XA_ZERO_ENTRY (an id reserved but not yet published), value entries */
        } else if (index > (uint64_t)(UINT32_MAX - it->base)) {
            st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_INDEX, it->idr_kva, index, KM_NO_INDEX);
        } else {
            fid = (uint32_t)index + it->base;
            fptr = entry;
            got = true;
        }
    }
    if ((st == KM_OK) && !got && !end) {
        st = km_bpf_fail(err, KM_ERR_CAPACITY, KM_BPF_R_XA_NODES, it->idr_kva, 0u, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        *has = got;
        if (got) {
            it->found++;
            *id = fid;
            *ptr = fptr;
        }
    }
    return st;
}

/* ------------------------------------------------------------------ maps */

km_status km_bpf_map_read(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t map_kva, km_bpf_map_info *out,
                          km_bpf_error *err)
{
    km_status st = KM_OK;
    km_bpf_map_info m = km_bpf_map_zero;
    m.kva = map_kva;
    if (!km_bpf_ready(gk, o) || (out == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else {
        st = km_bpf_field_u32(gk, map_kva, o->map_type, &m.type, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, map_kva, o->map_id, &m.id, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, map_kva, o->map_key_size, &m.key_size, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, map_kva, o->map_value_size, &m.value_size, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, map_kva, o->map_max_entries, &m.max_entries, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, map_kva, o->map_flags, &m.map_flags, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_name(gk, map_kva, o->map_name, m.name, err);
    }
    if (st == KM_OK) {
        m.type_name = km_bpf_map_type_name(o, m.type);
        if ((uint64_t)m.type == o->map_type_array) {
            m.kind = KM_BPF_MAP_ARRAY;
            st = km_bpf_kva_add(map_kva, (uint64_t)o->array_value, &m.value_kva);
        } else if ((uint64_t)m.type == o->map_type_percpu_array) {
            m.kind = KM_BPF_MAP_PERCPU_ARRAY;
            st = km_bpf_kva_add(map_kva, (uint64_t)o->array_pptrs, &m.pptrs_kva);
        } else if (o->have_map_type_struct_ops && ((uint64_t)m.type == o->map_type_struct_ops) &&
                   o->have_struct_ops_map) {
            m.kind = KM_BPF_MAP_STRUCT_OPS;
            st = km_bpf_kva_add(map_kva, (uint64_t)o->st_map_kvalue, &m.value_kva);
            if (st == KM_OK) {
                st = km_bpf_kva_add(m.value_kva, (uint64_t)o->st_value_data, &m.data_kva);
            }
        } else {
            m.kind = KM_BPF_MAP_OTHER;
        }
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, map_kva, 0u, KM_NO_INDEX);
        }
    }
    if (st == KM_OK) {
        *out = m;
    }
    return st;
}

static uint64_t km_bpf_idr_link(const km_guest_kernel *gk, uint64_t link)
{
    uint64_t kva = 0u;
    if (km_gk_sym_kva(gk, link, &kva) != KM_OK) {
        kva = 0u;
    }
    return kva;
}

/* Start iterating the IDR whose link-time address is link. */
static km_status km_bpf_idr_begin_sym(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t link,
                                      km_bpf_idr_iter *it, km_bpf_error *err)
{
    km_status st = KM_OK;
    if (!km_bpf_ready(gk, o) || (it == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else if (!gk->ready) {
        st = km_bpf_fail(err, KM_ERR_NOT_READY, KM_BPF_R_NOT_READY, 0u, 0u, KM_NO_INDEX);
    } else {
        st = km_bpf_idr_begin(gk, o, km_bpf_idr_link(gk, link), it, err);
    }
    return st;
}

km_status km_bpf_maps_begin(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it, km_bpf_error *err)
{
    return km_bpf_idr_begin_sym(gk, o, (o != NULL) ? o->map_idr_link : 0u, it, err);
}

km_status km_bpf_maps_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it, km_bpf_map_info *out,
                           bool *has, km_bpf_error *err)
{
    uint32_t id = 0u;
    uint64_t ptr = 0u;
    bool more = false;
    km_bpf_map_info m = km_bpf_map_zero;
    km_status st = KM_OK;
    if (out == NULL) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else {
        st = km_bpf_idr_next(gk, o, it, &id, &ptr, &more, err);
    }
    if ((st == KM_OK) && more) {
        st = km_bpf_map_read(gk, o, ptr, &m, err);
        if (st != KM_OK) {
            if (err != NULL) {
                err->id = id;
            }
        } else {
            m.idr_id = id;
        }
    }
    if (st == KM_OK) {
        *has = more;
        if (more) {
            *out = m;
        }
    }
    return st;
}

/* Does name end with (or equal) want? */
static bool km_bpf_name_match(const char *name, const char *want, bool *exact)
{
    uint32_t nl = 0u;
    uint32_t wl = 0u;
    bool match = false;
    while ((nl < KM_BPF_OBJ_NAME_LEN) && (name[nl] != '\0')) {
        nl++;
    }
    while ((wl <= KM_BPF_OBJ_NAME_LEN) && (want[wl] != '\0')) {
        wl++;
    }
    if ((wl > 0u) && (wl <= nl)) {
        match = true;
        for (uint32_t i = 0u; i < wl; i++) {
            if (name[(nl - wl) + i] != want[i]) {
                match = false;
            }
        }
    }
    *exact = match && (wl == nl);
    return match;
}

km_status km_bpf_find_map(km_guest_kernel *gk, const km_bpf_offsets *o, const char *name, km_bpf_map_info *out,
                          km_bpf_error *err)
{
    km_bpf_idr_iter it;
    km_bpf_map_info m = km_bpf_map_zero;
    km_bpf_map_info best = km_bpf_map_zero;
    bool have_best = false;
    bool done = false;
    km_status st = KM_OK;
    if ((name == NULL) || (out == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else {
        st = km_bpf_maps_begin(gk, o, &it, err);
    }
    for (uint32_t n = 0u; (st == KM_OK) && !done && (n <= KM_BPF_MAX_LEAVES); n++) {
        bool more = false;
        km_status s = km_bpf_maps_next(gk, o, &it, &m, &more, err);
        if ((s == KM_OK) && !more) {
            done = true;
        } else if (s == KM_OK) {
            bool exact = false;
            if (km_bpf_name_match(m.name, name, &exact)) {
                if (exact || !have_best) {
                    best = m;
                    have_best = true;
                }
                done = exact;
            }
        } else if (it.xa.state == KM_BPF_XA_FAILED) {
            st = s; /* the walk itself failed */
        } else {
            /* one unreadable map: look at the others */
        }
    }
    if ((st == KM_OK) && !have_best) {
        st = km_bpf_fail(err, KM_ERR_NO_SYMBOL, KM_BPF_R_NONE, 0u, 0u, KM_NO_INDEX);
        if (err != NULL) {
            err->what = "no map of that name";
        }
    }
    if (st == KM_OK) {
        *out = best;
    }
    return st;
}

km_status km_bpf_map_value(km_guest_kernel *gk, const km_bpf_offsets *o, const km_bpf_map_info *m, uint32_t key,
                           uint32_t off, uint8_t *dst, uint32_t len, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t kva = 0u;
    if (!km_bpf_ready(gk, o) || (m == NULL) || (dst == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else if (((m->kind != KM_BPF_MAP_ARRAY) && (m->kind != KM_BPF_MAP_STRUCT_OPS)) || (m->value_kva == 0u)) {
        st = km_bpf_fail(err, KM_ERR_UNSUPPORTED, KM_BPF_R_MAP_TYPE, m->kva, (uint64_t)m->type, KM_NO_INDEX);
    } else {
        /* a struct_ops map has one value (key 0; the kernel requires max_entries == 1) */
        uint32_t max = ((m->kind == KM_BPF_MAP_STRUCT_OPS) && (m->max_entries > 1u)) ? 1u : m->max_entries;
        st = km_bpf_elem_kva(m->value_kva, key, max, m->value_size, off, len, &kva);
        if (st == KM_ERR_RANGE) {
            (void)km_bpf_fail(err, st, KM_BPF_R_KEY, m->kva, (uint64_t)key, KM_NO_INDEX);
        } else if (st == KM_ERR_INVALID_ARG) {
            (void)km_bpf_fail(err, st, KM_BPF_R_BOUNDS, m->kva, (uint64_t)off + (uint64_t)len, KM_NO_INDEX);
        } else if (st != KM_OK) {
            (void)km_bpf_fail(err, st, KM_BPF_R_READ, m->value_kva, (uint64_t)key, KM_NO_INDEX);
        } else {
            st = km_bpf_read_span(gk, kva, dst, len, err);
        }
    }
    return st;
}

km_status km_bpf_map_percpu_value(km_guest_kernel *gk, const km_bpf_offsets *o, const km_bpf_map_info *m,
                                  uint32_t key, uint32_t cpu, uint32_t off, uint8_t *dst, uint32_t len,
                                  km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t slot = 0u;
    uint64_t pptr = 0u;
    uint64_t kva = 0u;
    if (!km_bpf_ready(gk, o) || (m == NULL) || (dst == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else if ((m->kind != KM_BPF_MAP_PERCPU_ARRAY) || (m->pptrs_kva == 0u)) {
        st = km_bpf_fail(err, KM_ERR_UNSUPPORTED, KM_BPF_R_MAP_TYPE, m->kva, (uint64_t)m->type, KM_NO_INDEX);
    } else if (!gk->percpu_ready) {
        st = km_bpf_fail(err, KM_ERR_NOT_READY, KM_BPF_R_NOT_READY, m->kva, 0u, KM_NO_INDEX);
    } else if ((cpu >= gk->ncpus) || (cpu >= KM_GK_MAX_CPUS)) {
        st = km_bpf_fail(err, KM_ERR_RANGE, KM_BPF_R_CPU, m->kva, (uint64_t)cpu, KM_NO_INDEX);
    } else {
        /* pptrs[key]: an array of pointers, so the "value size" of the slot is 8 */
        st = km_bpf_elem_kva(m->pptrs_kva, key, m->max_entries, KM_BPF_PTR_SIZE, 0u, KM_BPF_PTR_SIZE, &slot);
        if (st == KM_ERR_RANGE) {
            (void)km_bpf_fail(err, st, KM_BPF_R_KEY, m->kva, (uint64_t)key, KM_NO_INDEX);
        } else if (st != KM_OK) {
            (void)km_bpf_fail(err, st, KM_BPF_R_READ, m->pptrs_kva, (uint64_t)key, KM_NO_INDEX);
        } else {
            st = km_bpf_rd_u64(gk, slot, &pptr);
            if (st != KM_OK) {
                (void)km_bpf_fail(err, st, KM_BPF_R_READ, slot, (uint64_t)key, KM_NO_INDEX);
            }
        }
    }
    if (st == KM_OK) {
        /* per_cpu_ptr(): the kernel adds __per_cpu_offset[cpu] modulo 2^64 (arm64 offsets can be
         * "negative"), so does ktmon */
        uint64_t copy = pptr + gk->percpu[cpu];
        st = km_bpf_elem_kva(copy, 0u, 1u, m->value_size, off, len, &kva);
        if (st == KM_ERR_INVALID_ARG) {
            (void)km_bpf_fail(err, st, KM_BPF_R_BOUNDS, m->kva, (uint64_t)off + (uint64_t)len, KM_NO_INDEX);
        } else if (st != KM_OK) {
            (void)km_bpf_fail(err, st, KM_BPF_R_READ, copy, (uint64_t)cpu, KM_NO_INDEX);
        } else {
            st = km_bpf_read_span(gk, kva, dst, len, err);
        }
    }
    return st;
}

/* ------------------------------------------------------------------ programs */

/* Sum the per-CPU bpf_prog_stats at stats (a per-CPU pointer) over every CPU. */
static void km_bpf_prog_stats(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t stats, km_bpf_prog_info *p)
{
    km_status st = KM_OK;
    uint64_t cnt = 0u;
    uint64_t ns = 0u;
    uint32_t n = 0u;
    if (stats == 0u) {
        st = KM_ERR_BAD_DATA; /* bpf_prog_alloc() always sets it */
    } else if (!gk->percpu_ready) {
        st = KM_ERR_NOT_READY;
    } else {
        n = (gk->ncpus < KM_GK_MAX_CPUS) ? gk->ncpus : KM_GK_MAX_CPUS;
    }
    for (uint32_t c = 0u; (st == KM_OK) && (c < n); c++) {
        uint64_t base = stats + gk->percpu[c]; /* per_cpu_ptr(): modulo 2^64 */
        uint64_t v_cnt = 0u;
        uint64_t v_ns = 0u;
        st = km_bpf_field_u64(gk, base, o->stats_cnt, &v_cnt, NULL);
        if (st == KM_OK) {
            st = km_bpf_field_u64(gk, base, o->stats_nsecs, &v_ns, NULL);
        }
        if (st == KM_OK) {
            /* saturate: hostile counters must not wrap into small numbers */
            cnt = (v_cnt > (UINT64_MAX - cnt)) ? UINT64_MAX : (cnt + v_cnt);
            ns = (v_ns > (UINT64_MAX - ns)) ? UINT64_MAX : (ns + v_ns);
        }
    }
    p->stats_status = st;
    p->stats_cpus = (st == KM_OK) ? n : 0u;
    p->run_cnt = (st == KM_OK) ? cnt : 0u;
    p->run_time_ns = (st == KM_OK) ? ns : 0u;
}

km_status km_bpf_prog_read(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t prog_kva, km_bpf_prog_info *out,
                           km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t stats = 0u;
    km_bpf_prog_info p = km_bpf_prog_zero;
    p.kva = prog_kva;
    p.stats_status = KM_ERR_NOT_READY;
    if (!km_bpf_ready(gk, o) || (out == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else {
        st = km_bpf_field_u32(gk, prog_kva, o->prog_type, &p.type, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u64(gk, prog_kva, o->prog_aux, &p.aux_kva, err);
    }
    if ((st == KM_OK) && (p.aux_kva == 0u)) {
        st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_READ, prog_kva, 0u, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u64(gk, prog_kva, o->prog_stats, &stats, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, p.aux_kva, o->aux_id, &p.id, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_u32(gk, p.aux_kva, o->aux_verified_insns, &p.verified_insns, err);
    }
    if (st == KM_OK) {
        st = km_bpf_field_name(gk, p.aux_kva, o->aux_name, p.name, err);
    }
    if (st == KM_OK) {
        p.type_name = km_bpf_prog_type_name(o, p.type);
        p.struct_ops = ((uint64_t)p.type == o->prog_type_struct_ops);
        km_bpf_prog_stats(gk, o, stats, &p);
        *out = p;
    }
    return st;
}

km_status km_bpf_progs_begin(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it, km_bpf_error *err)
{
    return km_bpf_idr_begin_sym(gk, o, (o != NULL) ? o->prog_idr_link : 0u, it, err);
}

km_status km_bpf_progs_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it, bool all,
                            km_bpf_prog_info *out, bool *has, km_bpf_error *err)
{
    km_status st = KM_OK;
    bool got = false;
    bool end = false;
    km_bpf_prog_info p = km_bpf_prog_zero;
    if ((out == NULL) || (has == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    }
    /* one leaf a pass; bounded like the xarray iteration */
    for (uint32_t n = 0u; (st == KM_OK) && !got && !end && (n <= KM_BPF_MAX_LEAVES); n++) {
        uint32_t id = 0u;
        uint64_t ptr = 0u;
        bool more = false;
        uint32_t type = 0u;
        st = km_bpf_idr_next(gk, o, it, &id, &ptr, &more, err);
        if ((st == KM_OK) && !more) {
            end = true;
        } else if (st != KM_OK) {
            /* reported */
        } else {
            /* the type first: programs left out by the filter are not read further */
            st = km_bpf_field_u32(gk, ptr, o->prog_type, &type, err);
            if ((st == KM_OK) && !all && ((uint64_t)type != o->prog_type_struct_ops)) {
                it->filtered++;
            } else if (st == KM_OK) {
                st = km_bpf_prog_read(gk, o, ptr, &p, err);
                p.idr_id = id;
                got = (st == KM_OK);
            } else {
                /* reported */
            }
            if ((st != KM_OK) && (err != NULL)) {
                err->id = id;
            }
        }
    }
    if ((st == KM_OK) && !got && !end) {
        st = km_bpf_fail(err, KM_ERR_CAPACITY, KM_BPF_R_XA_NODES, 0u, 0u, KM_NO_INDEX);
    }
    if (st == KM_OK) {
        *has = got;
        if (got) {
            *out = p;
        }
    }
    return st;
}

km_status km_bpf_stats_enabled(km_guest_kernel *gk, const km_bpf_offsets *o, bool *on, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint32_t v = 0u;
    if (!km_bpf_ready(gk, o) || (on == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else if (!o->have_stats_key) {
        st = km_bpf_fail(err, KM_ERR_NO_SYMBOL, KM_BPF_R_SYMBOL, 0u, 0u, KM_NO_INDEX);
        if (err != NULL) {
            err->what = "bpf_stats_enabled_key";
        }
    } else if (!gk->ready) {
        st = km_bpf_fail(err, KM_ERR_NOT_READY, KM_BPF_R_NOT_READY, 0u, 0u, KM_NO_INDEX);
    } else {
        st = km_bpf_field_u32(gk, km_bpf_idr_link(gk, o->stats_key_link), o->static_key_enabled, &v, err);
    }
    if (st == KM_OK) {
        /* static_key.enabled is an atomic_t: a count of enablers (sysctl, BPF_ENABLE_STATS fds) */
        *on = (v != 0u) && (v < 0x80000000u);
    }
    return st;
}
