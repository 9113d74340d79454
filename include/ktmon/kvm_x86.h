/* ktmon hal/kvm_x86: x86_64 debug registers through KVM, for a VMM that
 * embeds libktmon.
 *
 * Up to four write watchpoints, one per DR0..DR3, each 4 bytes long (the
 * watched words are u32, 4-byte aligned).  The vCPU side of
 * modules/watchpoint_fsm drives them through km_kvm_x86_set_debug, whose
 * signature is a km_wp_set_debug_fn: pass a km_kvm_x86_vcpu as its ctx.
 *
 * Every ioctl goes through km_kvm_x86_vcpu.ioctl_fn so that tests can fake
 * success, EINTR and errors; km_kvm_x86_sys_ioctl is the real one.
 *
 * DR7 (Intel SDM vol. 3, 18.2.4): per enabled slot i, L_i|G_i (3 << 2i),
 * R/W_i = 01 "data writes" (1 << (16 + 4i)), LEN_i = 11 "4 bytes"
 * (3 << (18 + 4i)); plus LE|GE (bits 8, 9) and bit 10 (reserved, reads as 1):
 * 0x700.  DR0 alone: 0xD0703.  On KVM_EXIT_DEBUG, DR6 bits B0..B3 say which
 * condition matched.
 *
 * Allocation: none.  System calls: the ioctls named below. */
#ifndef KTMON_KVM_X86_H
#define KTMON_KVM_X86_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "ktmon/api.h"
#include "ktmon/status.h"

#define KM_KVM_X86_SLOTS 4u

#define KM_KVM_X86_DR7_BASE UINT64_C(0x700)   /* LE | GE | reserved bit 10 */
#define KM_KVM_X86_DR6_B_MASK UINT64_C(0xF)   /* B0..B3 */
#define KM_KVM_X86_DB_VECTOR 1u               /* #DB: hardware breakpoints, single-step */

/* An ioctl as tests can replace it: 0 on success, otherwise the errno. */
typedef int (*km_kvm_x86_ioctl_fn)(void *ctx, int fd, unsigned long request, void *arg);

typedef struct km_kvm_x86_vcpu {
    int fd;                        /* the KVM vCPU fd */
    km_kvm_x86_ioctl_fn ioctl_fn;      /* km_kvm_x86_sys_ioctl, or a fake */
    void *ioctl_ctx;
    uint64_t kva[KM_KVM_X86_SLOTS]; /* what the last successful set_debug loaded */
} km_kvm_x86_vcpu;

/* ioctl(2) on fd; 0 or errno.  ctx is unused. */
KM_API int km_kvm_x86_sys_ioctl(void *ctx, int fd, unsigned long request, void *arg);

/*@ requires \valid(v);
    assigns *v;
    ensures v->fd == fd && v->ioctl_fn == fn && v->ioctl_ctx == ctx; */
KM_API void km_kvm_x86_vcpu_init(km_kvm_x86_vcpu *v, int fd, km_kvm_x86_ioctl_fn fn, void *ctx);

/* DR7 for the slots with kva[i] != 0 (0 when none is). */
/*@ requires \valid_read(kva + (0 .. 3));
    assigns \nothing; */
KM_API uint64_t km_kvm_x86_dr7(const uint64_t kva[KM_KVM_X86_SLOTS]);

/* The KVM_SET_GUEST_DEBUG argument for kva[0..3] (0 = slot off): control
 * ENABLE | USE_HW_BP, debugreg[i] = kva[i], debugreg[7] = DR7; all slots
 * off gives control 0 (guest debugging off).  KM_ERR_MISALIGNED (out
 * untouched) if an armed kva is not 4-byte aligned: DR LEN=11 ignores the
 * low two address bits. */
/*@ requires \valid_read(kva + (0 .. 3)) && \valid(out);
    assigns *out; */
KM_API km_status km_kvm_x86_encode(const uint64_t kva[KM_KVM_X86_SLOTS], struct kvm_guest_debug *out);

/* Slots (bit i = slot i) whose DR6 B bit is set and that are armed (kva[i]
 * != 0); DR6 may report B bits of disabled registers. */
/*@ requires \valid_read(kva + (0 .. 3));
    assigns \nothing;
    ensures \result <= 0xF; */
KM_API uint32_t km_kvm_x86_decode_dr6(uint64_t dr6, const uint64_t kva[KM_KVM_X86_SLOTS]);

/* Decode run->debug.arch of a KVM_EXIT_DEBUG against what this vCPU has
 * loaded: *slot_mask = the watch slots that fired (0: not one of ours, e.g.
 * a #BP or a single-step; the VMM handles it as before).  Always KM_OK. */
KM_API km_status km_kvm_x86_decode_exit(const km_kvm_x86_vcpu *v, const struct kvm_debug_exit_arch *ex,
                                        uint32_t *slot_mask);

/* A km_wp_set_debug_fn: ctx is a km_kvm_x86_vcpu.  Encodes kva[0..3] and
 * issues KVM_SET_GUEST_DEBUG once (EINTR is returned, as KM_ERR_IO with
 * sys_errno EINTR, for the caller to retry); on success v->kva = kva. */
KM_API km_status km_kvm_x86_set_debug(void *ctx, const uint64_t kva[KM_KVM_X86_SLOTS], km_error *err);

/* CR3 and CR4 of the vCPU (KVM_GET_SREGS), for the page walker: CR3 is the
 * root, CR4 bit 12 (LA57) selects 5-level paging. */
KM_API km_status km_kvm_x86_read_paging(const km_kvm_x86_vcpu *v, uint64_t *cr3, uint64_t *cr4,
                                        km_error *err);

#endif /* KTMON_KVM_X86_H */
