/* ktmon hal/kvm_arm64: DBGWVR/DBGWCR write watchpoints through
 * KVM_SET_GUEST_DEBUG, KVM_EXIT_DEBUG decoding with the single-step over the
 * hit, TTBR1_EL1/TCR_EL1 through KVM_GET_ONE_REG.  Allocation-free; the only
 * system calls are the ioctls, made through v->ioctl_fn. */
#include "ktmon/kvm_arm64.h"

#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

/* The mirrored arm64 layout and ioctl number agree with the generic
 * _IOW encoding (asm-generic/ioctl.h, used by x86_64 and arm64 alike). */
_Static_assert(_IOW(KVMIO, 0x9b, km_kvm_arm64_guest_debug) == KM_KVM_ARM64_SET_GUEST_DEBUG,
               "arm64 KVM_SET_GUEST_DEBUG number");
_Static_assert(KVM_GUESTDBG_ENABLE == KM_KVM_ARM64_GUESTDBG_ENABLE, "KVM_GUESTDBG_ENABLE");
_Static_assert(KVM_GUESTDBG_SINGLESTEP == KM_KVM_ARM64_GUESTDBG_SINGLESTEP, "KVM_GUESTDBG_SINGLESTEP");
_Static_assert(sizeof(struct kvm_one_reg) == 16u, "kvm_one_reg is generic: id + addr");

/* KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG (include/uapi/linux/kvm.h,
 * arch/arm64/include/uapi/asm/kvm.h). */
#define KM_KVM_ARM64_REG_SYSREG_BASE UINT64_C(0x6030000000130000)

int km_kvm_arm64_sys_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
    (void)ctx;
    int rc = 0;
    if (ioctl(fd, request, arg) < 0) {
        rc = errno;
    }
    return rc;
}

void km_kvm_arm64_vcpu_init(km_kvm_arm64_vcpu *v, int fd, km_kvm_arm64_ioctl_fn fn, void *ctx)
{
    v->fd = fd;
    v->ioctl_fn = fn;
    v->ioctl_ctx = ctx;
    for (uint32_t i = 0u; i < KM_KVM_ARM64_SLOTS; i++) {
        v->kva[i] = 0u;
    }
    v->step_pending = false;
    v->step_mask = 0u;
    v->pending_hits = 0u;
}

uint64_t km_kvm_arm64_sysreg_id(uint32_t op0, uint32_t op1, uint32_t crn, uint32_t crm, uint32_t op2)
{
    /* KVM_REG_ARM64_SYSREG_{OP0,OP1,CRN,CRM,OP2}_{SHIFT,MASK}. */
    uint64_t enc = (((uint64_t)op0 & 0x3u) << 14) | (((uint64_t)op1 & 0x7u) << 11) |
                   (((uint64_t)crn & 0xFu) << 7) | (((uint64_t)crm & 0xFu) << 3) |
                   ((uint64_t)op2 & 0x7u);
    return KM_KVM_ARM64_REG_SYSREG_BASE | enc;
}

uint64_t km_kvm_arm64_wvr(uint64_t kva)
{
    return kva & ~UINT64_C(7);
}

uint64_t km_kvm_arm64_wcr(uint64_t kva, bool enable)
{
    /* BAS: the four bytes of the word inside its doubleword. */
    const uint64_t byte = kva & 7u;
    const uint64_t bas = UINT64_C(0xF) << byte;
    uint64_t wcr = (uint64_t)KM_KVM_ARM64_WCR_PAC_EL1_EL0 | (uint64_t)KM_KVM_ARM64_WCR_LSC_STORE |
                   (bas << KM_KVM_ARM64_WCR_BAS_SHIFT);
    if (enable) {
        wcr |= (uint64_t)KM_KVM_ARM64_WCR_E;
    }
    return wcr;
}

km_status km_kvm_arm64_encode(const uint64_t kva[KM_KVM_ARM64_SLOTS], bool step_pending,
                              uint32_t step_mask, km_kvm_arm64_guest_debug *out)
{
    km_status st = KM_OK;
    bool any = false;
    for (uint32_t i = 0u; i < KM_KVM_ARM64_SLOTS; i++) {
        if (kva[i] != 0u) {
            any = true;
            /* BAS must stay inside the doubleword: 4-byte words only. */
            if ((kva[i] % 4u) != 0u) {
                st = KM_ERR_MISALIGNED;
            }
        }
    }
    if (st == KM_OK) {
        km_kvm_arm64_guest_debug d;
        d.control = 0u;
        d.pad = 0u;
        for (uint32_t r = 0u; r < KM_KVM_ARM64_MAX_DBG_REGS; r++) {
            d.arch.dbg_bcr[r] = 0u;
            d.arch.dbg_bvr[r] = 0u;
            d.arch.dbg_wcr[r] = 0u;
            d.arch.dbg_wvr[r] = 0u;
        }
        if (any || step_pending) {
            d.control = KM_KVM_ARM64_GUESTDBG_ENABLE | KM_KVM_ARM64_GUESTDBG_USE_HW;
            if (step_pending) {
                d.control |= KM_KVM_ARM64_GUESTDBG_SINGLESTEP;
            }
            for (uint32_t i = 0u; i < KM_KVM_ARM64_SLOTS; i++) {
                if (kva[i] != 0u) {
                    const bool stepping = step_pending && ((step_mask & ((uint32_t)1u << i)) != 0u);
                    d.arch.dbg_wvr[i] = km_kvm_arm64_wvr(kva[i]);
                    d.arch.dbg_wcr[i] = km_kvm_arm64_wcr(kva[i], !stepping);
                }
            }
        }
        *out = d;
    }
    return st;
}

km_status km_kvm_arm64_decode_exit(const km_kvm_arm64_debug_exit_arch *ex,
                                   const uint64_t kva[KM_KVM_ARM64_SLOTS], bool step_pending,
                                   km_kvm_arm64_exit *out)
{
    km_kvm_arm64_exit r;
    r.kind = KM_KVM_ARM64_EXIT_GUEST;
    r.slot_mask = 0u;
    r.hit_mask = 0u;
    const uint32_t ec = (ex->hsr >> KM_KVM_ARM64_EC_SHIFT) & KM_KVM_ARM64_EC_MASK;
    if (ec == KM_KVM_ARM64_EC_SOFTSTP_LOW) {
        if (step_pending) {
            r.kind = KM_KVM_ARM64_EXIT_STEP;
        }
    } else if (ec == KM_KVM_ARM64_EC_WATCHPT_LOW) {
        r.kind = KM_KVM_ARM64_EXIT_WATCH;
        for (uint32_t i = 0u; i < KM_KVM_ARM64_SLOTS; i++) {
            if ((kva[i] != 0u) && (ex->far >= kva[i]) && ((ex->far - kva[i]) < 4u)) {
                r.slot_mask |= (uint32_t)1u << i;
            }
        }
    } else {
        /* Not a debug event of ours. */
    }
    *out = r;
    return KM_OK;
}

/* Mask of the slots with a request. */
static uint32_t km_kvm_arm64_armed_mask(const uint64_t kva[KM_KVM_ARM64_SLOTS])
{
    uint32_t m = 0u;
    for (uint32_t i = 0u; i < KM_KVM_ARM64_SLOTS; i++) {
        if (kva[i] != 0u) {
            m |= (uint32_t)1u << i;
        }
    }
    return m;
}

/* Encode kva with the given step state and issue KVM_SET_GUEST_DEBUG. */
static km_status km_kvm_arm64_issue(const km_kvm_arm64_vcpu *v, const uint64_t kva[KM_KVM_ARM64_SLOTS],
                                    bool step_pending, uint32_t step_mask, km_error *err)
{
    km_kvm_arm64_guest_debug d;
    km_status st = km_kvm_arm64_encode(kva, step_pending, step_mask, &d);
    if (st == KM_OK) {
        int e = v->ioctl_fn(v->ioctl_ctx, v->fd, (unsigned long)KM_KVM_ARM64_SET_GUEST_DEBUG, &d);
        if (e != 0) {
            st = KM_ERR_IO;
            (void)km_error_set(err, st, 0u, KM_NO_INDEX, (int32_t)e);
        }
    } else {
        (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
    }
    return st;
}

km_status km_kvm_arm64_set_debug(void *ctx, const uint64_t kva[KM_KVM_ARM64_SLOTS], km_error *err)
{
    /* cppcheck-suppress misra-c2012-11.5 ; the callback's ctx is the vCPU its owner registered, docs/misra-deviations.md */
    km_kvm_arm64_vcpu *v = ctx;
    km_status st = KM_ERR_INVALID_ARG;
    if ((v != NULL) && (v->ioctl_fn != NULL)) {
        st = km_kvm_arm64_issue(v, kva, v->step_pending, v->step_mask, err);
        if (st == KM_OK) {
            for (uint32_t i = 0u; i < KM_KVM_ARM64_SLOTS; i++) {
                v->kva[i] = kva[i];
            }
        }
    } else {
        (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
    }
    return st;
}

km_status km_kvm_arm64_handle_exit(km_kvm_arm64_vcpu *v, const km_kvm_arm64_debug_exit_arch *ex,
                                   km_kvm_arm64_exit *out, km_error *err)
{
    km_kvm_arm64_exit r = { KM_KVM_ARM64_EXIT_GUEST, 0u, 0u };
    km_status st = KM_ERR_INVALID_ARG;
    if (v->ioctl_fn != NULL) {
        st = km_kvm_arm64_decode_exit(ex, v->kva, v->step_pending, &r);
    } else {
        (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
    }
    if ((st == KM_OK) && (r.kind == KM_KVM_ARM64_EXIT_WATCH)) {
        /* Disable the hit slots (all armed ones if FAR matched none) for
         * one step, so the store can complete. */
        uint32_t off = (r.slot_mask != 0u) ? r.slot_mask : km_kvm_arm64_armed_mask(v->kva);
        uint32_t mask = v->step_mask | off;
        st = km_kvm_arm64_issue(v, v->kva, true, mask, err);
        if (st == KM_OK) {
            v->step_pending = true;
            v->step_mask = mask;
            v->pending_hits |= r.slot_mask;
        }
    } else if ((st == KM_OK) && (r.kind == KM_KVM_ARM64_EXIT_STEP)) {
        st = km_kvm_arm64_issue(v, v->kva, false, 0u, err);
        if (st == KM_OK) {
            r.hit_mask = v->pending_hits;
            v->step_pending = false;
            v->step_mask = 0u;
            v->pending_hits = 0u;
        }
    } else {
        /* GUEST, or no backend: nothing to do. */
    }
    if (st == KM_OK) {
        *out = r;
    }
    return st;
}

km_status km_kvm_arm64_read_paging(const km_kvm_arm64_vcpu *v, uint64_t *ttbr1, uint64_t *tcr,
                                   km_error *err)
{
    km_status st = KM_ERR_INVALID_ARG;
    if (v->ioctl_fn != NULL) {
        uint64_t t1 = 0u;
        uint64_t tc = 0u;
        struct kvm_one_reg reg;
        reg.id = KM_KVM_ARM64_REG_TTBR1_EL1;
        /* cppcheck-suppress misra-c2012-11.4 ; KVM_GET_ONE_REG takes the buffer as a u64, docs/misra-deviations.md */
        reg.addr = (uint64_t)(uintptr_t)&t1;
        int e = v->ioctl_fn(v->ioctl_ctx, v->fd, (unsigned long)KVM_GET_ONE_REG, &reg);
        uint32_t which = 0u;
        if (e == 0) {
            reg.id = KM_KVM_ARM64_REG_TCR_EL1;
            /* cppcheck-suppress misra-c2012-11.4 ; KVM_GET_ONE_REG takes the buffer as a u64, docs/misra-deviations.md */
            reg.addr = (uint64_t)(uintptr_t)&tc;
            which = 1u;
            e = v->ioctl_fn(v->ioctl_ctx, v->fd, (unsigned long)KVM_GET_ONE_REG, &reg);
        }
        if (e != 0) {
            st = KM_ERR_IO;
            (void)km_error_set(err, st, reg.id, which, (int32_t)e);
        } else {
            *ttbr1 = t1;
            *tcr = tc;
            st = KM_OK;
        }
    } else {
        (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
    }
    return st;
}
