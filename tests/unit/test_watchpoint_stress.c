/* Concurrent stress test of modules/watchpoint_fsm: NV threads act as vCPUs
 * (self-arm before each "run", fire on what they have loaded, latch) while
 * the coordinator publishes, detaches and rebinds (A, A with a new id, B,
 * none) and arms/clears a user watch.  The coordinator honours the tick
 * assumption (every vCPU self-arms between two ticks) as a VMM does.
 *
 * Checked on every fire and tick:
 *   - a vCPU never reads exit_kind through another instance's pointer (the
 *     exit_kind words of A and B hold different values);
 *   - at a publish no vCPU has another address loaded and hit is clear
 *     (only without backend failures, which the reference's give-up rule
 *     lets leave an old address in the debug registers);
 *   - one published instance is latched at most once.
 * Runs under ASan in `make unit` and under ThreadSanitizer with
 * tests/tsan/run.sh. */
#ifndef KM_STRESS_MAIN
#include <criterion/criterion.h>
#define CHECK(cond, ...) cr_assert((cond), __VA_ARGS__)
#define INFO(...) cr_log_info(__VA_ARGS__)
#else
/* tests/tsan/run.sh: Criterion cannot start under ThreadSanitizer (its
 * process arena cannot be mapped), so the same test body runs from main(). */
#include <stdio.h>
#include <stdlib.h>
#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "FAILED: %s: ", #cond);                                         \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fprintf(stderr, "\n");                                                          \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)
#define INFO(...) (printf(__VA_ARGS__), printf("\n"))
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "ktmon/watchpoint_fsm.h"

#define NV 3
#define TICKS 10000
#define KVA_A UINT64_C(0xffff888012340000)
#define KVA_B UINT64_C(0xffff888056780000)
#define OFF 912u
#define LINK_SYM UINT64_C(0xffffffff82a05000)
#define KASLR UINT64_C(0x1e000000)

/* The exit_kind words of A and B: constant, so a read through the wrong
 * pointer shows as the wrong value. */
static volatile uint32_t word_a = 1025; /* SCX_EXIT_ERROR_BPF */
static volatile uint32_t word_b = 2049;

typedef struct stress {
    km_wp_table tab;
    bool failures;                  /* backend returns EIO now and then */
    atomic_uint epoch;
    atomic_uint done_epoch[NV];
    atomic_uint_least64_t hw0[NV];  /* mirror of each vCPU's loaded slot 0 */
    atomic_bool stop;
    atomic_uint latched;            /* slot-0 latches kept */
    atomic_uint retracted;
    atomic_uint wrong_pointer;      /* exit_kind read through another instance's pointer */
    atomic_uint fires;
    atomic_uint user_latched;
} stress;

static stress S;

typedef struct vbackend {
    uint32_t rng;
    bool failures;
} vbackend;

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static km_status stress_set_debug(void *ctx, const uint64_t kva[KM_WP_SLOTS], km_error *err)
{
    vbackend *b = ctx;
    (void)kva;
    uint32_t r = xorshift(&b->rng) % 100u;
    km_status st = KM_OK;
    if (r < 10u) {
        st = KM_ERR_IO;
        km_error_set(err, st, 0, KM_NO_INDEX, EINTR);
    } else if (b->failures && (r < 20u)) {
        st = KM_ERR_IO;
        km_error_set(err, st, 0, KM_NO_INDEX, EIO);
    }
    return st;
}

static const km_wp_arm_ops stress_ops = { stress_set_debug };

static uint32_t expected_word(uint64_t target)
{
    return (target == KVA_A + OFF) ? 1025u : 2049u;
}

static void *vcpu_thread(void *arg)
{
    int me = (int)(intptr_t)arg;
    vbackend b = { (uint32_t)(0x9E3779B9u * (uint32_t)(me + 1)), S.failures };
    km_wp_vcpu v;
    km_wp_vcpu_init(&v, &stress_ops, &b);
    while (!atomic_load(&S.stop)) {
        unsigned e = atomic_load_explicit(&S.epoch, memory_order_acquire);
        (void)km_wp_vcpu_self_arm(&S.tab, &v, NULL);
        atomic_store_explicit(&S.hw0[me], v.hw[0], memory_order_release);
        atomic_store_explicit(&S.done_epoch[me], e, memory_order_release);
        /* "KVM_RUN": the guest stores to what is loaded, now and then. */
        uint32_t r = xorshift(&b.rng);
        uint32_t mask = 0;
        if ((v.hw[0] != 0u) && ((r & 1u) != 0u)) {
            mask |= 1u;
        }
        if ((v.hw[1] != 0u) && ((r & 6u) == 6u)) {
            mask |= 2u;
        }
        if (mask != 0u) {
            km_wp_hit_report rep;
            atomic_fetch_add(&S.fires, 1u);
            if (km_wp_vcpu_on_hit(&S.tab, &v, mask, &rep) == KM_OK) {
                if (rep.exit_kind_read && (rep.exit_kind != expected_word(v.hw[0]))) {
                    atomic_fetch_add(&S.wrong_pointer, 1u);
                }
                if (rep.slot[0] == KM_WP_FIRE_LATCHED) {
                    atomic_fetch_add(&S.latched, 1u);
                } else if (rep.slot[0] == KM_WP_FIRE_RETRACTED) {
                    atomic_fetch_add(&S.retracted, 1u);
                }
                if (rep.slot[1] == KM_WP_FIRE_LATCHED) {
                    atomic_fetch_add(&S.user_latched, 1u);
                }
            }
        } else {
            sched_yield();
        }
    }
    return NULL;
}

static void wait_all_rearmed(void)
{
    unsigned e = atomic_load(&S.epoch);
    for (int i = 0; i < NV; i++) {
        while (atomic_load_explicit(&S.done_epoch[i], memory_order_acquire) != e) {
            sched_yield();
        }
    }
}

static void run_stress(bool failures)
{
    memset(&S, 0, sizeof(S));
    S.failures = failures;
    km_wp_table_init(&S.tab, NULL, NULL, -1);
    pthread_t th[NV];
    for (int i = 0; i < NV; i++) {
        CHECK(pthread_create(&th[i], NULL, vcpu_thread, (void *)(intptr_t)i) == 0, "pthread_create");
    }
    uint32_t rng = 12345u;
    km_wp_root last = { 0, 0 };
    unsigned latched_at_publish = 0;
    unsigned publishes = 0;
    unsigned rebinds = 0;
    unsigned bad_publish = 0;
    unsigned double_latch = 0;
    for (int t = 0; t < TICKS; t++) {
        /* The tick assumption: every vCPU self-armed since the last tick. */
        wait_all_rearmed();
        uint32_t r = xorshift(&rng);
        km_wp_root cur = { 0, 0 };
        switch (r % 4u) {
        case 0u:
            break;
        case 1u:
            cur.kva = KVA_A;
            cur.id = 1;
            break;
        case 2u:
            cur.kva = KVA_A;
            cur.id = 2;
            break;
        default:
            cur.kva = KVA_B;
            cur.id = 1;
            break;
        }
        km_wp_xlate xl = { false, NULL };
        if (km_wp_needs_target(&last, &cur) && (((r >> 8) % 5u) != 0u)) {
            xl.ok = true;
            xl.host = (cur.kva == KVA_A) ? &word_a : &word_b;
            /* About to publish: nobody holds another address, no latch left. */
            for (int i = 0; (i < NV) && !failures; i++) {
                if (atomic_load(&S.hw0[i]) != 0u) {
                    bad_publish++;
                }
            }
            if (km_wp_hit_pending(&S.tab, 0)) {
                bad_publish++;
            }
            unsigned now = atomic_load(&S.latched);
            if ((publishes > 0u) && ((now - latched_at_publish) > 1u)) {
                double_latch++;
            }
            latched_at_publish = now;
        }
        km_wp_step s;
        CHECK(km_wp_tick(&S.tab, &last, &cur, OFF, &xl, &s) == KM_OK, "tick");
        publishes += (s.outcome == KM_WP_PUBLISHED) ? 1u : 0u;
        rebinds += (s.outcome == KM_WP_REBIND_DISARMED) ? 1u : 0u;
        /* A user watch comes and goes. */
        if (((r >> 16) % 7u) == 0u) {
            km_wp_symbol sym = { true, LINK_SYM, true };
            uint32_t slot = 0;
            if (km_wp_user_arm(&S.tab, &sym, KASLR, "stress", 6, &slot, NULL) != KM_OK) {
                CHECK(km_wp_user_clear(&S.tab, 1) == KM_OK, "user clear");
            }
        }
        atomic_fetch_add_explicit(&S.epoch, 1u, memory_order_release);
    }
    atomic_store(&S.stop, true);
    for (int i = 0; i < NV; i++) {
        pthread_join(th[i], NULL);
    }
    INFO("stress(failures=%d): %u publishes, %u rebinds, %u fires, %u latched, %u retracted, "
         "%u user latches",
         (int)failures, publishes, rebinds, atomic_load(&S.fires), atomic_load(&S.latched),
         atomic_load(&S.retracted), atomic_load(&S.user_latched));
    CHECK(atomic_load(&S.wrong_pointer) == 0u, "a vCPU used another instance's pointer");
    CHECK(bad_publish == 0u, "published while a vCPU held another address, or with hit set");
    CHECK(double_latch == 0u, "one instance latched twice");
    CHECK(publishes > 10u, "too few publishes");
    CHECK(rebinds > 10u, "too few rebinds");
    CHECK(atomic_load(&S.latched) > 0u, "the stress never latched: it tests nothing");
}

#ifndef KM_STRESS_MAIN
Test(wp_stress, vcpus_and_coordinator_race, .timeout = 120)
{
    run_stress(false);
}

Test(wp_stress, with_backend_failures, .timeout = 120)
{
    run_stress(true);
}
#else
int main(void)
{
    run_stress(false);
    run_stress(true);
    printf("stress: passed\n");
    return 0;
}
#endif
