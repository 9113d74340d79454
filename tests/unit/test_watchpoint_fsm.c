/* Unit tests: modules/watchpoint_fsm (transition function, slot table,
 * user watches, vCPU self-arm and hit handling). */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ktmon/watchpoint_fsm.h"

#define KVA_A UINT64_C(0xffff888012340000)
#define KVA_B UINT64_C(0xffff888056780000)
#define KVA_C UINT64_C(0xffff88809abc0000)
#define OFF 912u   /* offsetof(struct scx_sched, exit_kind) on 7.3 */

static volatile uint32_t word_a = 0;
static volatile uint32_t word_b = 0;
static volatile uint32_t word_c = 0;

static km_wp_root root(uint64_t kva, uint64_t id)
{
    km_wp_root r = { kva, id };
    return r;
}

static km_wp_xlate xl_ok(volatile uint32_t *host)
{
    km_wp_xlate x = { true, host };
    return x;
}

static km_wp_xlate xl_bad(void)
{
    km_wp_xlate x = { false, NULL };
    return x;
}

/* ------------------------------------------------------------------ transition */

Test(wp_transition, same_root_is_unchanged)
{
    km_wp_step s;
    km_wp_root last = root(KVA_A, 7);
    km_wp_root cur = root(KVA_A, 7);
    km_wp_xlate x = xl_ok(&word_a);
    km_wp_transition(&last, &cur, OFF, &x, &s);
    cr_assert_eq(s.outcome, KM_WP_UNCHANGED);
    cr_assert_eq(s.next.kva, KVA_A);
    cr_assert_eq(s.next.id, 7u);
    cr_assert_null((void *)s.host);

    last = root(0, 0);
    cur = root(0, 99); /* the id of "no scheduler" is ignored */
    km_wp_transition(&last, &cur, OFF, &x, &s);
    cr_assert_eq(s.outcome, KM_WP_UNCHANGED);
    cr_assert_eq(s.next.kva, 0u);
}

Test(wp_transition, fresh_attach_publishes_root_plus_offset)
{
    km_wp_step s;
    km_wp_root last = root(0, 0);
    km_wp_root cur = root(KVA_A, 3);
    km_wp_xlate x = xl_ok(&word_a);
    cr_assert(km_wp_needs_target(&last, &cur));
    km_wp_transition(&last, &cur, OFF, &x, &s);
    cr_assert_eq(s.outcome, KM_WP_PUBLISHED);
    cr_assert_eq(s.target_kva, KVA_A + OFF);
    cr_assert_eq(s.host, &word_a);
    cr_assert_eq(s.next.kva, KVA_A);
    cr_assert_eq(s.next.id, 3u);
}

Test(wp_transition, detach_and_rebind_disarm_and_clear_the_cache)
{
    km_wp_step s;
    km_wp_root last = root(KVA_A, 1);
    km_wp_root cur = root(0, 0);
    km_wp_xlate x = xl_ok(&word_b);
    cr_assert_not(km_wp_needs_target(&last, &cur));
    km_wp_transition(&last, &cur, OFF, &x, &s);
    cr_assert_eq(s.outcome, KM_WP_DETACHED);
    cr_assert_eq(s.next.kva, 0u);

    cur = root(KVA_B, 1);
    km_wp_transition(&last, &cur, OFF, &x, &s);
    cr_assert_eq(s.outcome, KM_WP_REBIND_DISARMED);
    cr_assert_eq(s.next.kva, 0u);
    cr_assert_eq(s.next.id, 0u);
    cr_assert_null((void *)s.host, "a rebind never publishes in the same tick");
}

Test(wp_transition, same_address_new_id_is_a_rebind)
{
    km_wp_step s;
    km_wp_root last = root(KVA_A, 1);
    km_wp_root cur = root(KVA_A, 2);
    km_wp_xlate x = xl_ok(&word_a);
    km_wp_transition(&last, &cur, OFF, &x, &s);
    cr_assert_eq(s.outcome, KM_WP_REBIND_DISARMED);
}

Test(wp_transition, unusable_target_defers_and_keeps_the_cache)
{
    km_wp_step s;
    km_wp_root last = root(0, 0);
    km_wp_root cur = root(KVA_A, 1);
    km_wp_xlate bad = xl_bad();
    km_wp_transition(&last, &cur, OFF, &bad, &s);
    cr_assert_eq(s.outcome, KM_WP_PUBLISH_DEFERRED);
    cr_assert_eq(s.next.kva, 0u);

    km_wp_xlate null_host = { true, NULL };
    km_wp_transition(&last, &cur, OFF, &null_host, &s);
    cr_assert_eq(s.outcome, KM_WP_PUBLISH_DEFERRED);

    km_wp_xlate good = xl_ok(&word_a);
    km_wp_transition(&last, &cur, 2u, &good, &s); /* misaligned target */
    cr_assert_eq(s.outcome, KM_WP_PUBLISH_DEFERRED);
    cur = root(UINT64_MAX - 3u, 1);                /* target wraps */
    km_wp_transition(&last, &cur, 8u, &good, &s);
    cr_assert_eq(s.outcome, KM_WP_PUBLISH_DEFERRED);
}

Test(wp_transition, target_kva_statuses)
{
    uint64_t t = 77;
    cr_assert_eq(km_wp_target_kva(KVA_A, OFF, &t), KM_OK);
    cr_assert_eq(t, KVA_A + OFF);
    t = 77;
    cr_assert_eq(km_wp_target_kva(UINT64_MAX - 3u, 8u, &t), KM_ERR_OVERFLOW);
    cr_assert_eq(km_wp_target_kva(KVA_A, 2u, &t), KM_ERR_MISALIGNED);
    cr_assert_eq(t, 77u);
}

/* ------------------------------------------------------------------ ticks against the table */

static km_wp_table tab;
static km_wp_root last;

static void table_setup(void)
{
    km_wp_table_init(&tab, NULL, NULL, -1);
    last = root(0, 0);
    word_a = 0;
    word_b = 0;
    word_c = 0;
}

static km_wp_outcome tick(uint64_t kva, uint64_t id, volatile uint32_t *host)
{
    km_wp_root cur = root(kva, id);
    km_wp_xlate x = (host != NULL) ? xl_ok(host) : xl_bad();
    km_wp_step s;
    cr_assert_eq(km_wp_tick(&tab, &last, &cur, OFF, &x, &s), KM_OK);
    return s.outcome;
}

static uint64_t req0(void)
{
    return km_atomic_load_acquire_u64(&tab.slot0.request_kva);
}

static volatile uint32_t *ptr0(void)
{
    return km_atomic_load_acquire_ptr(&tab.slot0.kind_host_ptr);
}

TestSuite(wp_table, .init = table_setup);

Test(wp_table, init_is_all_off)
{
    cr_assert_eq(req0(), 0u);
    cr_assert_null((void *)ptr0());
    cr_assert_not(km_wp_hit_pending(&tab, 0));
    for (uint32_t s = 1; s <= KM_WP_USER_SLOTS; s++) {
        cr_assert_eq(km_atomic_load_acquire_u64(&tab.user[s - 1].request_kva), 0u);
        cr_assert_not(km_wp_hit_pending(&tab, s));
    }
    cr_assert_not(km_atomic_load_acquire_bool(&tab.any_armed));
}

Test(wp_table, rebind_a_to_b_takes_two_ticks)
{
    cr_assert_eq(tick(KVA_A, 1, &word_a), KM_WP_PUBLISHED);
    cr_assert_eq(req0(), KVA_A + OFF);
    cr_assert_eq(ptr0(), &word_a);
    cr_assert(km_atomic_load_acquire_bool(&tab.any_armed));
    cr_assert_eq(tick(KVA_A, 1, &word_a), KM_WP_UNCHANGED);

    cr_assert_eq(tick(KVA_B, 1, &word_b), KM_WP_REBIND_DISARMED);
    cr_assert_eq(req0(), 0u, "B is not published while vCPUs may hold A");
    cr_assert_null((void *)ptr0());
    cr_assert_eq(last.kva, 0u);

    cr_assert_eq(tick(KVA_B, 1, &word_b), KM_WP_PUBLISHED);
    cr_assert_eq(req0(), KVA_B + OFF);
    cr_assert_eq(ptr0(), &word_b);
    cr_assert_eq(last.kva, KVA_B);
}

Test(wp_table, a_then_detach_then_a_again)
{
    cr_assert_eq(tick(KVA_A, 1, &word_a), KM_WP_PUBLISHED);
    cr_assert_eq(tick(0, 0, NULL), KM_WP_DETACHED);
    cr_assert_eq(req0(), 0u);
    cr_assert_null((void *)ptr0());
    cr_assert_eq(tick(0, 0, NULL), KM_WP_UNCHANGED);
    cr_assert_eq(tick(KVA_A, 2, &word_a), KM_WP_PUBLISHED);
    cr_assert_eq(req0(), KVA_A + OFF);
    cr_assert_eq(last.id, 2u);
}

Test(wp_table, a_b_c_on_consecutive_ticks)
{
    cr_assert_eq(tick(KVA_A, 1, &word_a), KM_WP_PUBLISHED);
    cr_assert_eq(tick(KVA_B, 1, &word_b), KM_WP_REBIND_DISARMED);
    /* B is gone before the next tick: C is a fresh attach. */
    cr_assert_eq(tick(KVA_C, 1, &word_c), KM_WP_PUBLISHED);
    cr_assert_eq(req0(), KVA_C + OFF);
    cr_assert_eq(ptr0(), &word_c);
}

Test(wp_table, deferred_publish_then_success)
{
    cr_assert_eq(tick(KVA_A, 1, NULL), KM_WP_PUBLISH_DEFERRED);
    cr_assert_eq(req0(), 0u);
    cr_assert_eq(last.kva, 0u);
    cr_assert_not(km_atomic_load_acquire_bool(&tab.any_armed));
    cr_assert_eq(tick(KVA_A, 1, NULL), KM_WP_PUBLISH_DEFERRED);
    cr_assert_eq(tick(KVA_A, 1, &word_a), KM_WP_PUBLISHED);
    cr_assert_eq(req0(), KVA_A + OFF);
}

Test(wp_table, same_address_new_id_disarms_then_republishes)
{
    cr_assert_eq(tick(KVA_A, 1, &word_a), KM_WP_PUBLISHED);
    km_atomic_store_release_bool(&tab.slot0.hit, true); /* the old instance latched */
    cr_assert_eq(tick(KVA_A, 2, &word_a), KM_WP_REBIND_DISARMED);
    cr_assert_eq(req0(), 0u);
    cr_assert_not(km_wp_hit_pending(&tab, 0), "the new instance starts unlatched");
    cr_assert_eq(tick(KVA_A, 2, &word_a), KM_WP_PUBLISHED);
    cr_assert_eq(last.id, 2u);
}

Test(wp_table, disarm_clears_slot0)
{
    cr_assert_eq(tick(KVA_A, 1, &word_a), KM_WP_PUBLISHED);
    km_atomic_store_release_bool(&tab.slot0.hit, true);
    cr_assert_eq(tick(0, 0, NULL), KM_WP_DETACHED);
    cr_assert_eq(req0(), 0u);
    cr_assert_null((void *)ptr0());
    cr_assert_not(km_wp_hit_pending(&tab, 0));
}

Test(wp_table, apply_refuses_a_malformed_publish)
{
    km_wp_step s;
    memset(&s, 0, sizeof(s));
    s.outcome = KM_WP_PUBLISHED;
    s.target_kva = KVA_A + OFF;
    s.host = NULL;
    cr_assert_eq(km_wp_apply(&tab, &s), KM_ERR_INVALID_ARG);
    s.host = &word_a;
    s.target_kva = KVA_A + 2u;
    cr_assert_eq(km_wp_apply(&tab, &s), KM_ERR_INVALID_ARG);
    cr_assert_eq(req0(), 0u);
    cr_assert_null((void *)ptr0());
}

/* ------------------------------------------------------------------ user watches */

#define KASLR UINT64_C(0x1e000000)
#define LINK_JIFFIES UINT64_C(0xffffffff82a05000)

static km_wp_symbol sym(bool found, uint64_t link)
{
    km_wp_symbol s = { found, link, false };
    return s;
}

static km_status arm(uint64_t link, uint64_t kaslr, uint32_t *slot)
{
    km_wp_symbol s = sym(true, link);
    return km_wp_user_arm(&tab, &s, kaslr, "t", 1, slot, NULL);
}

/* A failed arm must not touch the table: compare all of it. */
static void assert_failed_arm_untouched(const km_wp_symbol *s, uint64_t kaslr, km_status want)
{
    km_wp_table before;
    memcpy(&before, &tab, sizeof(tab));
    uint32_t slot = 99;
    km_error err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(km_wp_user_arm(&tab, s, kaslr, "tag", 3, &slot, &err), want);
    cr_assert_eq(err.status, want);
    cr_assert_eq(slot, 99u);
    cr_assert_eq(memcmp(&before, &tab, sizeof(tab)), 0, "a failed arm changed the table");
}

TestSuite(wp_user, .init = table_setup);

Test(wp_user, arms_first_free_slot_in_index_order)
{
    uint32_t slot = 0;
    cr_assert_eq(arm(LINK_JIFFIES, KASLR, &slot), KM_OK);
    cr_assert_eq(slot, 1u);
    cr_assert_eq(km_atomic_load_acquire_u64(&tab.user[0].request_kva), LINK_JIFFIES + KASLR);
    cr_assert(km_atomic_load_acquire_bool(&tab.any_armed));
    cr_assert_eq(arm(LINK_JIFFIES + 8u, KASLR, &slot), KM_OK);
    cr_assert_eq(slot, 2u);
    cr_assert_eq(arm(LINK_JIFFIES + 16u, KASLR, &slot), KM_OK);
    cr_assert_eq(slot, 3u);
    cr_assert_eq(km_atomic_load_acquire_u64(&tab.user[2].request_kva), LINK_JIFFIES + 16u + KASLR);
    cr_assert_eq(req0(), 0u, "user watches never touch slot 0");
}

Test(wp_user, all_occupied_is_capacity)
{
    uint32_t slot = 0;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(arm(LINK_JIFFIES + 8u * (uint64_t)i, KASLR, &slot), KM_OK);
    }
    km_wp_symbol s = sym(true, LINK_JIFFIES + 64u);
    assert_failed_arm_untouched(&s, KASLR, KM_ERR_CAPACITY);
}

Test(wp_user, reusable_after_clear)
{
    uint32_t slot = 0;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(arm(LINK_JIFFIES + 8u * (uint64_t)i, KASLR, &slot), KM_OK);
    }
    km_atomic_store_release_bool(&tab.user[1].hit, true);
    cr_assert_eq(km_wp_user_clear(&tab, 2), KM_OK);
    cr_assert_eq(km_atomic_load_acquire_u64(&tab.user[1].request_kva), 0u);
    cr_assert_not(km_wp_hit_pending(&tab, 2));
    cr_assert_eq(km_wp_user_clear(&tab, 2), KM_ERR_STATE);
    cr_assert_eq(arm(LINK_JIFFIES + 128u, KASLR, &slot), KM_OK);
    cr_assert_eq(slot, 2u);
    cr_assert_eq(km_atomic_load_acquire_u64(&tab.user[1].request_kva), LINK_JIFFIES + 128u + KASLR);
    cr_assert_eq(km_wp_user_clear(&tab, 0), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_wp_user_clear(&tab, 4), KM_ERR_INVALID_ARG);
}

Test(wp_user, unaligned_missing_zero_and_overflow_are_refused_untouched)
{
    km_wp_symbol s = sym(true, LINK_JIFFIES + 2u);
    assert_failed_arm_untouched(&s, KASLR, KM_ERR_MISALIGNED);
    s = sym(false, LINK_JIFFIES);
    assert_failed_arm_untouched(&s, KASLR, KM_ERR_NO_SYMBOL);
    s = sym(true, 0u);
    assert_failed_arm_untouched(&s, 0u, KM_ERR_INVALID_ARG);
    s = sym(true, UINT64_C(0x1000));
    assert_failed_arm_untouched(&s, UINT64_MAX - 0x800u, KM_ERR_OVERFLOW);
    /* a partly filled table stays as it was, too */
    uint32_t slot = 0;
    cr_assert_eq(arm(LINK_JIFFIES, KASLR, &slot), KM_OK);
    s = sym(true, LINK_JIFFIES + 1u);
    assert_failed_arm_untouched(&s, KASLR, KM_ERR_MISALIGNED);
}

Test(wp_user, kaslr_zero_is_an_error_from_the_kernel_half_boundary)
{
    km_wp_symbol s = sym(true, KM_WP_KERNEL_HALF);
    assert_failed_arm_untouched(&s, 0u, KM_ERR_NOT_READY);
    s = sym(true, LINK_JIFFIES);
    assert_failed_arm_untouched(&s, 0u, KM_ERR_NOT_READY);
    /* just below the boundary: no KASLR complaint (no-warn case) */
    uint32_t slot = 0;
    cr_assert_eq(arm(KM_WP_KERNEL_HALF - 4u, 0u, &slot), KM_OK);
    cr_assert_eq(km_atomic_load_acquire_u64(&tab.user[0].request_kva), KM_WP_KERNEL_HALF - 4u);
    /* a resolved offset: fine */
    cr_assert_eq(arm(KM_WP_KERNEL_HALF, KASLR, &slot), KM_OK);
}

Test(wp_user, offset_zero_is_accepted_once_the_caller_resolved_it)
{
    /* a nokaslr boot: the handshake found offset 0, and says so */
    km_wp_symbol s = sym(true, LINK_JIFFIES);
    s.kaslr_resolved = true;
    uint32_t slot = 0;
    cr_assert_eq(km_wp_user_arm(&tab, &s, 0u, "j", 1, &slot, NULL), KM_OK);
    cr_assert_eq(slot, 1u);
    cr_assert_eq(km_atomic_load_acquire_u64(&tab.user[0].request_kva), LINK_JIFFIES);
}

Test(wp_user, missing_symbol_beats_the_other_checks)
{
    /* order of checks: free slot, symbol, kaslr, overflow, zero, alignment */
    km_wp_symbol s = sym(false, 0u);
    assert_failed_arm_untouched(&s, 0u, KM_ERR_NO_SYMBOL);
    s = sym(true, KM_WP_KERNEL_HALF + 2u);
    assert_failed_arm_untouched(&s, 0u, KM_ERR_NOT_READY);
}

Test(wp_user, tag_is_kept_and_truncated)
{
    uint32_t slot = 0;
    km_wp_symbol s = sym(true, LINK_JIFFIES);
    char long_tag[100];
    memset(long_tag, 'x', sizeof(long_tag));
    cr_assert_eq(km_wp_user_arm(&tab, &s, KASLR, "jiffies", 7, &slot, NULL), KM_OK);
    cr_assert_str_eq(tab.user[0].tag, "jiffies");
    cr_assert_eq(km_wp_user_arm(&tab, &s, KASLR, long_tag, sizeof(long_tag), &slot, NULL), KM_OK);
    cr_assert_eq(tab.user[1].tag_len, KM_WP_TAG_MAX - 1u);
    cr_assert_eq(strlen(tab.user[1].tag), KM_WP_TAG_MAX - 1u);
    cr_assert_eq(km_wp_user_arm(&tab, &s, KASLR, NULL, 0, &slot, NULL), KM_OK);
    cr_assert_str_eq(tab.user[2].tag, "");
}

/* ------------------------------------------------------------------ vCPU self-arm */

/* A scripted backend: returns errnos from a script (0 = success). */
typedef struct fake_backend {
    int script[32];
    int n;
    int next;
    int calls;
    uint64_t last[KM_WP_SLOTS];
} fake_backend;

static km_status fake_set_debug(void *ctx, const uint64_t kva[KM_WP_SLOTS], km_error *err)
{
    fake_backend *f = ctx;
    int e = (f->next < f->n) ? f->script[f->next] : f->script[f->n - 1];
    f->next++;
    f->calls++;
    km_status st = KM_OK;
    if (e != 0) {
        st = KM_ERR_IO;
        km_error_set(err, st, 0, KM_NO_INDEX, e);
    } else {
        memcpy(f->last, kva, sizeof(f->last));
    }
    return st;
}

static const km_wp_arm_ops fake_ops = { fake_set_debug };
static fake_backend fb;
static km_wp_vcpu vc;

static void vcpu_setup(void)
{
    table_setup();
    memset(&fb, 0, sizeof(fb));
    fb.n = 1;
    fb.script[0] = 0;
    km_wp_vcpu_init(&vc, &fake_ops, &fb);
}

TestSuite(wp_vcpu, .init = vcpu_setup);

Test(wp_vcpu, nothing_before_the_first_publish)
{
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(fb.calls, 0);
}

Test(wp_vcpu, reissues_only_on_change)
{
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(fb.calls, 1);
    cr_assert_eq(fb.last[0], KVA_A + OFF);
    cr_assert_eq(vc.hw[0], KVA_A + OFF);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    }
    cr_assert_eq(fb.calls, 1, "no change, no ioctl");
    uint32_t slot = 0;
    cr_assert_eq(arm(LINK_JIFFIES, KASLR, &slot), KM_OK);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(fb.calls, 2);
    cr_assert_eq(fb.last[1], LINK_JIFFIES + KASLR);
    cr_assert_eq(fb.last[0], KVA_A + OFF);
    tick(0, 0, NULL);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(fb.calls, 3);
    cr_assert_eq(fb.last[0], 0u, "a disarm reissues without slot 0");
    cr_assert_eq(vc.issued, 3u);
}

Test(wp_vcpu, eintr_is_retried_and_not_counted)
{
    tick(KVA_A, 1, &word_a);
    fb.n = 3;
    fb.script[0] = EINTR;
    fb.script[1] = EINTR;
    fb.script[2] = 0;
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(fb.calls, 3);
    cr_assert_eq(vc.failures, 0u);
    cr_assert_eq(vc.armed[0], KVA_A + OFF);
}

Test(wp_vcpu, endless_eintr_is_busy_and_records_nothing)
{
    tick(KVA_A, 1, &word_a);
    fb.n = 1;
    fb.script[0] = EINTR;
    km_error err;
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, &err), KM_ERR_BUSY);
    cr_assert_eq(err.sys_errno, EINTR);
    cr_assert_eq(fb.calls, (int)KM_WP_EINTR_RETRIES);
    cr_assert_eq(vc.failures, 0u);
    cr_assert_eq(vc.armed[0], 0u);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_ERR_BUSY, "retried next time");
}

Test(wp_vcpu, three_failures_then_recorded_as_armed)
{
    tick(KVA_A, 1, &word_a);
    fb.n = 1;
    fb.script[0] = EIO;
    km_error err;
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, EIO);
    cr_assert_eq(vc.failures, 1u);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, &err), KM_ERR_IO);
    cr_assert_eq(vc.failures, 2u);
    cr_assert_eq(vc.armed[0], 0u);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, &err), KM_ERR_IO);
    cr_assert_eq(vc.failures, 0u);
    cr_assert_eq(vc.gave_up, 1u);
    cr_assert_eq(vc.armed[0], KVA_A + OFF, "recorded as armed");
    cr_assert_eq(vc.hw[0], 0u, "but the hardware never got it");
    cr_assert_eq(fb.calls, 3);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(fb.calls, 3, "no retry until the request changes");
    /* a change tries again; success resets the count */
    fb.script[0] = 0;
    tick(0, 0, NULL);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(fb.calls, 4);
    cr_assert_eq(vc.failures, 0u);
}

Test(wp_vcpu, a_success_resets_the_failure_count)
{
    tick(KVA_A, 1, &word_a);
    fb.n = 3;
    fb.script[0] = EIO;
    fb.script[1] = EIO;
    fb.script[2] = 0;
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_ERR_IO);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_ERR_IO);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    cr_assert_eq(vc.failures, 0u);
    cr_assert_eq(vc.gave_up, 0u);
}

Test(wp_vcpu, missing_backend_is_invalid_arg_and_counted)
{
    km_wp_vcpu bare;
    km_wp_vcpu_init(&bare, NULL, NULL);
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &bare, NULL), KM_ERR_INVALID_ARG);
    cr_assert_eq(bare.failures, 1u);
}

/* ------------------------------------------------------------------ hits */

static int notified[KM_WP_SLOTS];
static void count_notify(void *ctx, uint32_t slot)
{
    (void)ctx;
    notified[slot]++;
}

static void hit_setup(void)
{
    vcpu_setup();
    memset(notified, 0, sizeof(notified));
    km_wp_table_init(&tab, count_notify, NULL, -1);
}

TestSuite(wp_hit, .init = hit_setup);

Test(wp_hit, stale_fire_with_null_pointer_is_ignored)
{
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    tick(0, 0, NULL); /* disarmed; this vCPU still has A loaded */
    word_a = 1025;
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_STALE);
    cr_assert_not(r.exit_kind_read, "a NULL pointer is never dereferenced");
    cr_assert_not(km_wp_hit_pending(&tab, 0));
    cr_assert_eq(notified[0], 0);
}

Test(wp_hit, fire_of_an_old_address_after_a_republish_is_stale)
{
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    tick(KVA_B, 1, &word_b);
    tick(KVA_B, 1, &word_b); /* B published; this vCPU (tick assumption broken) holds A */
    word_b = 1025;
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_STALE, "B's pointer is not A's");
    cr_assert_not(km_wp_hit_pending(&tab, 0));
}

Test(wp_hit, below_the_error_range_does_not_latch)
{
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    word_a = 64; /* SCX_EXIT_UNREG */
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_BELOW_GATE);
    cr_assert(r.exit_kind_read);
    cr_assert_eq(r.exit_kind, 64u);
    word_a = 1023;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_BELOW_GATE);
    cr_assert_not(km_wp_hit_pending(&tab, 0));
}

Test(wp_hit, an_error_exit_latches_once)
{
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    word_a = 1025; /* SCX_EXIT_ERROR_BPF */
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_LATCHED);
    cr_assert_eq(r.exit_kind, 1025u);
    cr_assert(km_wp_hit_pending(&tab, 0));
    cr_assert_eq(notified[0], 1);
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_ALREADY);
    cr_assert_eq(notified[0], 1, "signalled once");
    cr_assert_eq(km_wp_clear_hit(&tab, 0), KM_OK);
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_LATCHED, "cleared: latches again");
    cr_assert_eq(km_wp_clear_hit(&tab, 9), KM_ERR_INVALID_ARG);
}

Test(wp_hit, user_slots_latch_their_own_hit)
{
    uint32_t slot = 0;
    cr_assert_eq(arm(LINK_JIFFIES, KASLR, &slot), KM_OK);
    cr_assert_eq(arm(LINK_JIFFIES + 8u, KASLR, &slot), KM_OK);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x4, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_NONE);
    cr_assert_eq(r.slot[1], KM_WP_FIRE_NONE);
    cr_assert_eq(r.slot[2], KM_WP_FIRE_LATCHED);
    cr_assert_eq(r.slot[3], KM_WP_FIRE_NONE);
    cr_assert(km_wp_hit_pending(&tab, 2));
    cr_assert_not(km_wp_hit_pending(&tab, 1));
    cr_assert_eq(notified[2], 1);
    /* slot 3 has no request: stale */
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x8, &r), KM_OK);
    cr_assert_eq(r.slot[3], KM_WP_FIRE_STALE);
    /* cleared while this vCPU still has it loaded: stale */
    cr_assert_eq(km_wp_user_clear(&tab, 1), KM_OK);
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x2, &r), KM_OK);
    cr_assert_eq(r.slot[1], KM_WP_FIRE_STALE);
    cr_assert_not(km_wp_hit_pending(&tab, 1));
}

Test(wp_hit, bad_mask_is_refused)
{
    km_wp_hit_report r;
    memset(&r, 0x5a, sizeof(r));
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x10, &r), KM_ERR_INVALID_ARG);
    cr_assert_eq(r.exit_kind, 0x5a5a5a5au, "output untouched on failure");
}

Test(wp_hit, eventfd_is_written_on_a_latch)
{
    int fd = eventfd(0, EFD_NONBLOCK);
    cr_assert_geq(fd, 0);
    km_wp_table_init(&tab, NULL, NULL, fd);
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    word_a = 1026; /* SCX_EXIT_ERROR_STALL */
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_LATCHED);
    cr_assert_eq(r.signal_errno, 0);
    uint64_t v = 0;
    cr_assert_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
    cr_assert_eq(v, 1u);
    close(fd);
}

Test(wp_hit, a_failing_signal_is_reported_and_the_latch_kept)
{
    /* Far above RLIMIT_NOFILE: never an open descriptor, write fails with EBADF. */
    km_wp_table_init(&tab, NULL, NULL, 1000000);
    tick(KVA_A, 1, &word_a);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    word_a = 1025;
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_LATCHED);
    cr_assert_eq(r.signal_errno, EBADF);
    cr_assert(km_wp_hit_pending(&tab, 0));
}

/* The race the latch withdrawal exists for, made deterministic: the
 * exit_kind word sits on a PROT_NONE page, so the vCPU's read of it (after
 * its request check, before its CAS) faults; the SIGSEGV handler plays the
 * coordinator and detaches (request 0, pointer NULL, hit false), then lets
 * the read go on.  The CAS then succeeds on the cleared flag, the re-check
 * sees the request gone, and the latch is withdrawn. */
static volatile uint32_t *race_word;
static long race_page;
static volatile sig_atomic_t race_faults;

static void race_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    race_faults++;
    km_wp_root cur = root(0, 0);
    km_wp_xlate x = xl_bad();
    km_wp_step s;
    (void)km_wp_tick(&tab, &last, &cur, OFF, &x, &s);
    (void)mprotect((void *)((uintptr_t)race_word & ~(uintptr_t)(race_page - 1)), (size_t)race_page,
                   PROT_READ | PROT_WRITE);
}

Test(wp_hit, a_latch_racing_a_disarm_is_withdrawn)
{
    race_page = sysconf(_SC_PAGESIZE);
    uint8_t *page = mmap(NULL, (size_t)race_page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(page, MAP_FAILED);
    race_word = (volatile uint32_t *)(void *)(page + 0x390);
    *race_word = 1025;
    tick(KVA_A, 1, race_word);
    cr_assert_eq(km_wp_vcpu_self_arm(&tab, &vc, NULL), KM_OK);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = race_handler;
    sa.sa_flags = SA_SIGINFO;
    cr_assert_eq(sigaction(SIGSEGV, &sa, &old), 0);
    cr_assert_eq(mprotect(page, (size_t)race_page, PROT_NONE), 0);
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&tab, &vc, 0x1, &r), KM_OK);
    sigaction(SIGSEGV, &old, NULL);
    cr_assert_eq(race_faults, 1);
    cr_assert(r.exit_kind_read);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_RETRACTED);
    cr_assert_not(km_wp_hit_pending(&tab, 0), "no latch outlives its instance");
    cr_assert_eq(notified[0], 0, "a withdrawn latch is not signalled");
    munmap(page, (size_t)race_page);
}
