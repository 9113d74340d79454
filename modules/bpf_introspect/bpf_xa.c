/* ktmon bpf_introspect: xarray lookup and iteration over untrusted guest
 * memory.  Proved with WP (verify/wp/bpf_introspect.wp) on top of the read
 * primitives' contracts (bpf_int.h): every loop has a variant, every array
 * index and every address computation is checked, and a node's shift is
 * validated before it is used.
 *
 * Each node is checked where it is entered: its address must be 8-byte
 * aligned (xa_node comes from a slab cache), its shift a multiple of 6 below
 * 64, and a child's shift exactly its parent's - 6.  With the last rule a
 * root-to-leaf path has at most 11 nodes, so a node pointing to itself (or
 * to an ancestor) is refused on the first repeat.  Nothing here allocates. */
#include "ktmon/bpf_introspect.h"

#include "bpf_int.h"

/* Enter the node of node entry e: check its alignment, read and check its shift. */
/*@ requires \valid(gk) && km_xa_off_ok(o) && \valid(node) && \valid(shift);
    requires err == \null || \valid(err);
    requires \separated(gk, o, node, shift);
    requires err != \null ==> \separated(err, gk, o, node, shift);
    assigns gk->tlb, *node, *shift, *err;
    ensures \result == KM_OK ==> *node % 8 == 0 && *shift < 64 && *shift % 6 == 0;
    ensures \result != KM_OK ==> *node == \old(*node) && *shift == \old(*shift); */
static km_status km_bpf_xa_enter(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t e, uint32_t depth,
                                 uint64_t *node, uint32_t *shift, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t n = km_bpf_xa_node_kva(e);
    uint64_t at = 0u;
    uint8_t sh = 0u;
    if ((n % KM_BPF_PTR_SIZE) != 0u) {
        st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_ALIGN, n, e, depth);
    } else if (km_bpf_kva_add(n, (uint64_t)o->xa_node_shift, &at) != KM_OK) {
        st = km_bpf_fail(err, KM_ERR_OVERFLOW, KM_BPF_R_READ, n, e, depth);
    } else {
        st = km_bpf_rd_u8(gk, at, &sh);
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, at, e, depth);
        } else if (!km_bpf_xa_shift_ok((uint32_t)sh)) {
            st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_SHIFT, n, (uint64_t)sh, depth);
        } else {
            *node = n;
            *shift = (uint32_t)sh;
        }
    }
    return st;
}

/* Read slot `slot` of the node at `node`. */
/*@ requires \valid(gk) && km_xa_off_ok(o) && \valid(out) && slot < 64;
    requires err == \null || \valid(err);
    requires \separated(gk, o, out);
    requires err != \null ==> \separated(err, gk, o, out);
    assigns gk->tlb, *out, *err;
    ensures \result != KM_OK ==> *out == \old(*out); */
static km_status km_bpf_xa_read_slot(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t node, uint32_t slot,
                                     uint32_t depth, uint64_t *out, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t at = 0u;
    uint64_t rel = (uint64_t)o->xa_node_slots + ((uint64_t)slot * KM_BPF_PTR_SIZE);
    if (km_bpf_kva_add(node, rel, &at) != KM_OK) {
        st = km_bpf_fail(err, KM_ERR_OVERFLOW, KM_BPF_R_READ, node, (uint64_t)slot, depth);
    } else {
        st = km_bpf_rd_u64(gk, at, out);
        if (st != KM_OK) {
            st = km_bpf_fail(err, st, KM_BPF_R_READ, at, (uint64_t)slot, depth);
        }
    }
    return st;
}

km_status km_bpf_xa_load(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t head, uint64_t index,
                         uint64_t *entry, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t result = 0u;
    if ((gk == NULL) || (o == NULL) || (entry == NULL) || !o->ready) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else if (km_bpf_xa_classify(head) != KM_BPF_XA_NODE) {
        /* empty, or a single entry at index 0 */
        result = (index == 0u) ? head : 0u;
    } else {
        uint64_t node = 0u;
        uint32_t shift = 0u;
        bool done = false;
        uint32_t depth = 0u;
        st = km_bpf_xa_enter(gk, o, head, 0u, &node, &shift, err);
        if ((st == KM_OK) && !km_bpf_xa_in_range(index, shift)) {
            done = true; /* beyond what the root covers: absent */
        }
        /*@ loop invariant 0 <= depth <= KM_BPF_XA_MAX_DEPTH;
            loop invariant st == KM_OK ==> shift < 64 && shift % 6 == 0;
            loop invariant st == KM_OK && !done ==> shift + 6 * depth <= 60;
            loop assigns depth, done, st, node, shift, result, gk->tlb, *err;
            loop variant KM_BPF_XA_MAX_DEPTH - depth; */
        while ((st == KM_OK) && !done && (depth < KM_BPF_XA_MAX_DEPTH)) {
            uint64_t e = 0u;
            st = km_bpf_xa_read_slot(gk, o, node, km_bpf_xa_slot(index, shift), depth, &e, err);
            if (st == KM_OK) {
                km_bpf_xa_kind k = km_bpf_xa_classify(e);
                if (k != KM_BPF_XA_NODE) {
                    result = e; /* 0 (absent) or the leaf */
                    done = true;
                } else if (shift == 0u) {
                    /* a node below the last level */
                    st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_CHILD, node, e, depth);
                } else {
                    uint64_t child = 0u;
                    uint32_t cshift = 0u;
                    st = km_bpf_xa_enter(gk, o, e, depth + 1u, &child, &cshift, err);
                    if ((st == KM_OK) && (cshift != (shift - KM_BPF_XA_CHUNK_SHIFT))) {
                        st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_CHILD, child, e, depth + 1u);
                    }
                    if (st == KM_OK) {
                        node = child;
                        shift = cshift;
                    }
                }
            }
            depth++;
        }
        if ((st == KM_OK) && !done) {
            /* unreachable while shifts decrease by 6 from at most 60; kept as the hard bound */
            st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_DEPTH, node, index, depth);
        }
    }
    if (st == KM_OK) {
        *entry = result;
    }
    return st;
}

/* Start: classify the head; enter the root node. */
/*@ requires \valid(gk) && km_xa_off_ok(o) && \valid(it) && km_xa_iter_ok(it) && it->state == KM_BPF_XA_START;
    requires \valid(found) && \valid(fidx) && \valid(fent);
    requires err == \null || \valid(err);
    requires \separated(gk, o, it, found, fidx, fent);
    requires err != \null ==> \separated(err, gk, o, it, found, fidx, fent);
    assigns gk->tlb, *it, *found, *fidx, *fent, *err;
    ensures it->depth <= KM_BPF_XA_MAX_DEPTH;
    ensures it->nodes <= KM_BPF_XA_MAX_NODES;
    ensures \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
static km_status km_bpf_xa_start(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_xa_iter *it, bool *found,
                                 uint64_t *fidx, uint64_t *fent, km_bpf_error *err)
{
    km_status st = KM_OK;
    km_bpf_xa_kind k = km_bpf_xa_classify(it->head);
    if (k == KM_BPF_XA_EMPTY) {
        it->state = KM_BPF_XA_DONE;
    } else if (k == KM_BPF_XA_LEAF) {
        *found = true;
        *fidx = 0u;
        *fent = it->head;
        it->state = KM_BPF_XA_DONE;
    } else {
        uint64_t node = 0u;
        uint32_t shift = 0u;
        st = km_bpf_xa_enter(gk, o, it->head, 0u, &node, &shift, err);
        if (st == KM_OK) {
            it->lv[0].node = node;
            it->lv[0].base = 0u;
            it->lv[0].shift = shift;
            it->lv[0].next = 0u;
            it->depth = 1u;
            it->nodes = 1u;
            it->state = KM_BPF_XA_WALK;
        }
    }
    return st;
}

/* Mark slot `slot` of the top node as looked at. */
/*@ requires \valid(it) && km_xa_iter_ok(it) && 1 <= it->depth && slot < 64;
    assigns it->lv[it->depth - 1].next;
    ensures it->depth <= KM_BPF_XA_MAX_DEPTH;
    ensures it->nodes <= KM_BPF_XA_MAX_NODES;
    ensures \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
static void km_bpf_xa_advance(km_bpf_xa_iter *it, uint32_t slot)
{
    it->lv[it->depth - 1u].next = slot + 1u;
}

/* Push the child node entered at index base. */
/*@ requires \valid(it) && km_xa_iter_ok(it) && it->depth < KM_BPF_XA_MAX_DEPTH;
    requires it->nodes < KM_BPF_XA_MAX_NODES;
    requires shift < 64 && shift % 6 == 0 && node % 8 == 0;
    assigns it->lv[it->depth], it->depth, it->nodes;
    ensures it->depth == \old(it->depth) + 1;
    ensures it->depth <= KM_BPF_XA_MAX_DEPTH;
    ensures it->nodes <= KM_BPF_XA_MAX_NODES;
    ensures \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
static void km_bpf_xa_push(km_bpf_xa_iter *it, uint64_t node, uint64_t base, uint32_t shift)
{
    uint32_t d = it->depth;
    it->lv[d].node = node;
    it->lv[d].base = base;
    it->lv[d].shift = shift;
    it->lv[d].next = 0u;
    it->depth = d + 1u;
    it->nodes = it->nodes + 1u;
}

/* What visiting a slot found. */
typedef struct km_bpf_xa_seen {
    bool leaf;       /* a leaf at index */
    bool push;       /* a child node to enter: node, shift, covering index */
    uint64_t index;
    uint64_t entry;
    uint64_t node;
    uint32_t shift;
} km_bpf_xa_seen;

/* Look at slot `slot` of the node at `node` (slot 0 at index base, level
 * depth - 1 of a stack holding `depth` levels and `nodes` nodes entered):
 * an empty slot is skipped, a leaf is reported, a node is entered and
 * checked, to be pushed by the caller. */
/*@ requires \valid(gk) && km_xa_off_ok(o) && \valid(seen);
    requires 1 <= depth <= KM_BPF_XA_MAX_DEPTH && nodes <= KM_BPF_XA_MAX_NODES;
    requires slot < 64 && shift < 64 && shift % 6 == 0;
    requires err == \null || \valid(err);
    requires \separated(gk, o, seen);
    requires err != \null ==> \separated(err, gk, o, seen);
    assigns gk->tlb, *seen, *err;
    ensures \result == KM_OK && seen->push ==>
            depth < KM_BPF_XA_MAX_DEPTH && nodes < KM_BPF_XA_MAX_NODES &&
            seen->shift < 64 && seen->shift % 6 == 0 && seen->node % 8 == 0;
    ensures \result == KM_OK ==> !(seen->push && seen->leaf); */
static km_status km_bpf_xa_visit(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t node, uint64_t base,
                                 uint32_t shift, uint32_t slot, uint32_t depth, uint32_t nodes, km_bpf_xa_seen *seen,
                                 km_bpf_error *err)
{
    km_status st = KM_OK;
    uint64_t e = 0u;
    uint32_t top = depth - 1u;
    seen->leaf = false;
    seen->push = false;
    seen->index = 0u;
    seen->entry = 0u;
    seen->node = 0u;
    seen->shift = 0u;
    st = km_bpf_xa_read_slot(gk, o, node, slot, top, &e, err);
    if ((st == KM_OK) && (e != 0u)) {
        uint64_t idx = 0u;
        if (km_bpf_xa_slot_index(base, slot, shift, &idx) != KM_OK) {
            /* e.g. slot 16 of a shift-60 node: index 2^64 */
            st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_INDEX, node, (uint64_t)slot, top);
        } else if (km_bpf_xa_classify(e) != KM_BPF_XA_NODE) {
            seen->leaf = true;
            seen->index = idx;
            seen->entry = e;
        } else if (shift == 0u) {
            st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_CHILD, node, e, top);
        } else if (depth >= KM_BPF_XA_MAX_DEPTH) {
            st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_DEPTH, node, e, depth);
        } else if (nodes >= KM_BPF_XA_MAX_NODES) {
            st = km_bpf_fail(err, KM_ERR_CAPACITY, KM_BPF_R_XA_NODES, node, e, depth);
        } else {
            uint64_t child = 0u;
            uint32_t cshift = 0u;
            st = km_bpf_xa_enter(gk, o, e, depth, &child, &cshift, err);
            if ((st == KM_OK) && (cshift != (shift - KM_BPF_XA_CHUNK_SHIFT))) {
                st = km_bpf_fail(err, KM_ERR_BAD_DATA, KM_BPF_R_XA_CHILD, child, e, depth);
            }
            if (st == KM_OK) {
                seen->push = true;
                seen->index = idx;
                seen->node = child;
                seen->shift = cshift;
            }
        }
    }
    return st;
}

/* One step of the walk at the top of the stack: pop a finished node, or
 * visit its next slot. */
/*@ requires \valid(gk) && km_xa_off_ok(o) && \valid(it) && km_xa_iter_ok(it);
    requires it->state == KM_BPF_XA_WALK && it->depth >= 1;
    requires \valid(found) && \valid(fidx) && \valid(fent);
    requires err == \null || \valid(err);
    requires \separated(gk, o, it, found, fidx, fent);
    requires err != \null ==> \separated(err, gk, o, it, found, fidx, fent);
    assigns gk->tlb, *it, *found, *fidx, *fent, *err;
    ensures it->depth <= KM_BPF_XA_MAX_DEPTH;
    ensures it->nodes <= KM_BPF_XA_MAX_NODES;
    ensures \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
static km_status km_bpf_xa_step(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_xa_iter *it, bool *found,
                                uint64_t *fidx, uint64_t *fent, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint32_t top = it->depth - 1u;
    uint32_t slot = it->lv[top].next;
    if (slot >= KM_BPF_XA_CHUNK_SIZE) {
        it->depth = top;
        if (top == 0u) {
            it->state = KM_BPF_XA_DONE;
        }
        /*@ assert popped: \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
    } else {
        km_bpf_xa_seen seen;
        km_bpf_xa_advance(it, slot);
        /*@ assert lv_ok: \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
        st = km_bpf_xa_visit(gk, o, it->lv[top].node, it->lv[top].base, it->lv[top].shift, slot, it->depth, it->nodes,
                             &seen, err);
        /*@ assert lv_kept: \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
        if ((st == KM_OK) && seen.leaf) {
            *found = true;
            *fidx = seen.index;
            *fent = seen.entry;
            /*@ assert leaf: \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
        } else if ((st == KM_OK) && seen.push) {
            km_bpf_xa_push(it, seen.node, seen.index, seen.shift);
        } else {
            /* empty slot, or failed */
        }
    }
    return st;
}

km_status km_bpf_xa_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_xa_iter *it, uint64_t *index,
                         uint64_t *entry, bool *has, km_bpf_error *err)
{
    km_status st = KM_OK;
    bool found = false;
    uint64_t fidx = 0u;
    uint64_t fent = 0u;
    if ((gk == NULL) || (o == NULL) || (it == NULL) || (index == NULL) || (entry == NULL) || (has == NULL) ||
        !o->ready) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else if (it->state == KM_BPF_XA_FAILED) {
        st = km_bpf_fail(err, KM_ERR_STATE, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else {
        uint32_t steps = 0u;
        if (it->state == KM_BPF_XA_START) {
            st = km_bpf_xa_start(gk, o, it, &found, &fidx, &fent, err);
        }
        /*@ loop invariant km_xa_iter_ok(it);
            loop invariant 0 <= steps <= KM_BPF_XA_MAX_STEPS;
            loop assigns steps, st, found, fidx, fent, gk->tlb, *it, *err;
            loop variant KM_BPF_XA_MAX_STEPS - steps; */
        while ((st == KM_OK) && !found && (it->state == KM_BPF_XA_WALK) && (steps < KM_BPF_XA_MAX_STEPS)) {
            steps++;
            if (it->depth == 0u) {
                it->state = KM_BPF_XA_DONE;
            } else {
                st = km_bpf_xa_step(gk, o, it, &found, &fidx, &fent, err);
            }
        }
        if ((st == KM_OK) && !found && (it->state == KM_BPF_XA_WALK)) {
            /* the node bound keeps one call below the step bound; kept as the hard stop */
            st = km_bpf_fail(err, KM_ERR_CAPACITY, KM_BPF_R_XA_NODES, 0u, (uint64_t)steps, it->depth);
        }
        /*@ assert walked: \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
        if (st != KM_OK) {
            it->state = KM_BPF_XA_FAILED;
        }
        /*@ assert kept: \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]); */
    }
    if (st == KM_OK) {
        *has = found;
        if (found) {
            *index = fidx;
            *entry = fent;
        }
    }
    return st;
}
