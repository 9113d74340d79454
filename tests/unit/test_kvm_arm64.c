/* Unit tests: hal/kvm_arm64 (DBGWVR/DBGWCR encodings bit for bit, the
 * mirrored UAPI layout, exit decoding, the single-step over a hit, register
 * reads) through a fake ioctl.  A real arm64 KVM test needs an arm64 host. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/kvm.h>

#include "ktmon/kvm_arm64.h"
#include "ktmon/watchpoint_fsm.h"

#define EC(x) ((uint32_t)(x) << 26)

Test(kvm_arm64, uapi_layout_and_ioctl_number)
{
    cr_assert_eq(sizeof(km_kvm_arm64_guest_debug_arch), 512u);
    cr_assert_eq(sizeof(km_kvm_arm64_guest_debug), 520u);
    cr_assert_eq(offsetof(km_kvm_arm64_guest_debug, arch), 8u);
    cr_assert_eq(offsetof(km_kvm_arm64_guest_debug_arch, dbg_wcr), 256u);
    cr_assert_eq(offsetof(km_kvm_arm64_guest_debug_arch, dbg_wvr), 384u);
    cr_assert_eq(sizeof(km_kvm_arm64_debug_exit_arch), 16u);
    cr_assert_eq(offsetof(km_kvm_arm64_debug_exit_arch, far), 8u);
    cr_assert_eq(KM_KVM_ARM64_SET_GUEST_DEBUG, 0x4208AE9Bu);
    cr_assert_neq((unsigned long)KM_KVM_ARM64_SET_GUEST_DEBUG, (unsigned long)KVM_SET_GUEST_DEBUG,
                  "the x86 number encodes the x86 struct size");
}

Test(kvm_arm64, wcr_reference_values)
{
    cr_assert_eq(km_kvm_arm64_wcr(0xffff000012340390ull, true), 0x1F7u);  /* 8-aligned */
    cr_assert_eq(km_kvm_arm64_wcr(0xffff000012340394ull, true), 0x1E17u); /* kva & 7 == 4 */
    cr_assert_eq(km_kvm_arm64_wcr(0xffff000012340390ull, false), 0x1F6u);
    cr_assert_eq(km_kvm_arm64_wcr(0xffff000012340394ull, false), 0x1E16u);
    cr_assert_eq(km_kvm_arm64_wvr(0xffff000012340394ull), 0xffff000012340390ull);
    cr_assert_eq(km_kvm_arm64_wvr(0xffff000012340390ull), 0xffff000012340390ull);
}

Test(kvm_arm64, sysreg_ids)
{
    cr_assert_eq(km_kvm_arm64_sysreg_id(3, 0, 2, 0, 1), KM_KVM_ARM64_REG_TTBR1_EL1);
    cr_assert_eq(km_kvm_arm64_sysreg_id(3, 0, 2, 0, 2), KM_KVM_ARM64_REG_TCR_EL1);
    cr_assert_eq(km_kvm_arm64_sysreg_id(3, 0, 2, 0, 0), KM_KVM_ARM64_REG_TTBR0_EL1);
    cr_assert_eq(KM_KVM_ARM64_REG_TTBR1_EL1, 0x603000000013c101ull);
    /* TPIDR_EL1 = (3, 0, 13, 0, 4): the per-CPU offset register */
    cr_assert_eq(km_kvm_arm64_sysreg_id(3, 0, 13, 0, 4), 0x603000000013c684ull);
}

Test(kvm_arm64, encode_watchpoints)
{
    const uint64_t kva[4] = { 0xffff000012340390ull, 0, 0, 0xffff800080a05004ull };
    km_kvm_arm64_guest_debug d;
    memset(&d, 0xee, sizeof(d));
    cr_assert_eq(km_kvm_arm64_encode(kva, false, 0, &d), KM_OK);
    cr_assert_eq(d.control, 0x20001u); /* ENABLE | USE_HW */
    cr_assert_eq(d.pad, 0u);
    cr_assert_eq(d.arch.dbg_wvr[0], 0xffff000012340390ull);
    cr_assert_eq(d.arch.dbg_wcr[0], 0x1F7u);
    cr_assert_eq(d.arch.dbg_wvr[1], 0u);
    cr_assert_eq(d.arch.dbg_wcr[1], 0u);
    cr_assert_eq(d.arch.dbg_wvr[3], 0xffff800080a05000ull);
    cr_assert_eq(d.arch.dbg_wcr[3], 0x1E17u);
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(d.arch.dbg_bcr[i], 0u);
        cr_assert_eq(d.arch.dbg_bvr[i], 0u);
    }
    for (int i = 4; i < 16; i++) {
        cr_assert_eq(d.arch.dbg_wcr[i], 0u);
    }
}

Test(kvm_arm64, encode_step_disables_the_stepping_slots)
{
    const uint64_t kva[4] = { 0xffff000012340390ull, 0xffff000012340394ull, 0, 0 };
    km_kvm_arm64_guest_debug d;
    cr_assert_eq(km_kvm_arm64_encode(kva, true, 0x1u, &d), KM_OK);
    cr_assert_eq(d.control, 0x20003u); /* ENABLE | SINGLESTEP | USE_HW */
    cr_assert_eq(d.arch.dbg_wcr[0], 0x1F6u, "stepping slot armed with E = 0");
    cr_assert_eq(d.arch.dbg_wvr[0], 0xffff000012340390ull);
    cr_assert_eq(d.arch.dbg_wcr[1], 0x1E17u, "the other slot stays enabled");
    /* step_mask only matters while a step is pending */
    cr_assert_eq(km_kvm_arm64_encode(kva, false, 0x1u, &d), KM_OK);
    cr_assert_eq(d.arch.dbg_wcr[0], 0x1F7u);
    cr_assert_eq(d.control, 0x20001u);
}

Test(kvm_arm64, encode_nothing_and_step_only)
{
    const uint64_t none[4] = { 0, 0, 0, 0 };
    km_kvm_arm64_guest_debug d;
    memset(&d, 0xee, sizeof(d));
    cr_assert_eq(km_kvm_arm64_encode(none, false, 0, &d), KM_OK);
    cr_assert_eq(d.control, 0u);
    cr_assert_eq(d.arch.dbg_wcr[0], 0u);
    cr_assert_eq(km_kvm_arm64_encode(none, true, 0x1, &d), KM_OK);
    cr_assert_eq(d.control, 0x20003u, "a pending step survives a disarm");
}

Test(kvm_arm64, encode_refuses_misaligned)
{
    const uint64_t kva[4] = { 0xffff000012340392ull, 0, 0, 0 };
    km_kvm_arm64_guest_debug d;
    memset(&d, 0xee, sizeof(d));
    cr_assert_eq(km_kvm_arm64_encode(kva, false, 0, &d), KM_ERR_MISALIGNED);
    cr_assert_eq(d.control, 0xeeeeeeeeu);
}

static km_kvm_arm64_debug_exit_arch ex_of(uint32_t ec, uint64_t far)
{
    km_kvm_arm64_debug_exit_arch ex = { EC(ec) | 0x22u, 0, far };
    return ex;
}

Test(kvm_arm64, decode_exits)
{
    const uint64_t kva[4] = { 0xffff000012340390ull, 0, 0xffff000012340394ull, 0 };
    km_kvm_arm64_exit out;
    km_kvm_arm64_debug_exit_arch ex = ex_of(0x34, 0xffff000012340392ull);
    cr_assert_eq(km_kvm_arm64_decode_exit(&ex, kva, false, &out), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_WATCH);
    cr_assert_eq(out.slot_mask, 0x1u);
    ex = ex_of(0x34, 0xffff000012340397ull); /* last byte of slot 2's word */
    cr_assert_eq(km_kvm_arm64_decode_exit(&ex, kva, false, &out), KM_OK);
    cr_assert_eq(out.slot_mask, 0x4u);
    ex = ex_of(0x34, 0xffff000012340398ull); /* one past it */
    cr_assert_eq(km_kvm_arm64_decode_exit(&ex, kva, false, &out), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_WATCH, "still ours: only our watchpoints are live");
    cr_assert_eq(out.slot_mask, 0u);
    ex = ex_of(0x32, 0);
    cr_assert_eq(km_kvm_arm64_decode_exit(&ex, kva, true, &out), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_STEP);
    cr_assert_eq(km_kvm_arm64_decode_exit(&ex, kva, false, &out), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_GUEST, "a step we did not ask for");
    ex = ex_of(0x3c, 0); /* BRK */
    cr_assert_eq(km_kvm_arm64_decode_exit(&ex, kva, false, &out), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_GUEST);
    ex = ex_of(0x35, 0xffff000012340390ull); /* watchpoint from the current EL: not the guest's */
    cr_assert_eq(km_kvm_arm64_decode_exit(&ex, kva, false, &out), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_GUEST);
}

/* ------------------------------------------------------------------ the ioctl path */

typedef struct fake_ioctl {
    int script[8];
    int n;
    int calls;
    unsigned long last_request;
    km_kvm_arm64_guest_debug last_debug;
    uint64_t ttbr1, tcr;
    uint64_t ids[4];
} fake_ioctl;

static int fake(void *ctx, int fd, unsigned long request, void *arg)
{
    fake_ioctl *f = ctx;
    (void)fd;
    int e = f->script[(f->calls < f->n) ? f->calls : (f->n - 1)];
    if (f->calls < 4) {
        f->ids[f->calls] = (request == (unsigned long)KVM_GET_ONE_REG) ? ((struct kvm_one_reg *)arg)->id : 0;
    }
    f->calls++;
    f->last_request = request;
    if (e == 0) {
        if (request == (unsigned long)KM_KVM_ARM64_SET_GUEST_DEBUG) {
            memcpy(&f->last_debug, arg, sizeof(f->last_debug));
        } else if (request == (unsigned long)KVM_GET_ONE_REG) {
            struct kvm_one_reg *reg = arg;
            uint64_t v = (reg->id == KM_KVM_ARM64_REG_TTBR1_EL1) ? f->ttbr1 : f->tcr;
            memcpy((void *)(uintptr_t)reg->addr, &v, sizeof(v));
        }
    }
    return e;
}

static fake_ioctl f;
static km_kvm_arm64_vcpu av;

static void arm64_setup(void)
{
    memset(&f, 0, sizeof(f));
    f.n = 1;
    km_kvm_arm64_vcpu_init(&av, 7, fake, &f);
}

TestSuite(kvm_arm64_vcpu, .init = arm64_setup);

Test(kvm_arm64_vcpu, set_debug_uses_the_arm64_ioctl)
{
    const uint64_t kva[4] = { 0xffff000012340394ull, 0, 0, 0 };
    cr_assert_eq(km_kvm_arm64_set_debug(&av, kva, NULL), KM_OK);
    cr_assert_eq(f.last_request, 0x4208AE9Bul);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[0], 0x1E17u);
    cr_assert_eq(av.kva[0], kva[0]);
    f.script[0] = EINTR;
    km_error err;
    const uint64_t other[4] = { 0xffff000012340398ull, 0, 0, 0 };
    cr_assert_eq(km_kvm_arm64_set_debug(&av, other, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, EINTR);
    cr_assert_eq(av.kva[0], kva[0], "state kept on failure");
}

Test(kvm_arm64_vcpu, step_over_a_hit_reports_it_after_the_store)
{
    const uint64_t kva[4] = { 0xffff000012340390ull, 0, 0xffff000012340394ull, 0 };
    cr_assert_eq(km_kvm_arm64_set_debug(&av, kva, NULL), KM_OK);
    km_kvm_arm64_exit out;
    km_kvm_arm64_debug_exit_arch ex = ex_of(0x34, 0xffff000012340394ull);
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, NULL), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_WATCH);
    cr_assert_eq(out.slot_mask, 0x4u);
    cr_assert_eq(out.hit_mask, 0u, "the store has not happened yet");
    cr_assert(av.step_pending);
    cr_assert_eq(f.last_debug.control, 0x20003u);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[2], 0x1E16u, "hit slot disabled for the step");
    cr_assert_eq(f.last_debug.arch.dbg_wcr[0], 0x1F7u, "other slots stay armed");

    ex = ex_of(0x32, 0);
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, NULL), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_STEP);
    cr_assert_eq(out.hit_mask, 0x4u, "reported once the store landed");
    cr_assert_not(av.step_pending);
    cr_assert_eq(f.last_debug.control, 0x20001u);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[2], 0x1E17u, "re-enabled");
}

Test(kvm_arm64_vcpu, unmatched_watch_steps_with_every_slot_off)
{
    const uint64_t kva[4] = { 0xffff000012340390ull, 0xffff000012340398ull, 0, 0 };
    cr_assert_eq(km_kvm_arm64_set_debug(&av, kva, NULL), KM_OK);
    km_kvm_arm64_exit out;
    km_kvm_arm64_debug_exit_arch ex = ex_of(0x34, 0xffff000012340388ull);
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, NULL), KM_OK);
    cr_assert_eq(out.kind, KM_KVM_ARM64_EXIT_WATCH);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[0], 0x1F6u);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[1], 0x1F6u);
    ex = ex_of(0x32, 0);
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, NULL), KM_OK);
    cr_assert_eq(out.hit_mask, 0u);
}

Test(kvm_arm64_vcpu, a_failed_reissue_keeps_the_step_state)
{
    const uint64_t kva[4] = { 0xffff000012340390ull, 0, 0, 0 };
    cr_assert_eq(km_kvm_arm64_set_debug(&av, kva, NULL), KM_OK);
    f.script[0] = EINTR;
    km_kvm_arm64_exit out;
    memset(&out, 0x5a, sizeof(out));
    km_kvm_arm64_debug_exit_arch ex = ex_of(0x34, 0xffff000012340390ull);
    km_error err;
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, EINTR);
    cr_assert_not(av.step_pending);
    cr_assert_eq(out.slot_mask, 0x5a5a5a5au, "output untouched on failure");
    f.script[0] = 0;
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, &err), KM_OK);
    cr_assert(av.step_pending);
}

Test(kvm_arm64_vcpu, self_arm_during_a_step_keeps_the_slot_disabled)
{
    static const km_wp_arm_ops ops = { km_kvm_arm64_set_debug };
    km_wp_vcpu v;
    km_wp_vcpu_init(&v, &ops, &av);
    km_wp_table t;
    km_wp_table_init(&t, NULL, NULL, -1);
    static volatile uint32_t exit_kind = 0;
    km_wp_root last = { 0, 0 };
    km_wp_root cur = { 0xffff000012340000ull, 1 };
    km_wp_xlate xl = { true, &exit_kind };
    km_wp_step s;
    cr_assert_eq(km_wp_tick(&t, &last, &cur, 912, &xl, &s), KM_OK);
    cr_assert_eq(km_wp_vcpu_self_arm(&t, &v, NULL), KM_OK);
    cr_assert_eq(f.last_debug.arch.dbg_wvr[0], 0xffff000012340390ull);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[0], 0x1F7u);
    /* the guest stores 1025 at exit_kind: watch exit, step, then the hit */
    km_kvm_arm64_exit out;
    km_kvm_arm64_debug_exit_arch ex = ex_of(0x34, 0xffff000012340390ull);
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, NULL), KM_OK);
    /* a user watch arrives while stepping: slot 0 stays off, slot 1 is armed */
    km_wp_symbol sym = { true, 0xffff800080a05000ull, true };
    uint32_t slot = 0;
    cr_assert_eq(km_wp_user_arm(&t, &sym, 0x1000000, "u", 1, &slot, NULL), KM_OK);
    cr_assert_eq(km_wp_vcpu_self_arm(&t, &v, NULL), KM_OK);
    cr_assert_eq(f.last_debug.control, 0x20003u);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[0], 0x1F6u);
    cr_assert_eq(f.last_debug.arch.dbg_wcr[1], 0x1F7u);
    exit_kind = 1025;
    ex = ex_of(0x32, 0);
    cr_assert_eq(km_kvm_arm64_handle_exit(&av, &ex, &out, NULL), KM_OK);
    cr_assert_eq(out.hit_mask, 0x1u);
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&t, &v, out.hit_mask, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_LATCHED);
    cr_assert_eq(r.exit_kind, 1025u);
}

Test(kvm_arm64_vcpu, read_paging_uses_get_one_reg)
{
    f.ttbr1 = 0x41f3a000ull | (1ull << 48);
    f.tcr = 0x35b5193519ull;
    uint64_t ttbr1 = 0, tcr = 0;
    cr_assert_eq(km_kvm_arm64_read_paging(&av, &ttbr1, &tcr, NULL), KM_OK);
    cr_assert_eq(ttbr1, f.ttbr1);
    cr_assert_eq(tcr, f.tcr);
    cr_assert_eq(f.ids[0], KM_KVM_ARM64_REG_TTBR1_EL1);
    cr_assert_eq(f.ids[1], KM_KVM_ARM64_REG_TCR_EL1);
    cr_assert_eq(f.last_request, (unsigned long)KVM_GET_ONE_REG);
    /* the second read fails: error names it, outputs untouched */
    f.calls = 0;
    f.n = 2;
    f.script[0] = 0;
    f.script[1] = ENOENT;
    ttbr1 = 1;
    km_error err;
    cr_assert_eq(km_kvm_arm64_read_paging(&av, &ttbr1, &tcr, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, ENOENT);
    cr_assert_eq(err.index, 1u);
    cr_assert_eq(err.addr, KM_KVM_ARM64_REG_TCR_EL1);
    cr_assert_eq(ttbr1, 1u);
}

Test(kvm_arm64, real_kvm_needs_an_arm64_host)
{
#if defined(__aarch64__)
    cr_skip_test("SKIPPED: the arm64 real-KVM test is not written yet (needs an arm64 host to develop on)");
#else
    cr_skip_test("SKIPPED: host is not arm64; the arm64 backend is tested against the fake ioctl only");
#endif
}
