/* ktmon watchpoint_fsm: transition function, slot table, vCPU side.
 *
 * This file is what verify/wp/watchpoint_fsm.wp proves (sequential
 * semantics through ktmon/atomic.h's contracts); the memory ordering of the
 * same stores and loads is checked by verify/models/watchpoint.pml.  The
 * indirect backend call and the coordinator signal are the primitives of
 * wp_prim.h.  Nothing here allocates. */
#include "ktmon/watchpoint_fsm.h"

#include <errno.h>
#include <stddef.h>

#include "wp_prim.h"

/* ------------------------------------------------------------------ transition */

/*@ requires \valid_read(a) && \valid_read(b);
    assigns \nothing;
    ensures \result <==> km_wp_same(*a, *b); */
static bool km_wp_root_same(const km_wp_root *a, const km_wp_root *b)
{
    return (a->kva == b->kva) && ((a->kva == 0u) || (a->id == b->id));
}

km_status km_wp_target_kva(uint64_t kva, uint64_t off, uint64_t *out)
{
    km_status st = KM_OK;
    if (off > (UINT64_MAX - kva)) {
        st = KM_ERR_OVERFLOW;
    } else if (((kva + off) % 4u) != 0u) {
        st = KM_ERR_MISALIGNED;
    } else {
        *out = kva + off;
    }
    return st;
}

bool km_wp_needs_target(const km_wp_root *last, const km_wp_root *cur)
{
    return (last->kva == 0u) && (cur->kva != 0u);
}

void km_wp_transition(const km_wp_root *last, const km_wp_root *cur, uint64_t off,
                      const km_wp_xlate *xl, km_wp_step *out)
{
    km_wp_step s;
    s.outcome = KM_WP_UNCHANGED;
    s.next.kva = last->kva;
    s.next.id = last->id;
    s.target_kva = 0u;
    s.host = NULL;

    if (km_wp_root_same(last, cur)) {
        /* Same instance, or still no scheduler: nothing to do. */
    } else if (last->kva != 0u) {
        /* Detach (cur == 0) or another instance (rebind): disarm only.  A
         * rebind publishes next tick, after every vCPU has dropped the old
         * address (the tick assumption, docs/watchpoint-fsm.md). */
        s.outcome = (cur->kva == 0u) ? KM_WP_DETACHED : KM_WP_REBIND_DISARMED;
        s.next.kva = 0u;
        s.next.id = 0u;
    } else {
        /* last == 0 and not the same root, so cur != 0: a fresh attach. */
        uint64_t target = 0u;
        if ((km_wp_target_kva(cur->kva, off, &target) == KM_OK) && xl->ok && (xl->host != NULL)) {
            s.outcome = KM_WP_PUBLISHED;
            s.next.kva = cur->kva;
            s.next.id = cur->id;
            s.target_kva = target;
            s.host = xl->host;
        } else {
            s.outcome = KM_WP_PUBLISH_DEFERRED;
        }
    }
    *out = s;
}

/* ------------------------------------------------------------------ slot table (coordinator) */

void km_wp_table_init(km_wp_table *t, km_wp_notify_fn notify, void *notify_ctx, int hit_fd)
{
    km_atomic_store_relaxed_u64(&t->slot0.request_kva, 0u);
    km_atomic_store_relaxed_ptr(&t->slot0.kind_host_ptr, NULL);
    km_atomic_store_relaxed_bool(&t->slot0.hit, false);
    /*@ loop invariant 0 <= i <= KM_WP_USER_SLOTS;
        loop invariant \forall integer j; 0 <= j < i ==>
            t->user[j].request_kva == 0 && !t->user[j].hit && t->user[j].tag_len == 0;
        loop assigns i, t->user[0 .. KM_WP_USER_SLOTS - 1];
        loop variant KM_WP_USER_SLOTS - i; */
    for (uint32_t i = 0u; i < KM_WP_USER_SLOTS; i++) {
        km_atomic_store_relaxed_u64(&t->user[i].request_kva, 0u);
        km_atomic_store_relaxed_bool(&t->user[i].hit, false);
        t->user[i].tag_len = 0u;
        /*@ loop invariant 0 <= k <= KM_WP_TAG_MAX;
            loop assigns k, t->user[i].tag[0 .. KM_WP_TAG_MAX - 1];
            loop variant KM_WP_TAG_MAX - k; */
        for (uint32_t k = 0u; k < KM_WP_TAG_MAX; k++) {
            t->user[i].tag[k] = '\0';
        }
    }
    km_atomic_store_relaxed_bool(&t->any_armed, false);
    t->notify = notify;
    t->notify_ctx = notify_ctx;
    t->hit_fd = hit_fd;
}

/* Publish: the host pointer first, then the request (both release), so a
 * vCPU that acquires a non-zero request finds the pointer that goes with it. */
/*@ requires \valid(t) && km_wp_table_ok(t) && host != \null && \valid_read(host);
    requires kva != 0 && kva % 4 == 0;
    assigns t->slot0.request_kva, t->slot0.kind_host_ptr, t->any_armed;
    ensures km_wp_table_ok(t);
    ensures t->slot0.request_kva == kva && t->slot0.kind_host_ptr == host && t->any_armed; */
static void km_wp_publish(km_wp_table *t, uint64_t kva, volatile uint32_t *host)
{
    km_atomic_store_release_ptr(&t->slot0.kind_host_ptr, host);
    km_atomic_store_release_u64(&t->slot0.request_kva, kva);
    km_atomic_store_release_bool(&t->any_armed, true);
}

/* Disarm: the request first (vCPUs stop arming it), then the pointer (a
 * late fire finds NULL), then the hit flag (release each). */
/*@ requires \valid(t) && km_wp_table_ok(t);
    assigns t->slot0.request_kva, t->slot0.kind_host_ptr, t->slot0.hit;
    ensures km_wp_table_ok(t);
    ensures t->slot0.request_kva == 0 && t->slot0.kind_host_ptr == \null && !t->slot0.hit; */
static void km_wp_disarm(km_wp_table *t)
{
    km_atomic_store_release_u64(&t->slot0.request_kva, 0u);
    km_atomic_store_release_ptr(&t->slot0.kind_host_ptr, NULL);
    km_atomic_store_release_bool(&t->slot0.hit, false);
}

km_status km_wp_apply(km_wp_table *t, const km_wp_step *s)
{
    km_status st = KM_OK;
    if (s->outcome == KM_WP_PUBLISHED) {
        volatile uint32_t *host = s->host;
        if ((host != NULL) && (s->target_kva != 0u) && ((s->target_kva % 4u) == 0u)) {
            km_wp_publish(t, s->target_kva, host);
        } else {
            st = KM_ERR_INVALID_ARG;
        }
    } else if ((s->outcome == KM_WP_DETACHED) || (s->outcome == KM_WP_REBIND_DISARMED)) {
        km_wp_disarm(t);
    } else {
        /* UNCHANGED, PUBLISH_DEFERRED: nothing to store. */
    }
    return st;
}

km_status km_wp_tick(km_wp_table *t, km_wp_root *last, const km_wp_root *cur, uint64_t off,
                     const km_wp_xlate *xl, km_wp_step *out)
{
    km_wp_transition(last, cur, off, xl, out);
    last->kva = out->next.kva;
    last->id = out->next.id;
    /* Frame hints: *last and *out are separate from the table. */
    /*@ assert t->slot0.request_kva == \at(t->slot0.request_kva, Pre); */
    /*@ assert t->slot0.kind_host_ptr == \at(t->slot0.kind_host_ptr, Pre); */
    /*@ assert t->user[0].request_kva == \at(t->user[0].request_kva, Pre); */
    /*@ assert t->user[1].request_kva == \at(t->user[1].request_kva, Pre); */
    /*@ assert t->user[2].request_kva == \at(t->user[2].request_kva, Pre); */
    return km_wp_apply(t, out);
}

/* Index (0-based, into t->user) of the first free user slot, or
 * KM_WP_USER_SLOTS if every slot is taken. */
/*@ requires km_wp_table_ok(t);
    assigns \nothing;
    ensures 0 <= \result <= KM_WP_USER_SLOTS;
    ensures \forall integer i; 0 <= i < \result ==> t->user[i].request_kva != 0;
    ensures \result < KM_WP_USER_SLOTS ==> t->user[\result].request_kva == 0;
    ensures \result == KM_WP_USER_SLOTS <==> !km_wp_has_free(t); */
static uint32_t km_wp_first_free(const km_wp_table *t)
{
    uint32_t i = 0u;
    bool found = false;
    /*@ loop invariant 0 <= i <= KM_WP_USER_SLOTS;
        loop invariant \forall integer j; 0 <= j < i ==> t->user[j].request_kva != 0;
        loop invariant found ==> i < KM_WP_USER_SLOTS && t->user[i].request_kva == 0;
        loop assigns i, found;
        loop variant KM_WP_USER_SLOTS - i + (found ? 0 : 1); */
    while ((i < KM_WP_USER_SLOTS) && !found) {
        if (km_atomic_load_relaxed_u64(&t->user[i].request_kva) == 0u) {
            found = true;
        } else {
            i++;
        }
    }
    return i;
}

/* The checks of km_wp_user_arm after the free-slot test, in the
 * reference's order; *kva = link + kaslr on success. */
/*@ requires \valid_read(sym) && \valid(kva) && \separated(sym, kva);
    assigns *kva;
    behavior no_symbol:
      assumes !sym->found;
      ensures \result == KM_ERR_NO_SYMBOL;
    behavior kaslr_unresolved:
      assumes sym->found && kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF;
      ensures \result == KM_ERR_NOT_READY;
    behavior wraps:
      assumes sym->found && !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              km_wp_kva(sym, kaslr) > UINT64_MAX;
      ensures \result == KM_ERR_OVERFLOW;
    behavior zero:
      assumes sym->found && !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              km_wp_kva(sym, kaslr) == 0;
      ensures \result == KM_ERR_INVALID_ARG;
    behavior misaligned:
      assumes sym->found && !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              0 < km_wp_kva(sym, kaslr) <= UINT64_MAX && km_wp_kva(sym, kaslr) % 4 != 0;
      ensures \result == KM_ERR_MISALIGNED;
    behavior ok:
      assumes sym->found && !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              0 < km_wp_kva(sym, kaslr) <= UINT64_MAX && km_wp_kva(sym, kaslr) % 4 == 0;
      ensures \result == KM_OK && *kva == km_wp_kva(sym, kaslr);
    complete behaviors;
    disjoint behaviors; */
static km_status km_wp_user_check(const km_wp_symbol *sym, uint64_t kaslr, uint64_t *kva)
{
    km_status st = KM_OK;
    if (!sym->found) {
        st = KM_ERR_NO_SYMBOL;
    } else if ((kaslr == 0u) && !sym->kaslr_resolved && (sym->link_kva >= KM_WP_KERNEL_HALF)) {
        /* A kernel symbol with a zero offset: the KASLR offset has not been
         * resolved yet, and arming the link address would watch the wrong
         * word. */
        st = KM_ERR_NOT_READY;
    } else if (kaslr > (UINT64_MAX - sym->link_kva)) {
        st = KM_ERR_OVERFLOW;
    } else if ((sym->link_kva + kaslr) == 0u) {
        st = KM_ERR_INVALID_ARG;
    } else if (((sym->link_kva + kaslr) % 4u) != 0u) {
        st = KM_ERR_MISALIGNED;
    } else {
        *kva = sym->link_kva + kaslr;
    }
    return st;
}

/* Fill free user slot idx: the tag first (plain: only the coordinator
 * reads it), then the request (release), then any_armed. */
/*@ requires km_wp_table_ok(t) && 0 <= idx < KM_WP_USER_SLOTS;
    requires kva != 0 && kva % 4 == 0;
    requires tag_len > 0 ==> \valid_read(tag + (0 .. tag_len - 1));
    requires tag_len > 0 ==> \separated(t, tag + (0 .. tag_len - 1));
    assigns t->user[idx].tag[0 .. KM_WP_TAG_MAX - 1], t->user[idx].tag_len,
            t->user[idx].request_kva, t->any_armed;
    ensures km_wp_table_ok(t);
    ensures t->user[idx].request_kva == kva && t->any_armed; */
static void km_wp_user_store(km_wp_table *t, uint32_t idx, uint64_t kva, const char *tag,
                             size_t tag_len)
{
    km_wp_user_slot *u = &t->user[idx];
    uint32_t n = KM_WP_TAG_MAX - 1u;
    if (tag_len < ((size_t)KM_WP_TAG_MAX - 1u)) {
        n = (uint32_t)tag_len;
    }
    /*@ loop invariant 0 <= k <= n;
        loop assigns k, u->tag[0 .. KM_WP_TAG_MAX - 1];
        loop variant n - k; */
    for (uint32_t k = 0u; k < n; k++) {
        u->tag[k] = tag[k];
    }
    u->tag[n] = '\0';
    u->tag_len = n;
    km_atomic_store_release_u64(&u->request_kva, kva);
    km_atomic_store_release_bool(&t->any_armed, true);
}

km_status km_wp_user_arm(km_wp_table *t, const km_wp_symbol *sym, uint64_t kaslr, const char *tag,
                         size_t tag_len, uint32_t *slot, km_error *err)
{
    km_status st = KM_ERR_CAPACITY;
    uint32_t idx = km_wp_first_free(t);
    uint64_t kva = 0u;
    if (idx < KM_WP_USER_SLOTS) {
        st = km_wp_user_check(sym, kaslr, &kva);
        if (st == KM_OK) {
            km_wp_user_store(t, idx, kva, tag, tag_len);
            *slot = idx + 1u;
        }
    }
    if (st != KM_OK) {
        uint32_t where = KM_NO_INDEX;
        if (idx < KM_WP_USER_SLOTS) {
            where = idx + 1u;
        }
        (void)km_error_set(err, st, kva, where, 0);
    }
    return st;
}

km_status km_wp_user_clear(km_wp_table *t, uint32_t slot)
{
    km_status st = KM_OK;
    if ((slot < 1u) || (slot > KM_WP_USER_SLOTS)) {
        st = KM_ERR_INVALID_ARG;
    } else if (km_atomic_load_relaxed_u64(&t->user[slot - 1u].request_kva) == 0u) {
        st = KM_ERR_STATE;
    } else {
        km_wp_user_slot *u = &t->user[slot - 1u];
        km_atomic_store_release_u64(&u->request_kva, 0u);
        km_atomic_store_release_bool(&u->hit, false);
        u->tag_len = 0u;
        u->tag[0] = '\0';
    }
    return st;
}

bool km_wp_hit_pending(const km_wp_table *t, uint32_t slot)
{
    bool hit = false;
    if (slot == 0u) {
        hit = km_atomic_load_acquire_bool(&t->slot0.hit);
    } else if (slot <= KM_WP_USER_SLOTS) {
        hit = km_atomic_load_acquire_bool(&t->user[slot - 1u].hit);
    } else {
        /* no such slot */
    }
    return hit;
}

km_status km_wp_clear_hit(km_wp_table *t, uint32_t slot)
{
    km_status st = KM_OK;
    if (slot == 0u) {
        km_atomic_store_release_bool(&t->slot0.hit, false);
    } else if (slot <= KM_WP_USER_SLOTS) {
        km_atomic_store_release_bool(&t->user[slot - 1u].hit, false);
    } else {
        st = KM_ERR_INVALID_ARG;
    }
    return st;
}

/* ------------------------------------------------------------------ vCPU side */

void km_wp_vcpu_init(km_wp_vcpu *v, const km_wp_arm_ops *ops, void *ctx)
{
    /*@ loop invariant 0 <= i <= KM_WP_SLOTS;
        loop invariant \forall integer j; 0 <= j < i ==> v->armed[j] == 0 && v->hw[j] == 0;
        loop assigns i, v->armed[0 .. KM_WP_SLOTS - 1], v->hw[0 .. KM_WP_SLOTS - 1];
        loop variant KM_WP_SLOTS - i; */
    for (uint32_t i = 0u; i < KM_WP_SLOTS; i++) {
        v->armed[i] = 0u;
        v->hw[i] = 0u;
    }
    v->failures = 0u;
    v->issued = 0u;
    v->gave_up = 0u;
    v->ops = ops;
    v->ctx = ctx;
}

/* Saturating counter step. */
/*@ assigns \nothing;
    ensures \result == (x < UINT64_MAX ? x + 1 : x); */
static uint64_t km_wp_sat_inc(uint64_t x)
{
    uint64_t y = x;
    if (y < UINT64_MAX) {
        y++;
    }
    return y;
}

/* Outcome of one set_debug with its EINTR retries. */
typedef struct km_wp_issue_result {
    km_status st;
    bool interrupted;   /* every try returned EINTR */
    int32_t sys_errno;
    uint32_t index;
    uint64_t addr;
} km_wp_issue_result;

/* set_debug(r0..r3); EINTR (a signal kicked this thread) is not a failure
 * of the request: retry at once, up to KM_WP_EINTR_RETRIES times. */
/*@ requires \valid_read(v);
    assigns \nothing;
    ensures \result.interrupted ==> \result.st != KM_OK; */
static km_wp_issue_result km_wp_issue_retry(const km_wp_vcpu *v, uint64_t r0, uint64_t r1,
                                            uint64_t r2, uint64_t r3)
{
    uint64_t req[KM_WP_SLOTS];
    req[0] = r0;
    req[1] = r1;
    req[2] = r2;
    req[3] = r3;
    km_error e = { KM_OK, 0, KM_NO_INDEX, 0u };
    km_status r = KM_ERR_IO;
    bool interrupted = true;
    uint32_t tries = 0u;
    /*@ loop invariant 0 <= tries <= KM_WP_EINTR_RETRIES;
        loop invariant !interrupted ==> tries > 0;
        loop invariant interrupted ==> r != KM_OK;
        loop assigns tries, r, interrupted, e;
        loop variant KM_WP_EINTR_RETRIES - tries; */
    while (interrupted && (tries < KM_WP_EINTR_RETRIES)) {
        r = km_wp_prim_issue(v, req, &e);
        tries++;
        interrupted = (r != KM_OK) && (e.sys_errno == (int32_t)EINTR);
    }
    km_wp_issue_result res;
    res.st = r;
    res.interrupted = interrupted;
    res.sys_errno = e.sys_errno;
    res.index = e.index;
    res.addr = e.addr;
    return res;
}

km_status km_wp_vcpu_self_arm(const km_wp_table *t, km_wp_vcpu *v, km_error *err)
{
    km_status st = KM_OK;
    if (km_atomic_load_acquire_bool(&t->any_armed)) {
        /* The four requests, acquire-loaded in slot order.  Written out for
         * the four debug registers: straight-line code over scalars keeps
         * the WP frame obligations (table vs. vCPU record) small. */
        _Static_assert(KM_WP_SLOTS == 4u, "four debug registers: slot 0 and three user slots");
        uint64_t r0 = km_atomic_load_acquire_u64(&t->slot0.request_kva);
        uint64_t r1 = km_atomic_load_acquire_u64(&t->user[0].request_kva);
        uint64_t r2 = km_atomic_load_acquire_u64(&t->user[1].request_kva);
        uint64_t r3 = km_atomic_load_acquire_u64(&t->user[2].request_kva);
        if ((r0 != v->armed[0]) || (r1 != v->armed[1]) || (r2 != v->armed[2]) ||
            (r3 != v->armed[3])) {
            km_wp_issue_result res = km_wp_issue_retry(v, r0, r1, r2, r3);
            if (res.st == KM_OK) {
                v->armed[0] = r0;
                v->armed[1] = r1;
                v->armed[2] = r2;
                v->armed[3] = r3;
                v->hw[0] = r0;
                v->hw[1] = r1;
                v->hw[2] = r2;
                v->hw[3] = r3;
                v->failures = 0u;
                v->issued = km_wp_sat_inc(v->issued);
            } else {
                if (res.interrupted) {
                    st = KM_ERR_BUSY;
                } else {
                    st = (res.st == KM_ERR_BUSY) ? KM_ERR_IO : res.st;
                    if ((v->failures + 1u) >= KM_WP_MAX_FAILURES) {
                        /* The reference's rule: after three consecutive
                         * failures, take the request as armed so a broken
                         * backend does not turn every KVM_RUN into a failing
                         * ioctl.  hw[] keeps what really is loaded, so a fire
                         * of an address that never got unloaded is still
                         * recognised as stale. */
                        v->armed[0] = r0;
                        v->armed[1] = r1;
                        v->armed[2] = r2;
                        v->armed[3] = r3;
                        v->failures = 0u;
                        v->gave_up = km_wp_sat_inc(v->gave_up);
                    } else {
                        v->failures = v->failures + 1u;
                    }
                }
                if (err != NULL) {
                    err->status = st;
                    err->sys_errno = res.interrupted ? (int32_t)EINTR : res.sys_errno;
                    err->index = res.index;
                    err->addr = res.addr;
                }
            }
        }
    }
    return st;
}

/* Latch `hit` for a fire whose request (read as `req`) is still in place.
 * After a successful CAS the request is read again: if the coordinator
 * disarmed in between, its hit = false may already have been stored before
 * our CAS, so the latch would outlive the instance - withdraw it. */
/*@ requires \valid(hit) && \valid_read(request) && \separated(hit, request);
    assigns *hit;
    ensures \result == KM_WP_FIRE_LATCHED || \result == KM_WP_FIRE_ALREADY ||
            \result == KM_WP_FIRE_RETRACTED;
    ensures \result == KM_WP_FIRE_LATCHED ==> !\old(*hit) && *hit;
    ensures \result == KM_WP_FIRE_ALREADY ==> \old(*hit) && *hit;
    ensures \result == KM_WP_FIRE_RETRACTED ==> *request != req;
    ensures \result != KM_WP_FIRE_LATCHED ==> *hit == \old(*hit);
    ensures *request == req ==> \result != KM_WP_FIRE_RETRACTED; */
static km_wp_fire km_wp_latch(km_atomic_bool *hit, const km_atomic_u64 *request, uint64_t req)
{
    km_wp_fire f = KM_WP_FIRE_ALREADY;
    if (km_atomic_cas_bool(hit, false, true)) {
        f = KM_WP_FIRE_LATCHED;
        if (km_atomic_load_acquire_u64(request) != req) {
            /* Only a withdrawn latch is undone: CAS true->false leaves a
             * hit = false stored by the disarm as it is. */
            (void)km_atomic_cas_bool(hit, true, false);
            f = KM_WP_FIRE_RETRACTED;
        }
    }
    return f;
}

/*@ requires 0 <= i < KM_WP_SLOTS;
    assigns \nothing;
    ensures \result <==> km_wp_fired(mask, i); */
static bool km_wp_fired_bit(uint32_t mask, uint32_t i)
{
    uint32_t bit = 8u;
    if (i == 0u) {
        bit = 1u;
    } else if (i == 1u) {
        bit = 2u;
    } else if (i == 2u) {
        bit = 4u;
    } else {
        /* slot 3 */
    }
    return ((mask / bit) % 2u) == 1u;
}

/* Slot 0: NULL pointer -> stale; request moved -> stale; exit_kind below the
 * error range -> ignored; otherwise latch. */
/*@ requires km_wp_table_ok(t) && \valid_read(v) && \valid(out) && \separated(t, v, out);
    requires \separated(out, t->slot0.kind_host_ptr);
    assigns t->slot0.hit, out->slot[0], out->exit_kind, out->exit_kind_read;
    ensures km_wp_table_ok(t);
    ensures out->slot[0] != KM_WP_FIRE_NONE;
    ensures t->slot0.kind_host_ptr == \null ==> out->slot[0] == KM_WP_FIRE_STALE;
    ensures t->slot0.request_kva != v->hw[0] ==> out->slot[0] == KM_WP_FIRE_STALE;
    ensures out->slot[0] == KM_WP_FIRE_LATCHED ==>
        !\old(t->slot0.hit) && t->slot0.hit && out->exit_kind_read &&
        out->exit_kind >= KM_WP_EXIT_ERROR_MIN;
    ensures out->slot[0] == KM_WP_FIRE_BELOW_GATE ==>
        out->exit_kind_read && out->exit_kind < KM_WP_EXIT_ERROR_MIN;
    ensures out->slot[0] != KM_WP_FIRE_LATCHED ==> t->slot0.hit == \old(t->slot0.hit); */
static void km_wp_hit_slot0(km_wp_table *t, const km_wp_vcpu *v, km_wp_hit_report *out)
{
    km_wp_fire f = KM_WP_FIRE_STALE;
    const volatile uint32_t *p = km_atomic_load_acquire_ptr(&t->slot0.kind_host_ptr);
    if (p != NULL) {
        /* Pointer first, then the request: publish stored them in the
         * opposite order, so a request equal to what this vCPU loaded
         * guarantees the pointer belongs to it (docs/memory-ordering.md). */
        uint64_t req = km_atomic_load_acquire_u64(&t->slot0.request_kva);
        if ((req != 0u) && (req == v->hw[0])) {
            /* No extra fence before the read (the reference has one): the
             * two loads above are acquires already, and the guest's store
             * to exit_kind is not ordered by host atomics anyway. */
            uint32_t kind = *p;
            out->exit_kind = kind;
            out->exit_kind_read = true;
            if (kind < KM_WP_EXIT_ERROR_MIN) {
                f = KM_WP_FIRE_BELOW_GATE;
            } else {
                f = km_wp_latch(&t->slot0.hit, &t->slot0.request_kva, req);
            }
        }
    }
    out->slot[0] = f;
}

/* User slot i + 1: the request must be what this vCPU loaded; latch. */
/*@ requires km_wp_table_ok(t) && \valid_read(v) && \valid(out) && \separated(t, v, out);
    requires 0 <= i < KM_WP_USER_SLOTS;
    assigns t->user[i].hit, out->slot[i + 1];
    ensures km_wp_table_ok(t);
    ensures out->slot[i + 1] != KM_WP_FIRE_NONE && out->slot[i + 1] != KM_WP_FIRE_BELOW_GATE;
    ensures out->slot[i + 1] == KM_WP_FIRE_LATCHED ==> !\old(t->user[i].hit) && t->user[i].hit;
    ensures out->slot[i + 1] != KM_WP_FIRE_LATCHED ==> t->user[i].hit == \old(t->user[i].hit);
    ensures t->user[i].request_kva == 0 || t->user[i].request_kva != v->hw[i + 1] ==>
        out->slot[i + 1] == KM_WP_FIRE_STALE; */
static void km_wp_hit_user(km_wp_table *t, const km_wp_vcpu *v, uint32_t i, km_wp_hit_report *out)
{
    km_wp_fire f = KM_WP_FIRE_STALE;
    uint64_t req = km_atomic_load_acquire_u64(&t->user[i].request_kva);
    if ((req != 0u) && (req == v->hw[i + 1u])) {
        f = km_wp_latch(&t->user[i].hit, &t->user[i].request_kva, req);
    }
    out->slot[i + 1u] = f;
}

/* Signal the coordinator once per slot latched by this call; the last
 * non-zero errno is kept. */
/*@ requires \valid_read(t) && \valid(r) && \separated(t, r);
    assigns r->signal_errno;
    ensures r->signal_errno >= 0 || r->signal_errno == \old(r->signal_errno); */
static void km_wp_signal_latched(const km_wp_table *t, km_wp_hit_report *r)
{
    /*@ loop invariant 0 <= i <= KM_WP_SLOTS;
        loop invariant r->signal_errno >= 0 || r->signal_errno == \at(r->signal_errno, LoopEntry);
        loop assigns i, r->signal_errno;
        loop variant KM_WP_SLOTS - i; */
    for (uint32_t i = 0u; i < KM_WP_SLOTS; i++) {
        if (r->slot[i] == KM_WP_FIRE_LATCHED) {
            int32_t e = km_wp_prim_signal(t, i);
            if (e != 0) {
                r->signal_errno = e;
            }
        }
    }
}

km_status km_wp_vcpu_on_hit(km_wp_table *t, const km_wp_vcpu *v, uint32_t slot_mask,
                            km_wp_hit_report *out)
{
    km_status st = KM_OK;
    if (slot_mask > 0xFu) {
        st = KM_ERR_INVALID_ARG;
    } else {
        out->slot[0] = KM_WP_FIRE_NONE;
        out->slot[1] = KM_WP_FIRE_NONE;
        out->slot[2] = KM_WP_FIRE_NONE;
        out->slot[3] = KM_WP_FIRE_NONE;
        out->exit_kind = 0u;
        out->exit_kind_read = false;
        out->signal_errno = 0;
        if (km_wp_fired_bit(slot_mask, 0u)) {
            km_wp_hit_slot0(t, v, out);
        }
        /* Three user slots, one call each (KM_WP_USER_SLOTS == 3). */
        if (km_wp_fired_bit(slot_mask, 1u)) {
            km_wp_hit_user(t, v, 0u, out);
        }
        if (km_wp_fired_bit(slot_mask, 2u)) {
            km_wp_hit_user(t, v, 1u, out);
        }
        if (km_wp_fired_bit(slot_mask, 3u)) {
            km_wp_hit_user(t, v, 2u, out);
        }
        km_wp_signal_latched(t, out);
    }
    return st;
}
