/* Unit tests: hal/kvm_x86 (DR7 encoding bit for bit, DR6 decoding, the
 * ioctl path through a fake, the self-arm integration) and one test against
 * a real KVM vCPU when /dev/kvm can run it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ktmon/kvm_x86.h"
#include "ktmon/watchpoint_fsm.h"

/* ------------------------------------------------------------------ encoding */

Test(kvm_x86, dr7_reference_values)
{
    const uint64_t slot0[4] = { 0x1000, 0, 0, 0 };
    const uint64_t slot2[4] = { 0, 0, 0x2000, 0 };
    const uint64_t all[4] = { 0x1000, 0x1004, 0x1008, 0x100c };
    const uint64_t none[4] = { 0, 0, 0, 0 };
    cr_assert_eq(km_kvm_x86_dr7(slot0), UINT64_C(0xD0703));
    /* 0x700 | 3<<4 | 1<<24 | 3<<26 */
    cr_assert_eq(km_kvm_x86_dr7(slot2), UINT64_C(0xD000730));
    /* 0x700 | 0xFF | RW=01 x4 (0x11110000) | LEN=11 x4 (0xCCCC0000) */
    cr_assert_eq(km_kvm_x86_dr7(all), UINT64_C(0xDDDD07FF));
    cr_assert_eq(km_kvm_x86_dr7(none), 0u);
}

Test(kvm_x86, dr7_matches_the_formula_for_every_subset)
{
    for (uint32_t m = 1; m < 16; m++) {
        uint64_t kva[4] = { 0, 0, 0, 0 };
        uint64_t want = 0x700;
        for (uint32_t i = 0; i < 4; i++) {
            if (m & (1u << i)) {
                kva[i] = 0xffffffff81000000ull + 4u * i;
                want |= (3ull << (2 * i)) | (1ull << (16 + 4 * i)) | (3ull << (18 + 4 * i));
            }
        }
        cr_assert_eq(km_kvm_x86_dr7(kva), want, "subset %u", m);
    }
}

Test(kvm_x86, encode_sets_control_and_registers)
{
    const uint64_t kva[4] = { 0xffff888012340390ull, 0, 0xffffffff82a05000ull, 0 };
    struct kvm_guest_debug d;
    memset(&d, 0xee, sizeof(d));
    cr_assert_eq(km_kvm_x86_encode(kva, &d), KM_OK);
    cr_assert_eq(d.control, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP);
    cr_assert_eq(d.control, 0x20001u);
    cr_assert_eq(d.pad, 0u);
    cr_assert_eq(d.arch.debugreg[0], kva[0]);
    cr_assert_eq(d.arch.debugreg[1], 0u);
    cr_assert_eq(d.arch.debugreg[2], kva[2]);
    cr_assert_eq(d.arch.debugreg[3], 0u);
    cr_assert_eq(d.arch.debugreg[4], 0u);
    cr_assert_eq(d.arch.debugreg[6], 0u);
    cr_assert_eq(d.arch.debugreg[7], UINT64_C(0xD0D0733));
}

Test(kvm_x86, nothing_armed_turns_debugging_off)
{
    const uint64_t none[4] = { 0, 0, 0, 0 };
    struct kvm_guest_debug d;
    memset(&d, 0xee, sizeof(d));
    cr_assert_eq(km_kvm_x86_encode(none, &d), KM_OK);
    cr_assert_eq(d.control, 0u);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(d.arch.debugreg[i], 0u);
    }
}

Test(kvm_x86, misaligned_is_refused_and_output_untouched)
{
    const uint64_t kva[4] = { 0x1002, 0, 0, 0 };
    struct kvm_guest_debug d;
    memset(&d, 0xee, sizeof(d));
    cr_assert_eq(km_kvm_x86_encode(kva, &d), KM_ERR_MISALIGNED);
    cr_assert_eq(d.control, 0xeeeeeeeeu);
}

Test(kvm_x86, dr6_decodes_armed_slots_only)
{
    const uint64_t kva[4] = { 0x1000, 0, 0x2000, 0x3000 };
    cr_assert_eq(km_kvm_x86_decode_dr6(0xffff0ff1ull, kva), 0x1u);
    cr_assert_eq(km_kvm_x86_decode_dr6(0xffff0ff4ull, kva), 0x4u);
    cr_assert_eq(km_kvm_x86_decode_dr6(0xffff0ffdull, kva), 0xDu);
    cr_assert_eq(km_kvm_x86_decode_dr6(0xffff0ff2ull, kva), 0x0u, "B1 of a disabled DR1");
    cr_assert_eq(km_kvm_x86_decode_dr6(0xffff4ff0ull, kva), 0x0u, "BS (single-step) is not a watch");
}

Test(kvm_x86, decode_exit_ignores_non_db_exceptions)
{
    km_kvm_x86_vcpu v;
    km_kvm_x86_vcpu_init(&v, -1, NULL, NULL);
    v.kva[1] = 0x1004;
    struct kvm_debug_exit_arch ex;
    memset(&ex, 0, sizeof(ex));
    ex.exception = 1;
    ex.dr6 = 0xffff0ff2ull;
    uint32_t mask = 99;
    cr_assert_eq(km_kvm_x86_decode_exit(&v, &ex, &mask), KM_OK);
    cr_assert_eq(mask, 0x2u);
    ex.exception = 3; /* #BP */
    cr_assert_eq(km_kvm_x86_decode_exit(&v, &ex, &mask), KM_OK);
    cr_assert_eq(mask, 0u);
}

/* ------------------------------------------------------------------ the ioctl path */

typedef struct fake_ioctl {
    int script[8];
    int n;
    int calls;
    unsigned long last_request;
    struct kvm_guest_debug last_debug;
    uint64_t cr3, cr4;
} fake_ioctl;

static int fake(void *ctx, int fd, unsigned long request, void *arg)
{
    fake_ioctl *f = ctx;
    (void)fd;
    int e = f->script[(f->calls < f->n) ? f->calls : (f->n - 1)];
    f->calls++;
    f->last_request = request;
    if (e == 0) {
        if (request == (unsigned long)KVM_SET_GUEST_DEBUG) {
            memcpy(&f->last_debug, arg, sizeof(f->last_debug));
        } else if (request == (unsigned long)KVM_GET_SREGS) {
            struct kvm_sregs *s = arg;
            memset(s, 0, sizeof(*s));
            s->cr3 = f->cr3;
            s->cr4 = f->cr4;
        }
    }
    return e;
}

Test(kvm_x86, set_debug_issues_kvm_set_guest_debug)
{
    fake_ioctl f;
    memset(&f, 0, sizeof(f));
    f.n = 1;
    km_kvm_x86_vcpu v;
    km_kvm_x86_vcpu_init(&v, 42, fake, &f);
    const uint64_t kva[4] = { 0xffff888012340390ull, 0, 0, 0 };
    cr_assert_eq(km_kvm_x86_set_debug(&v, kva, NULL), KM_OK);
    cr_assert_eq(f.last_request, (unsigned long)KVM_SET_GUEST_DEBUG);
    cr_assert_eq(f.last_debug.arch.debugreg[0], kva[0]);
    cr_assert_eq(f.last_debug.arch.debugreg[7], UINT64_C(0xD0703));
    cr_assert_eq(v.kva[0], kva[0]);
}

Test(kvm_x86, set_debug_errors_carry_errno_and_keep_state)
{
    fake_ioctl f;
    memset(&f, 0, sizeof(f));
    f.n = 1;
    f.script[0] = EINTR;
    km_kvm_x86_vcpu v;
    km_kvm_x86_vcpu_init(&v, 42, fake, &f);
    const uint64_t kva[4] = { 0x1000, 0, 0, 0 };
    km_error err;
    cr_assert_eq(km_kvm_x86_set_debug(&v, kva, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, EINTR);
    cr_assert_eq(v.kva[0], 0u);
    f.script[0] = EINVAL;
    cr_assert_eq(km_kvm_x86_set_debug(&v, kva, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, EINVAL);
    cr_assert_eq(km_kvm_x86_set_debug(NULL, kva, &err), KM_ERR_INVALID_ARG);
}

Test(kvm_x86, read_paging_uses_kvm_get_sregs)
{
    fake_ioctl f;
    memset(&f, 0, sizeof(f));
    f.n = 1;
    f.cr3 = 0x1d2e000;
    f.cr4 = 0x3506f0 | (1u << 12);
    km_kvm_x86_vcpu v;
    km_kvm_x86_vcpu_init(&v, 42, fake, &f);
    uint64_t cr3 = 0, cr4 = 0;
    cr_assert_eq(km_kvm_x86_read_paging(&v, &cr3, &cr4, NULL), KM_OK);
    cr_assert_eq(f.last_request, (unsigned long)KVM_GET_SREGS);
    cr_assert_eq(cr3, 0x1d2e000u);
    cr_assert_eq(cr4 & (1u << 12), 1u << 12);
    f.script[0] = EBADF;
    cr3 = 7;
    km_error err;
    cr_assert_eq(km_kvm_x86_read_paging(&v, &cr3, &cr4, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, EBADF);
    cr_assert_eq(cr3, 7u);
}

Test(kvm_x86, drives_the_watchpoint_fsm_self_arm)
{
    fake_ioctl f;
    memset(&f, 0, sizeof(f));
    f.n = 2;
    f.script[0] = EINTR; /* a signal kicked the vCPU thread: retried, not counted */
    f.script[1] = 0;
    km_kvm_x86_vcpu kv;
    km_kvm_x86_vcpu_init(&kv, 42, fake, &f);
    static const km_wp_arm_ops ops = { km_kvm_x86_set_debug };
    km_wp_vcpu v;
    km_wp_vcpu_init(&v, &ops, &kv);
    km_wp_table t;
    km_wp_table_init(&t, NULL, NULL, -1);
    static volatile uint32_t exit_kind = 1025;
    km_wp_root last = { 0, 0 };
    km_wp_root cur = { 0xffff888012340000ull, 1 };
    km_wp_xlate xl = { true, &exit_kind };
    km_wp_step s;
    cr_assert_eq(km_wp_tick(&t, &last, &cur, 912, &xl, &s), KM_OK);
    cr_assert_eq(km_wp_vcpu_self_arm(&t, &v, NULL), KM_OK);
    cr_assert_eq(f.calls, 2);
    cr_assert_eq(f.last_debug.arch.debugreg[0], 0xffff888012340390ull);
    cr_assert_eq(f.last_debug.arch.debugreg[7], UINT64_C(0xD0703));
    /* a KVM_EXIT_DEBUG with DR6.B0 latches */
    struct kvm_debug_exit_arch ex = { .exception = 1, .dr6 = 0xffff0ff1ull };
    uint32_t mask = 0;
    cr_assert_eq(km_kvm_x86_decode_exit(&kv, &ex, &mask), KM_OK);
    km_wp_hit_report r;
    cr_assert_eq(km_wp_vcpu_on_hit(&t, &v, mask, &r), KM_OK);
    cr_assert_eq(r.slot[0], KM_WP_FIRE_LATCHED);
}

/* ------------------------------------------------------------------ a real KVM vCPU */

/* Guest physical layout of the test VM (identity-mapped by one 2 MiB page). */
#define G_CODE 0x1000u
#define G_WATCH0 0x2000u
#define G_WATCH2 0x3004u
#define G_PML4 0x10000u
#define G_PDPT 0x11000u
#define G_PD 0x12000u
#define G_SIZE 0x200000u

typedef struct real_vm {
    int kvm, vm, cpu;
    uint8_t *mem;
    struct kvm_run *run;
    size_t run_size;
} real_vm;

static void real_vm_close(real_vm *r)
{
    if (r->run != NULL && r->run != MAP_FAILED) {
        munmap(r->run, r->run_size);
    }
    if (r->mem != NULL && r->mem != MAP_FAILED) {
        munmap(r->mem, G_SIZE);
    }
    if (r->cpu >= 0) {
        close(r->cpu);
    }
    if (r->vm >= 0) {
        close(r->vm);
    }
    if (r->kvm >= 0) {
        close(r->kvm);
    }
}

/* A 64-bit flat guest at G_CODE:
 *   mov dword [G_WATCH0], 0x11223344 ; mov dword [G_WATCH2], 5 ; hlt
 * Returns NULL on success or why the host cannot run it (a skip reason). */
static const char *real_vm_open(real_vm *r)
{
    static char why[160];
    memset(r, 0, sizeof(*r));
    r->kvm = r->vm = r->cpu = -1;
    r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (r->kvm < 0) {
        snprintf(why, sizeof(why), "no usable /dev/kvm (%s)", strerror(errno));
        return why;
    }
    if (ioctl(r->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SET_GUEST_DEBUG) <= 0) {
        return "KVM without KVM_CAP_SET_GUEST_DEBUG";
    }
    r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
    if (r->vm < 0) {
        snprintf(why, sizeof(why), "KVM_CREATE_VM failed (%s)", strerror(errno));
        return why;
    }
    r->mem = mmap(NULL, G_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(r->mem, MAP_FAILED);
    const uint8_t code[] = {
        0xc7, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11, /* mov dword [0x2000], imm */
        0xc7, 0x04, 0x25, 0x04, 0x30, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, /* mov dword [0x3004], 5 */
        0xf4,                                                             /* hlt */
    };
    memcpy(r->mem + G_CODE, code, sizeof(code));
    uint64_t *pml4 = (uint64_t *)(void *)(r->mem + G_PML4);
    uint64_t *pdpt = (uint64_t *)(void *)(r->mem + G_PDPT);
    uint64_t *pd = (uint64_t *)(void *)(r->mem + G_PD);
    pml4[0] = G_PDPT | 3u;
    pdpt[0] = G_PD | 3u;
    pd[0] = 0x83u; /* 2 MiB page at 0, present, writable */
    struct kvm_userspace_memory_region reg = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = G_SIZE, .userspace_addr = (uint64_t)(uintptr_t)r->mem,
    };
    cr_assert_eq(ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &reg), 0, "%s", strerror(errno));
    r->cpu = ioctl(r->vm, KVM_CREATE_VCPU, 0);
    cr_assert_geq(r->cpu, 0, "KVM_CREATE_VCPU: %s", strerror(errno));
    int sz = ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    cr_assert_gt(sz, 0);
    r->run_size = (size_t)sz;
    r->run = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->cpu, 0);
    cr_assert_neq(r->run, MAP_FAILED);
    struct kvm_sregs s;
    cr_assert_eq(ioctl(r->cpu, KVM_GET_SREGS, &s), 0);
    struct kvm_segment seg = { .base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 11, .present = 1,
                               .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1 };
    s.cs = seg;
    seg.type = 3;
    seg.selector = 0x10;
    seg.l = 0;
    seg.db = 1;
    s.ds = s.es = s.fs = s.gs = s.ss = seg;
    s.cr3 = G_PML4;
    s.cr4 = 0x20;          /* PAE */
    s.cr0 = 0x80000011;    /* PG | ET | PE */
    s.efer = 0x500;        /* LMA | LME */
    cr_assert_eq(ioctl(r->cpu, KVM_SET_SREGS, &s), 0, "%s", strerror(errno));
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = G_CODE;
    regs.rflags = 2;
    cr_assert_eq(ioctl(r->cpu, KVM_SET_REGS, &regs), 0);
    return NULL;
}

/* kvm_pvm (a paravirtualised KVM, e.g. on some cloud hosts) accepts
 * KVM_SET_GUEST_DEBUG and reports execute breakpoints and single-steps, but
 * does not report data (write) breakpoints: checked by hand on such a host. */
static bool host_is_kvm_pvm(void)
{
    return access("/sys/module/kvm_pvm", F_OK) == 0;
}

Test(kvm_x86, real_kvm_reads_cr3_and_cr4)
{
    real_vm r;
    const char *why = real_vm_open(&r);
    if (why != NULL) {
        real_vm_close(&r);
        cr_skip_test("SKIPPED: %s", why);
    }
    km_kvm_x86_vcpu kv;
    km_kvm_x86_vcpu_init(&kv, r.cpu, km_kvm_x86_sys_ioctl, NULL);
    uint64_t cr3 = 0, cr4 = 0;
    cr_assert_eq(km_kvm_x86_read_paging(&kv, &cr3, &cr4, NULL), KM_OK);
    cr_assert_eq(cr3, G_PML4);
    cr_assert_eq(cr4 & 0x20u, 0x20u);
    real_vm_close(&r);
}

Test(kvm_x86, real_kvm_write_watch_exits_and_decodes, .timeout = 30)
{
    real_vm r;
    const char *why = real_vm_open(&r);
    if (why != NULL) {
        real_vm_close(&r);
        cr_skip_test("SKIPPED: %s", why);
    }
    km_kvm_x86_vcpu kv;
    km_kvm_x86_vcpu_init(&kv, r.cpu, km_kvm_x86_sys_ioctl, NULL);
    const uint64_t kva[4] = { G_WATCH0, 0, G_WATCH2, 0 };
    km_error err;
    cr_assert_eq(km_kvm_x86_set_debug(&kv, kva, &err), KM_OK, "KVM_SET_GUEST_DEBUG: errno %d", err.sys_errno);

    cr_assert_eq(ioctl(r.cpu, KVM_RUN, 0), 0, "%s", strerror(errno));
    if ((r.run->exit_reason == KVM_EXIT_HLT) && host_is_kvm_pvm()) {
        /* The guest ran both stores to the end without a debug exit. */
        cr_assert_eq(*(volatile uint32_t *)(void *)(r.mem + G_WATCH0), 0x11223344u);
        real_vm_close(&r);
        cr_skip_test("SKIPPED: host KVM is kvm_pvm, which does not report data breakpoints "
                     "(KVM_EXIT_DEBUG never comes for a write watch)");
    }
    cr_assert_eq(r.run->exit_reason, KVM_EXIT_DEBUG, "exit %u", r.run->exit_reason);
    uint32_t mask = 0;
    cr_assert_eq(km_kvm_x86_decode_exit(&kv, &r.run->debug.arch, &mask), KM_OK);
    cr_assert_eq(mask, 0x1u, "DR6 %#llx", (unsigned long long)r.run->debug.arch.dr6);
    /* x86 data breakpoints are traps: the store has landed. */
    cr_assert_eq(*(volatile uint32_t *)(void *)(r.mem + G_WATCH0), 0x11223344u);

    cr_assert_eq(ioctl(r.cpu, KVM_RUN, 0), 0);
    cr_assert_eq(r.run->exit_reason, KVM_EXIT_DEBUG);
    cr_assert_eq(km_kvm_x86_decode_exit(&kv, &r.run->debug.arch, &mask), KM_OK);
    cr_assert_eq(mask, 0x4u, "the second store hits DR2");
    cr_assert_eq(*(volatile uint32_t *)(void *)(r.mem + G_WATCH2), 5u);

    cr_assert_eq(ioctl(r.cpu, KVM_RUN, 0), 0);
    cr_assert_eq(r.run->exit_reason, KVM_EXIT_HLT);
    real_vm_close(&r);
}
