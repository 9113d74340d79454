/* ktmon: the watchpoint publish/disarm/rebind state machine and slot table.
 *
 * One km_wp_table per monitored VM.  Slot 0 watches scx_root->exit_kind of
 * the attached sched_ext scheduler; slots 1..3 watch user-chosen kernel
 * symbols.  Two kinds of thread touch the table:
 *
 *   - ONE coordinator thread (the scan tick): km_wp_transition /
 *     km_wp_apply / km_wp_tick, km_wp_user_arm / km_wp_user_clear,
 *     km_wp_clear_hit.  It is the only writer of request_kva, kind_host_ptr
 *     and the user tags.
 *   - every vCPU thread, each with its own km_wp_vcpu: km_wp_vcpu_self_arm
 *     before each KVM_RUN, km_wp_vcpu_on_hit after a debug exit.
 *
 * Store orders (docs/memory-ordering.md, checked by verify/models/watchpoint.pml):
 *   publish: kind_host_ptr (release), THEN request_kva (release), then any_armed
 *   disarm:  request_kva = 0, THEN kind_host_ptr = NULL, THEN hit = false (release each)
 *   user arm: tag (plain, coordinator-only), THEN request_kva (release), then any_armed
 *
 * The tick assumption: a rebind is split over two ticks (disarm now, publish
 * next tick) and is safe only if every vCPU runs km_wp_vcpu_self_arm at least
 * once between the two ticks (docs/watchpoint-fsm.md).  The VMM guarantees
 * this by kicking vCPUs out of KVM_RUN after a disarm (or by a tick period far
 * longer than a KVM_RUN slice, as the reference does).
 *
 * The module never reads guest memory except the 4-byte exit_kind word through
 * the host pointer the coordinator published, and never depends on
 * guest_kernel: callers pass the root they read and the translation they did.
 *
 * Allocation: none.  System calls: only km_wp_vcpu_on_hit, which writes the
 * caller's eventfd when a hit is latched, and the vCPU's set_debug callback. */
#ifndef KTMON_WATCHPOINT_FSM_H
#define KTMON_WATCHPOINT_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/atomic.h"
#include "ktmon/status.h"

#define KM_WP_SLOTS 4u          /* slot 0 + the user slots */
#define KM_WP_USER_SLOTS 3u     /* slots 1..3 */
#define KM_WP_TAG_MAX 64u       /* user tag bytes, including the terminating NUL */
/* enum scx_exit_kind (7.3): values from SCX_EXIT_ERROR (1024) up are error exits. */
#define KM_WP_EXIT_ERROR_MIN 1024u
/* Counted set_debug failures after which a request is recorded as armed. */
#define KM_WP_MAX_FAILURES 3u
/* Bound on immediate EINTR retries of one set_debug (they are never counted). */
#define KM_WP_EINTR_RETRIES 16u
/* Lowest kernel-half address on x86_64 (and arm64 with 48-bit VA). */
#define KM_WP_KERNEL_HALF 0xFFFF800000000000u

/* ------------------------------------------------------------------ the transition function */

/* A scheduler instance as the coordinator sees it: the value of *scx_root
 * and, when it is non-zero, that scx_sched's id (read together).  7.3 often
 * reuses an scx_sched address across detach/attach; the id tells the
 * instances apart.  kva == 0 means "no scheduler"; id is then ignored. */
typedef struct km_wp_root {
    uint64_t kva;
    uint64_t id;
} km_wp_root;

/* The caller's translation of current.kva + exit_kind offset to a host
 * pointer (guest_kernel), done only when km_wp_needs_target says so. */
typedef struct km_wp_xlate {
    bool ok;
    volatile uint32_t *host;
} km_wp_xlate;

typedef enum km_wp_outcome {
    KM_WP_UNCHANGED = 0,     /* same instance (or none) as last tick */
    KM_WP_DETACHED,          /* scheduler gone: disarm; cache 0 */
    KM_WP_REBIND_DISARMED,   /* another instance: disarm only; cache 0; publish next tick */
    KM_WP_PUBLISHED,         /* fresh attach, target translated: publish; cache current */
    KM_WP_PUBLISH_DEFERRED   /* fresh attach, target not usable yet: nothing stored */
} km_wp_outcome;

typedef struct km_wp_step {
    km_wp_outcome outcome;
    km_wp_root next;           /* the new cached root */
    uint64_t target_kva;       /* PUBLISHED: current.kva + offset; otherwise 0 */
    volatile uint32_t *host;   /* PUBLISHED: xlate.host; otherwise NULL */
} km_wp_step;

/*@ predicate km_wp_same(km_wp_root a, km_wp_root b) =
        a.kva == b.kva && (a.kva == 0 || a.id == b.id);

    predicate km_wp_target_ok(km_wp_root c, integer off, km_wp_xlate x) =
        c.kva + off <= UINT64_MAX && (c.kva + off) % 4 == 0 && x.ok && x.host != \null;
*/

/* The pure transition over (last cached root, current root, exit_kind
 * offset, translation of the target).  The target is usable when
 * current.kva + off does not wrap, is 4-byte aligned (exit_kind is a u32)
 * and translated to a non-NULL host pointer; otherwise the publish is
 * deferred and retried next tick (the reference defers only on a failed
 * translation; a wrapped or misaligned target is garbage read from guest
 * memory and is treated the same way). */
/*@ requires \valid_read(last) && \valid_read(cur) && \valid_read(xl) && \valid(out);
    requires \separated(out, last) && \separated(out, cur) && \separated(out, xl);
    requires xl->ok && xl->host != \null ==> \valid_read(xl->host);
    assigns *out;
    behavior unchanged:
      assumes km_wp_same(*last, *cur);
      ensures out->outcome == KM_WP_UNCHANGED;
      ensures out->next.kva == last->kva && out->next.id == last->id;
      ensures out->target_kva == 0 && out->host == \null;
    behavior detached:
      assumes last->kva != 0 && cur->kva == 0;
      ensures out->outcome == KM_WP_DETACHED;
      ensures out->next.kva == 0 && out->next.id == 0;
      ensures out->target_kva == 0 && out->host == \null;
    behavior rebind:
      assumes last->kva != 0 && cur->kva != 0 && !km_wp_same(*last, *cur);
      ensures out->outcome == KM_WP_REBIND_DISARMED;
      ensures out->next.kva == 0 && out->next.id == 0;
      ensures out->target_kva == 0 && out->host == \null;
    behavior published:
      assumes last->kva == 0 && cur->kva != 0 && km_wp_target_ok(*cur, off, *xl);
      ensures out->outcome == KM_WP_PUBLISHED;
      ensures out->next.kva == cur->kva && out->next.id == cur->id;
      ensures out->target_kva == cur->kva + off && out->target_kva != 0;
      ensures out->target_kva % 4 == 0;
      ensures out->host == xl->host && \valid_read(out->host);
    behavior deferred:
      assumes last->kva == 0 && cur->kva != 0 && !km_wp_target_ok(*cur, off, *xl);
      ensures out->outcome == KM_WP_PUBLISH_DEFERRED;
      ensures out->next.kva == last->kva && out->next.id == last->id;
      ensures out->target_kva == 0 && out->host == \null;
    complete behaviors;
    disjoint behaviors; */
KM_API void km_wp_transition(const km_wp_root *last, const km_wp_root *cur, uint64_t off,
                             const km_wp_xlate *xl, km_wp_step *out);

/* True when this tick may publish (cache empty, a scheduler attached): only
 * then does the caller need to translate the target. */
/*@ requires \valid_read(last) && \valid_read(cur);
    assigns \nothing;
    ensures \result <==> (last->kva == 0 && cur->kva != 0); */
KM_API bool km_wp_needs_target(const km_wp_root *last, const km_wp_root *cur);

/* current.kva + off, the address the caller translates: KM_ERR_OVERFLOW if
 * it wraps, KM_ERR_MISALIGNED if not 4-byte aligned. */
/*@ requires \valid(out);
    assigns *out;
    behavior wraps:
      assumes kva + off > UINT64_MAX;
      ensures \result == KM_ERR_OVERFLOW && *out == \old(*out);
    behavior misaligned:
      assumes kva + off <= UINT64_MAX && (kva + off) % 4 != 0;
      ensures \result == KM_ERR_MISALIGNED && *out == \old(*out);
    behavior ok:
      assumes kva + off <= UINT64_MAX && (kva + off) % 4 == 0;
      ensures \result == KM_OK && *out == kva + off;
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_wp_target_kva(uint64_t kva, uint64_t off, uint64_t *out);

/* ------------------------------------------------------------------ the slot table */

/* Called (from a vCPU thread) when a hit is latched on `slot`. */
typedef void (*km_wp_notify_fn)(void *ctx, uint32_t slot);

typedef struct km_wp_slot0 {
    km_atomic_u64 request_kva;      /* exit_kind KVA the vCPUs arm; 0 = off */
    km_atomic_u32p kind_host_ptr;   /* host address of that exit_kind; NULL = off */
    km_atomic_bool hit;             /* latched error exit */
} km_wp_slot0;

typedef struct km_wp_user_slot {
    km_atomic_u64 request_kva;      /* 0 = free */
    km_atomic_bool hit;
    uint32_t tag_len;               /* coordinator-only */
    char tag[KM_WP_TAG_MAX];        /* coordinator-only; NUL-terminated */
} km_wp_user_slot;

typedef struct km_wp_table {
    km_wp_slot0 slot0;
    km_wp_user_slot user[KM_WP_USER_SLOTS];  /* user[i] is slot i + 1 */
    km_atomic_bool any_armed;       /* set on the first publish/arm, never cleared */
    km_wp_notify_fn notify;         /* fixed at init; may be NULL */
    void *notify_ctx;
    int hit_fd;                     /* eventfd written (8-byte 1) on a latch; -1 = none */
} km_wp_table;

/* Sequential invariants (WP): slot 0 is wholly on or wholly off, requests
 * are 4-byte aligned. */
/*@ predicate km_wp_slot0_ok(km_wp_table *t) =
        (t->slot0.request_kva == 0 && t->slot0.kind_host_ptr == \null) ||
        (t->slot0.request_kva != 0 && t->slot0.request_kva % 4 == 0 &&
         t->slot0.kind_host_ptr != \null && \valid_read(t->slot0.kind_host_ptr));

    predicate km_wp_user_ok(km_wp_table *t, integer i) =
        t->user[i].request_kva % 4 == 0;

    predicate km_wp_table_ok(km_wp_table *t) =
        \valid(t) && km_wp_slot0_ok(t) &&
        km_wp_user_ok(t, 0) && km_wp_user_ok(t, 1) && km_wp_user_ok(t, 2);

    predicate km_wp_slot0_same{L1, L2}(km_wp_table *t) =
        \at(t->slot0.request_kva, L1) == \at(t->slot0.request_kva, L2) &&
        \at(t->slot0.kind_host_ptr, L1) == \at(t->slot0.kind_host_ptr, L2) &&
        \at(t->slot0.hit, L1) == \at(t->slot0.hit, L2);

    predicate km_wp_user_same{L1, L2}(km_wp_table *t, integer i) =
        \at(t->user[i], L1) == \at(t->user[i], L2);

    predicate km_wp_users_same{L1, L2}(km_wp_table *t) =
        km_wp_user_same{L1, L2}(t, 0) && km_wp_user_same{L1, L2}(t, 1) &&
        km_wp_user_same{L1, L2}(t, 2);

    predicate km_wp_user_fields_same{L1, L2}(km_wp_table *t, integer i) =
        \at(t->user[i].request_kva, L1) == \at(t->user[i].request_kva, L2) &&
        \at(t->user[i].hit, L1) == \at(t->user[i].hit, L2) &&
        \at(t->user[i].tag_len, L1) == \at(t->user[i].tag_len, L2);

    predicate km_wp_users_same_but{L1, L2}(km_wp_table *t, integer j) =
        (j != 0 ==> km_wp_user_fields_same{L1, L2}(t, 0)) &&
        (j != 1 ==> km_wp_user_fields_same{L1, L2}(t, 1)) &&
        (j != 2 ==> km_wp_user_fields_same{L1, L2}(t, 2));
*/

/* An empty table: every slot off, no hit.  hit_fd < 0 means no eventfd. */
/*@ requires \valid(t);
    assigns *t;
    ensures km_wp_table_ok(t);
    ensures t->slot0.request_kva == 0 && t->slot0.kind_host_ptr == \null && !t->slot0.hit;
    ensures \forall integer i; 0 <= i < KM_WP_USER_SLOTS ==>
        t->user[i].request_kva == 0 && !t->user[i].hit;
    ensures !t->any_armed; */
KM_API void km_wp_table_init(km_wp_table *t, km_wp_notify_fn notify, void *notify_ctx, int hit_fd);

/* Perform the stores of a step: PUBLISHED publishes, DETACHED and
 * REBIND_DISARMED disarm, the others store nothing.  A PUBLISHED step whose
 * target or host pointer is unusable is refused (KM_ERR_INVALID_ARG, nothing
 * stored); km_wp_transition never produces one. */
/*@ requires km_wp_table_ok(t) && \valid_read(s) && \separated(t, s);
    requires s->outcome == KM_WP_PUBLISHED && s->host != \null ==> \valid_read(s->host);
    assigns t->slot0.request_kva, t->slot0.kind_host_ptr, t->slot0.hit, t->any_armed;
    ensures km_wp_table_ok(t);
    behavior publish:
      assumes s->outcome == KM_WP_PUBLISHED && s->host != \null && s->target_kva != 0 &&
              s->target_kva % 4 == 0;
      ensures \result == KM_OK;
      ensures t->slot0.request_kva == s->target_kva && t->slot0.kind_host_ptr == s->host;
      ensures t->slot0.hit == \old(t->slot0.hit);
      ensures t->any_armed;
    behavior bad_publish:
      assumes s->outcome == KM_WP_PUBLISHED &&
              !(s->host != \null && s->target_kva != 0 && s->target_kva % 4 == 0);
      ensures \result == KM_ERR_INVALID_ARG;
      ensures km_wp_slot0_same{Pre, Post}(t) && t->any_armed == \old(t->any_armed);
    behavior disarm:
      assumes s->outcome == KM_WP_DETACHED || s->outcome == KM_WP_REBIND_DISARMED;
      ensures \result == KM_OK;
      ensures t->slot0.request_kva == 0 && t->slot0.kind_host_ptr == \null && !t->slot0.hit;
      ensures t->any_armed == \old(t->any_armed);
    behavior none:
      assumes s->outcome != KM_WP_PUBLISHED && s->outcome != KM_WP_DETACHED &&
              s->outcome != KM_WP_REBIND_DISARMED;
      ensures \result == KM_OK;
      ensures km_wp_slot0_same{Pre, Post}(t) && t->any_armed == \old(t->any_armed);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_wp_apply(km_wp_table *t, const km_wp_step *s);

/* One scan tick: km_wp_transition, km_wp_apply, and *last = step.next.
 * The step is reported in *out. */
/*@ requires km_wp_table_ok(t) && \valid(last) && \valid_read(cur) && \valid_read(xl) && \valid(out);
    requires \separated(t, last, cur, xl, out);
    requires xl->ok && xl->host != \null ==> \valid_read(xl->host);
    assigns t->slot0.request_kva, t->slot0.kind_host_ptr, t->slot0.hit, t->any_armed, *last, *out;
    ensures km_wp_table_ok(t);
    ensures \result == KM_OK;
    ensures last->kva == out->next.kva && last->id == out->next.id;
    ensures out->outcome == KM_WP_PUBLISHED ==>
        t->slot0.request_kva == out->target_kva && t->slot0.kind_host_ptr == out->host &&
        t->slot0.request_kva == cur->kva + off;
    ensures out->outcome == KM_WP_DETACHED || out->outcome == KM_WP_REBIND_DISARMED ==>
        t->slot0.request_kva == 0 && t->slot0.kind_host_ptr == \null && !t->slot0.hit;
    ensures out->outcome == KM_WP_UNCHANGED || out->outcome == KM_WP_PUBLISH_DEFERRED ==>
        km_wp_slot0_same{Pre, Post}(t); */
KM_API km_status km_wp_tick(km_wp_table *t, km_wp_root *last, const km_wp_root *cur, uint64_t off,
                            const km_wp_xlate *xl, km_wp_step *out);

/* The symbol the caller looked up for a user watch (ksym): whether it exists
 * and its link-time address. */
typedef struct km_wp_symbol {
    bool found;
    uint64_t link_kva;
    /* The caller has established the KASLR offset (the guest-kernel
     * handshake succeeded), so an offset of 0 is real (a nokaslr boot),
     * not "not resolved yet". */
    bool kaslr_resolved;
} km_wp_symbol;

/*@ predicate km_wp_has_free(km_wp_table *t) =
        t->user[0].request_kva == 0 || t->user[1].request_kva == 0 || t->user[2].request_kva == 0;
    logic integer km_wp_kva(km_wp_symbol *s, integer kaslr) = s->link_kva + kaslr;
*/

/* Arm a user watch on a 4-byte-aligned kernel symbol in the first free user
 * slot (1..3), reported in *slot.  Checks, in this order, each with its own
 * status: a free slot (KM_ERR_CAPACITY), the symbol exists
 * (KM_ERR_NO_SYMBOL), the KASLR offset is known - zero with a kernel-half
 * link address means "not resolved yet" (KM_ERR_NOT_READY), link + kaslr
 * does not wrap (KM_ERR_OVERFLOW), is non-zero (KM_ERR_INVALID_ARG) and
 * 4-byte aligned (KM_ERR_MISALIGNED).  A failure touches no slot.  The tag
 * (tag_len bytes, may be NULL when 0) is kept truncated to KM_WP_TAG_MAX - 1.
 * The caller kicks the vCPUs so that they self-arm. */
/*@ requires km_wp_table_ok(t) && \valid_read(sym) && \valid(slot);
    requires tag_len > 0 ==> \valid_read(tag + (0 .. tag_len - 1));
    requires \separated(t, sym, slot);
    requires tag_len > 0 ==> \separated(t, tag + (0 .. tag_len - 1));
    requires err == \null || (\valid(err) && \separated(err, t, sym, slot));
    assigns t->user[0 .. KM_WP_USER_SLOTS - 1], t->any_armed, *slot, *err;
    ensures km_wp_table_ok(t);
    ensures \result != KM_OK ==> *slot == \old(*slot) && t->any_armed == \old(t->any_armed) &&
        km_wp_users_same{Pre, Post}(t);
    behavior full:
      assumes !km_wp_has_free(t);
      ensures \result == KM_ERR_CAPACITY;
    behavior no_symbol:
      assumes km_wp_has_free(t) && !sym->found;
      ensures \result == KM_ERR_NO_SYMBOL;
    behavior kaslr_unresolved:
      assumes km_wp_has_free(t) && sym->found && kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF;
      ensures \result == KM_ERR_NOT_READY;
    behavior wraps:
      assumes km_wp_has_free(t) && sym->found &&
              !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              km_wp_kva(sym, kaslr) > UINT64_MAX;
      ensures \result == KM_ERR_OVERFLOW;
    behavior zero:
      assumes km_wp_has_free(t) && sym->found &&
              !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              km_wp_kva(sym, kaslr) == 0;
      ensures \result == KM_ERR_INVALID_ARG;
    behavior misaligned:
      assumes km_wp_has_free(t) && sym->found &&
              !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              0 < km_wp_kva(sym, kaslr) <= UINT64_MAX && km_wp_kva(sym, kaslr) % 4 != 0;
      ensures \result == KM_ERR_MISALIGNED;
    behavior armed:
      assumes km_wp_has_free(t) && sym->found &&
              !(kaslr == 0 && !sym->kaslr_resolved && sym->link_kva >= KM_WP_KERNEL_HALF) &&
              0 < km_wp_kva(sym, kaslr) <= UINT64_MAX && km_wp_kva(sym, kaslr) % 4 == 0;
      ensures \result == KM_OK;
      ensures 1 <= *slot <= KM_WP_USER_SLOTS;
      ensures \let s = *slot; \old(t->user[s - 1].request_kva) == 0;
      ensures \forall integer i; 0 <= i < *slot - 1 ==> \old(t->user[i].request_kva) != 0;
      ensures t->user[*slot - 1].request_kva == km_wp_kva(sym, kaslr);
      ensures \let s = *slot; t->user[s - 1].hit == \old(t->user[s - 1].hit);
      ensures t->any_armed;
      ensures km_wp_users_same_but{Pre, Post}(t, *slot - 1);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_wp_user_arm(km_wp_table *t, const km_wp_symbol *sym, uint64_t kaslr,
                                const char *tag, size_t tag_len, uint32_t *slot, km_error *err);

/* Free user slot `slot` (1..3): request_kva = 0 (release), then hit = false
 * (release), then the tag.  KM_ERR_INVALID_ARG for another slot number,
 * KM_ERR_STATE if the slot is already free (nothing stored). */
/*@ requires km_wp_table_ok(t);
    assigns t->user[0 .. KM_WP_USER_SLOTS - 1];
    ensures km_wp_table_ok(t);
    behavior bad_slot:
      assumes slot < 1 || slot > KM_WP_USER_SLOTS;
      ensures \result == KM_ERR_INVALID_ARG;
      ensures km_wp_users_same{Pre, Post}(t);
    behavior free:
      assumes 1 <= slot <= KM_WP_USER_SLOTS && t->user[slot - 1].request_kva == 0;
      ensures \result == KM_ERR_STATE;
      ensures km_wp_users_same{Pre, Post}(t);
    behavior cleared:
      assumes 1 <= slot <= KM_WP_USER_SLOTS && t->user[slot - 1].request_kva != 0;
      ensures \result == KM_OK;
      ensures t->user[slot - 1].request_kva == 0 && !t->user[slot - 1].hit;
      ensures t->user[slot - 1].tag_len == 0;
      ensures km_wp_users_same_but{Pre, Post}(t, slot - 1);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_wp_user_clear(km_wp_table *t, uint32_t slot);

/* The coordinator's view of a hit flag (acquire); false for a bad slot. */
/*@ requires km_wp_table_ok(t);
    assigns \nothing;
    ensures slot == 0 ==> (\result <==> t->slot0.hit);
    ensures 1 <= slot <= KM_WP_USER_SLOTS ==> (\result <==> t->user[slot - 1].hit);
    ensures slot > KM_WP_USER_SLOTS ==> !\result; */
KM_API bool km_wp_hit_pending(const km_wp_table *t, uint32_t slot);

/* Clear a hit flag ("no trigger after all, keep watching"). */
/*@ requires km_wp_table_ok(t);
    assigns t->slot0.hit, t->user[0 .. KM_WP_USER_SLOTS - 1].hit;
    ensures km_wp_table_ok(t);
    behavior slot0:
      assumes slot == 0;
      ensures \result == KM_OK && !t->slot0.hit;
      ensures km_wp_users_same{Pre, Post}(t);
    behavior user:
      assumes 1 <= slot <= KM_WP_USER_SLOTS;
      ensures \result == KM_OK && !t->user[slot - 1].hit && t->slot0.hit == \old(t->slot0.hit);
      ensures km_wp_users_same_but{Pre, Post}(t, slot - 1);
    behavior bad:
      assumes slot > KM_WP_USER_SLOTS;
      ensures \result == KM_ERR_INVALID_ARG && t->slot0.hit == \old(t->slot0.hit);
      ensures km_wp_users_same{Pre, Post}(t);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_wp_clear_hit(km_wp_table *t, uint32_t slot);

/* ------------------------------------------------------------------ the vCPU side */

/* Load a vCPU's debug state so that it watches kva[0..3] (0 = slot off).
 * Returns KM_OK, or an error with err->sys_errno set (EINTR is retried by
 * the caller and never counted).  Implementations: km_kvm_x86_set_debug,
 * km_kvm_arm64_set_debug (hal), test fakes.  It must not touch the table or
 * the km_wp_vcpu. */
typedef km_status (*km_wp_set_debug_fn)(void *ctx, const uint64_t kva[KM_WP_SLOTS], km_error *err);

typedef struct km_wp_arm_ops {
    km_wp_set_debug_fn set_debug;
} km_wp_arm_ops;

/* Per-vCPU state, owned by that vCPU's thread. */
typedef struct km_wp_vcpu {
    uint64_t armed[KM_WP_SLOTS];   /* the requests this vCPU has taken (compared each self-arm) */
    uint64_t hw[KM_WP_SLOTS];      /* what the last successful set_debug loaded */
    uint32_t failures;             /* consecutive counted failures, < KM_WP_MAX_FAILURES */
    uint64_t issued;               /* successful set_debug calls (saturating) */
    uint64_t gave_up;              /* requests recorded as armed after failures (saturating) */
    const km_wp_arm_ops *ops;
    void *ctx;
} km_wp_vcpu;

/*@ predicate km_wp_vcpu_ok(km_wp_vcpu *v) =
        \valid(v) && v->failures < KM_WP_MAX_FAILURES;

    // v has taken the requests of t: v read at L2, t at L1.
    predicate km_wp_took{L1, L2}(km_wp_table *t, km_wp_vcpu *v) =
        \at(v->armed[0], L2) == \at(t->slot0.request_kva, L1) &&
        \at(v->armed[1], L2) == \at(t->user[0].request_kva, L1) &&
        \at(v->armed[2], L2) == \at(t->user[1].request_kva, L1) &&
        \at(v->armed[3], L2) == \at(t->user[2].request_kva, L1);

    predicate km_wp_in_sync{L}(km_wp_table *t, km_wp_vcpu *v) = km_wp_took{L, L}(t, v);

    predicate km_wp_hw_is_armed(km_wp_vcpu *v) =
        v->hw[0] == v->armed[0] && v->hw[1] == v->armed[1] &&
        v->hw[2] == v->armed[2] && v->hw[3] == v->armed[3];

    predicate km_wp_vcpu_same{L1, L2}(km_wp_vcpu *v) =
        \at(v->armed[0], L1) == \at(v->armed[0], L2) && \at(v->armed[1], L1) == \at(v->armed[1], L2) &&
        \at(v->armed[2], L1) == \at(v->armed[2], L2) && \at(v->armed[3], L1) == \at(v->armed[3], L2) &&
        \at(v->hw[0], L1) == \at(v->hw[0], L2) && \at(v->hw[1], L1) == \at(v->hw[1], L2) &&
        \at(v->hw[2], L1) == \at(v->hw[2], L2) && \at(v->hw[3], L1) == \at(v->hw[3], L2) &&
        \at(v->failures, L1) == \at(v->failures, L2);
*/

/*@ requires \valid(v);
    assigns *v;
    ensures km_wp_vcpu_ok(v) && v->ops == ops && v->ctx == ctx;
    ensures \forall integer i; 0 <= i < KM_WP_SLOTS ==> v->armed[i] == 0 && v->hw[i] == 0; */
KM_API void km_wp_vcpu_init(km_wp_vcpu *v, const km_wp_arm_ops *ops, void *ctx);

/* Call before each KVM_RUN.  Acquire-loads the four requests and, only if
 * they differ from what this vCPU last took, calls set_debug (EINTR retried
 * up to KM_WP_EINTR_RETRIES times, uncounted).  KM_OK: in sync (nothing to
 * do, or loaded).  KM_ERR_BUSY: interrupted every time; nothing recorded,
 * the next call retries.  Another error: counted; on the
 * KM_WP_MAX_FAILURES-th consecutive failure the requests are recorded as
 * armed (no retry until they change) and v->gave_up counts it; err says why. */
/*@ requires km_wp_table_ok(t) && km_wp_vcpu_ok(v) && \separated(t, v);
    requires err == \null || (\valid(err) && \separated(err, t) && \separated(err, v));
    requires \valid_read(v->ops);
    assigns v->armed[0 .. KM_WP_SLOTS - 1], v->hw[0 .. KM_WP_SLOTS - 1], v->failures,
            v->issued, v->gave_up, *err;
    ensures km_wp_vcpu_ok(v);
    behavior gated:
      assumes !t->any_armed;
      ensures \result == KM_OK && km_wp_vcpu_same{Pre, Post}(v);
    behavior in_sync:
      assumes t->any_armed && km_wp_in_sync(t, v);
      ensures \result == KM_OK && km_wp_vcpu_same{Pre, Post}(v);
    behavior change:
      assumes t->any_armed && !km_wp_in_sync(t, v);
      ensures \result == KM_OK ==> km_wp_took{Pre, Post}(t, v) && km_wp_hw_is_armed(v) && v->failures == 0;
      ensures \result == KM_ERR_BUSY ==> km_wp_vcpu_same{Pre, Post}(v);
      ensures \result != KM_OK && \result != KM_ERR_BUSY ==>
          v->hw[0] == \old(v->hw[0]) && v->hw[1] == \old(v->hw[1]) &&
          v->hw[2] == \old(v->hw[2]) && v->hw[3] == \old(v->hw[3]) &&
          ((\old(v->failures) + 1 < KM_WP_MAX_FAILURES && v->failures == \old(v->failures) + 1 &&
            v->armed[0] == \old(v->armed[0]) && v->armed[1] == \old(v->armed[1]) &&
            v->armed[2] == \old(v->armed[2]) && v->armed[3] == \old(v->armed[3])) ||
           (\old(v->failures) + 1 == KM_WP_MAX_FAILURES && v->failures == 0 && km_wp_took{Pre, Post}(t, v)));
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_wp_vcpu_self_arm(const km_wp_table *t, km_wp_vcpu *v, km_error *err);

/* What km_wp_vcpu_on_hit did with each slot of the fired mask. */
typedef enum km_wp_fire {
    KM_WP_FIRE_NONE = 0,     /* slot not in the mask */
    KM_WP_FIRE_STALE,        /* NULL host pointer, or the request is not what this vCPU loaded: ignored */
    KM_WP_FIRE_BELOW_GATE,   /* slot 0: exit_kind < KM_WP_EXIT_ERROR_MIN, not an error exit */
    KM_WP_FIRE_LATCHED,      /* this call latched the hit and signalled the coordinator */
    KM_WP_FIRE_ALREADY,      /* the hit was already latched */
    KM_WP_FIRE_RETRACTED     /* latched, but the request was disarmed meanwhile: latch withdrawn */
} km_wp_fire;

typedef struct km_wp_hit_report {
    km_wp_fire slot[KM_WP_SLOTS];
    uint32_t exit_kind;      /* slot 0: the value read (valid when exit_kind_read) */
    bool exit_kind_read;
    int32_t signal_errno;    /* non-zero: writing hit_fd failed with this errno (latch kept) */
} km_wp_hit_report;

/*@ logic integer km_wp_bit(integer i) = i == 0 ? 1 : (i == 1 ? 2 : (i == 2 ? 4 : 8));
    predicate km_wp_fired(integer mask, integer i) = (mask / km_wp_bit(i)) % 2 == 1; */

/* Handle a debug exit whose decoded slot mask (bit i = slot i; x86: DR6
 * B0..B3, arm64: the FAR match) is `slot_mask`.  Slot 0: acquire-load the
 * host pointer; NULL is a stale fire (ignored); the request must still be
 * the address this vCPU loaded (hw[0]), else stale; then read exit_kind and,
 * if >= KM_WP_EXIT_ERROR_MIN, latch hit with CAS false->true.  User slots
 * latch their own hit under the same "still the loaded request" check.
 * Each new latch re-checks the request and is withdrawn if it was disarmed
 * meanwhile (docs/watchpoint-fsm.md); a kept latch calls notify and writes
 * hit_fd.  KM_ERR_INVALID_ARG for a mask above 0xF (nothing done). */
/*@ predicate km_wp_user_fire_ok{L1, L2}(km_wp_table *t, km_wp_vcpu *v, km_wp_hit_report *r,
                                          integer mask, integer i) =
        (\at(r->slot[i + 1], L2) == KM_WP_FIRE_NONE <==> !km_wp_fired(mask, i + 1)) &&
        (\at(r->slot[i + 1], L2) == KM_WP_FIRE_LATCHED ==>
            !\at(t->user[i].hit, L1) && \at(t->user[i].hit, L2)) &&
        (\at(r->slot[i + 1], L2) != KM_WP_FIRE_LATCHED ==>
            \at(t->user[i].hit, L2) == \at(t->user[i].hit, L1)) &&
        (km_wp_fired(mask, i + 1) && (\at(t->user[i].request_kva, L2) == 0 ||
                                     \at(t->user[i].request_kva, L2) != \at(v->hw[i + 1], L2)) ==>
            \at(r->slot[i + 1], L2) == KM_WP_FIRE_STALE);
*/
/*@ requires km_wp_table_ok(t) && \valid_read(v) && \valid(out);
    requires \separated(t, v, out) && \separated(out, t->slot0.kind_host_ptr);
    assigns t->slot0.hit, t->user[0 .. KM_WP_USER_SLOTS - 1].hit, *out;
    ensures km_wp_table_ok(t);
    behavior bad_mask:
      assumes slot_mask > 0xF;
      ensures \result == KM_ERR_INVALID_ARG;
      ensures t->slot0.hit == \old(t->slot0.hit);
      ensures t->user[0].hit == \old(t->user[0].hit) && t->user[1].hit == \old(t->user[1].hit) &&
              t->user[2].hit == \old(t->user[2].hit);
    behavior handled:
      assumes slot_mask <= 0xF;
      ensures \result == KM_OK;
      ensures out->slot[0] == KM_WP_FIRE_NONE <==> !km_wp_fired(slot_mask, 0);
      ensures km_wp_fired(slot_mask, 0) && t->slot0.kind_host_ptr == \null ==>
          out->slot[0] == KM_WP_FIRE_STALE;
      ensures km_wp_fired(slot_mask, 0) && t->slot0.request_kva != v->hw[0] ==>
          out->slot[0] == KM_WP_FIRE_STALE;
      ensures out->slot[0] == KM_WP_FIRE_LATCHED ==>
          !\old(t->slot0.hit) && t->slot0.hit && out->exit_kind_read &&
          out->exit_kind >= KM_WP_EXIT_ERROR_MIN;
      ensures out->slot[0] == KM_WP_FIRE_BELOW_GATE ==>
          out->exit_kind_read && out->exit_kind < KM_WP_EXIT_ERROR_MIN;
      ensures out->slot[0] != KM_WP_FIRE_LATCHED ==> t->slot0.hit == \old(t->slot0.hit);
      ensures km_wp_user_fire_ok{Pre, Post}(t, v, out, slot_mask, 0);
      ensures km_wp_user_fire_ok{Pre, Post}(t, v, out, slot_mask, 1);
      ensures km_wp_user_fire_ok{Pre, Post}(t, v, out, slot_mask, 2);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_wp_vcpu_on_hit(km_wp_table *t, const km_wp_vcpu *v, uint32_t slot_mask,
                                   km_wp_hit_report *out);

#endif /* KTMON_WATCHPOINT_FSM_H */
