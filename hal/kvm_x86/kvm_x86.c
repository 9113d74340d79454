/* ktmon hal/kvm_x86: DR0..DR3 write watchpoints through KVM_SET_GUEST_DEBUG,
 * KVM_EXIT_DEBUG decoding, CR3/CR4 through KVM_GET_SREGS.  Allocation-free;
 * the only system calls are the ioctls, made through v->ioctl_fn. */
#include "ktmon/kvm_x86.h"

#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>

/* The layout this file relies on (the system's <linux/kvm.h>, x86_64). */
_Static_assert(sizeof(((struct kvm_guest_debug *)NULL)->arch.debugreg) == (8u * sizeof(uint64_t)),
               "x86 kvm_guest_debug_arch holds DR0..DR7");

int km_kvm_x86_sys_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
    (void)ctx;
    int rc = 0;
    if (ioctl(fd, request, arg) < 0) {
        rc = errno;
    }
    return rc;
}

void km_kvm_x86_vcpu_init(km_kvm_x86_vcpu *v, int fd, km_kvm_x86_ioctl_fn fn, void *ctx)
{
    v->fd = fd;
    v->ioctl_fn = fn;
    v->ioctl_ctx = ctx;
    for (uint32_t i = 0u; i < KM_KVM_X86_SLOTS; i++) {
        v->kva[i] = 0u;
    }
}

uint64_t km_kvm_x86_dr7(const uint64_t kva[KM_KVM_X86_SLOTS])
{
    uint64_t dr7 = 0u;
    for (uint32_t i = 0u; i < KM_KVM_X86_SLOTS; i++) {
        if (kva[i] != 0u) {
            const uint32_t enable_shift = 2u * i;          /* L_i, G_i */
            const uint32_t rw_shift = 16u + (4u * i);      /* R/W_i = 01: data writes */
            const uint32_t len_shift = 18u + (4u * i);     /* LEN_i = 11: 4 bytes */
            dr7 |= (UINT64_C(3) << enable_shift) | (UINT64_C(1) << rw_shift) |
                   (UINT64_C(3) << len_shift);
        }
    }
    if (dr7 != 0u) {
        dr7 |= KM_KVM_X86_DR7_BASE;
    }
    return dr7;
}

km_status km_kvm_x86_encode(const uint64_t kva[KM_KVM_X86_SLOTS], struct kvm_guest_debug *out)
{
    km_status st = KM_OK;
    bool any = false;
    for (uint32_t i = 0u; i < KM_KVM_X86_SLOTS; i++) {
        if (kva[i] != 0u) {
            any = true;
            if ((kva[i] % 4u) != 0u) {
                st = KM_ERR_MISALIGNED;
            }
        }
    }
    if (st == KM_OK) {
        struct kvm_guest_debug d;
        d.control = 0u;
        d.pad = 0u;
        for (uint32_t i = 0u; i < 8u; i++) {
            d.arch.debugreg[i] = 0u;
        }
        if (any) {
            d.control = (uint32_t)KVM_GUESTDBG_ENABLE | (uint32_t)KVM_GUESTDBG_USE_HW_BP;
            for (uint32_t i = 0u; i < KM_KVM_X86_SLOTS; i++) {
                d.arch.debugreg[i] = kva[i];
            }
            d.arch.debugreg[7] = km_kvm_x86_dr7(kva);
        }
        *out = d;
    }
    return st;
}

uint32_t km_kvm_x86_decode_dr6(uint64_t dr6, const uint64_t kva[KM_KVM_X86_SLOTS])
{
    uint32_t mask = 0u;
    for (uint32_t i = 0u; i < KM_KVM_X86_SLOTS; i++) {
        if (((dr6 & (UINT64_C(1) << i)) != 0u) && (kva[i] != 0u)) {
            mask |= (uint32_t)1u << i;
        }
    }
    return mask;
}

km_status km_kvm_x86_decode_exit(const km_kvm_x86_vcpu *v, const struct kvm_debug_exit_arch *ex,
                                 uint32_t *slot_mask)
{
    uint32_t mask = 0u;
    /* Data breakpoints raise #DB; a #BP (int3) is the VMM's or the guest's. */
    if (ex->exception == KM_KVM_X86_DB_VECTOR) {
        mask = km_kvm_x86_decode_dr6(ex->dr6, v->kva);
    }
    *slot_mask = mask;
    return KM_OK;
}

km_status km_kvm_x86_set_debug(void *ctx, const uint64_t kva[KM_KVM_X86_SLOTS], km_error *err)
{
    /* cppcheck-suppress misra-c2012-11.5 ; the callback's ctx is the vCPU its owner registered, docs/misra-deviations.md */
    km_kvm_x86_vcpu *v = ctx;
    km_status st = KM_ERR_INVALID_ARG;
    if ((v != NULL) && (v->ioctl_fn != NULL)) {
        struct kvm_guest_debug d;
        st = km_kvm_x86_encode(kva, &d);
        if (st == KM_OK) {
            int e = v->ioctl_fn(v->ioctl_ctx, v->fd, (unsigned long)KVM_SET_GUEST_DEBUG, &d);
            if (e != 0) {
                st = KM_ERR_IO;
                (void)km_error_set(err, st, 0u, KM_NO_INDEX, (int32_t)e);
            } else {
                for (uint32_t i = 0u; i < KM_KVM_X86_SLOTS; i++) {
                    v->kva[i] = kva[i];
                }
            }
        } else {
            (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
        }
    } else {
        (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
    }
    return st;
}

km_status km_kvm_x86_read_paging(const km_kvm_x86_vcpu *v, uint64_t *cr3, uint64_t *cr4, km_error *err)
{
    km_status st = KM_ERR_INVALID_ARG;
    if (v->ioctl_fn != NULL) {
        struct kvm_sregs sregs;
        int e = v->ioctl_fn(v->ioctl_ctx, v->fd, (unsigned long)KVM_GET_SREGS, &sregs);
        if (e != 0) {
            st = KM_ERR_IO;
            (void)km_error_set(err, st, 0u, KM_NO_INDEX, (int32_t)e);
        } else {
            *cr3 = sregs.cr3;
            *cr4 = sregs.cr4;
            st = KM_OK;
        }
    } else {
        (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
    }
    return st;
}
