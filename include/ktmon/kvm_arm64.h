/* ktmon hal/kvm_arm64: aarch64 watchpoint registers through KVM, for a VMM
 * that embeds libktmon.
 *
 * Up to four write watchpoints in DBGWVR0..3 / DBGWCR0..3 (Arm ARM D13.3):
 *   DBGWVR = kva & ~7                       (doubleword-aligned address)
 *   DBGWCR = E (bit 0) | PAC = 0b11 (bits 2:1, EL1 and EL0)
 *          | LSC = 0b10 (bits 4:3, stores) | BAS (bits 12:5, one bit per byte
 *            of the doubleword: 0xF << (kva & 7) for a 4-byte word)
 *   => 0x1F7 for an 8-aligned kva, 0x1E17 for kva & 7 == 4.
 * An arm64 watchpoint is taken BEFORE the store: to let the store happen the
 * vCPU single-steps the instruction with the hit slot disabled (E = 0), then
 * re-enables it.  The hit is reported at the step exit, when the watched
 * word holds the stored value (km_kvm_arm64_handle_exit).
 *
 * The x86 host's <linux/kvm.h> has the x86 kvm_guest_debug_arch; the arm64
 * layouts below mirror the kernel's arch/arm64/include/uapi/asm/kvm.h
 * (struct kvm_guest_debug_arch, struct kvm_debug_exit_arch,
 * KVM_GUESTDBG_USE_HW) so that this backend builds and is unit-tested on
 * any host.  The generic parts (KVM_GET_ONE_REG, struct kvm_one_reg,
 * KVM_GUESTDBG_ENABLE / SINGLESTEP) come from <linux/kvm.h>.
 *
 * Allocation: none.  System calls: the ioctls named below, through
 * km_kvm_arm64_vcpu.ioctl_fn (tests fake it). */
#ifndef KTMON_KVM_ARM64_H
#define KTMON_KVM_ARM64_H

#include <stdbool.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/status.h"

#define KM_KVM_ARM64_SLOTS 4u
#define KM_KVM_ARM64_MAX_DBG_REGS 16u   /* KVM_ARM_MAX_DBG_REGS */

/* arch/arm64/include/uapi/asm/kvm.h: struct kvm_guest_debug_arch. */
typedef struct km_kvm_arm64_guest_debug_arch {
    uint64_t dbg_bcr[KM_KVM_ARM64_MAX_DBG_REGS];
    uint64_t dbg_bvr[KM_KVM_ARM64_MAX_DBG_REGS];
    uint64_t dbg_wcr[KM_KVM_ARM64_MAX_DBG_REGS];
    uint64_t dbg_wvr[KM_KVM_ARM64_MAX_DBG_REGS];
} km_kvm_arm64_guest_debug_arch;

/* include/uapi/linux/kvm.h: struct kvm_guest_debug, with the arm64 arch part. */
typedef struct km_kvm_arm64_guest_debug {
    uint32_t control;
    uint32_t pad;
    km_kvm_arm64_guest_debug_arch arch;
} km_kvm_arm64_guest_debug;

/* arch/arm64/include/uapi/asm/kvm.h: struct kvm_debug_exit_arch (run->debug.arch). */
typedef struct km_kvm_arm64_debug_exit_arch {
    uint32_t hsr;        /* ESR_EL2[31:0] */
    uint32_t hsr_high;   /* ESR_EL2[61:32] */
    uint64_t far;        /* faulting virtual address (watchpoints) */
} km_kvm_arm64_debug_exit_arch;

_Static_assert(sizeof(km_kvm_arm64_guest_debug_arch) == 512u, "arm64 kvm_guest_debug_arch is 512 bytes");
_Static_assert(sizeof(km_kvm_arm64_guest_debug) == 520u, "arm64 kvm_guest_debug is 520 bytes");
_Static_assert(sizeof(km_kvm_arm64_debug_exit_arch) == 16u, "arm64 kvm_debug_exit_arch is 16 bytes");

/* KVM_GUESTDBG_* (ENABLE and SINGLESTEP are generic; USE_HW is arm64's). */
#define KM_KVM_ARM64_GUESTDBG_ENABLE 0x00000001u
#define KM_KVM_ARM64_GUESTDBG_SINGLESTEP 0x00000002u
#define KM_KVM_ARM64_GUESTDBG_USE_HW 0x00020000u

/* KVM_SET_GUEST_DEBUG on arm64: _IOW(KVMIO, 0x9b, struct kvm_guest_debug),
 * whose size (520) differs from x86's, so the number differs too. */
#define KM_KVM_ARM64_SET_GUEST_DEBUG 0x4208AE9Bu

/* DBGWCR fields. */
#define KM_KVM_ARM64_WCR_E 0x1u             /* enable */
#define KM_KVM_ARM64_WCR_PAC_EL1_EL0 0x6u   /* PAC = 0b11 << 1 */
#define KM_KVM_ARM64_WCR_LSC_STORE 0x10u    /* LSC = 0b10 << 3 */
#define KM_KVM_ARM64_WCR_BAS_SHIFT 5u

/* ESR_ELx exception classes (ESR bits 31:26). */
#define KM_KVM_ARM64_EC_SHIFT 26u
#define KM_KVM_ARM64_EC_MASK 0x3Fu
#define KM_KVM_ARM64_EC_SOFTSTP_LOW 0x32u   /* software step from a lower EL */
#define KM_KVM_ARM64_EC_WATCHPT_LOW 0x34u   /* watchpoint from a lower EL */

/* KVM_GET_ONE_REG ids: ARM64_SYS_REG(op0, op1, CRn, CRm, op2). */
#define KM_KVM_ARM64_REG_TTBR0_EL1 UINT64_C(0x603000000013C100)
#define KM_KVM_ARM64_REG_TTBR1_EL1 UINT64_C(0x603000000013C101)
#define KM_KVM_ARM64_REG_TCR_EL1 UINT64_C(0x603000000013C102)

/* An ioctl as tests can replace it: 0 on success, otherwise the errno. */
typedef int (*km_kvm_arm64_ioctl_fn)(void *ctx, int fd, unsigned long request, void *arg);

typedef struct km_kvm_arm64_vcpu {
    int fd;                          /* the KVM vCPU fd */
    km_kvm_arm64_ioctl_fn ioctl_fn;  /* km_kvm_arm64_sys_ioctl, or a fake */
    void *ioctl_ctx;
    uint64_t kva[KM_KVM_ARM64_SLOTS];  /* the requests last loaded */
    bool step_pending;               /* stepping over a watched store */
    uint32_t step_mask;              /* slots disabled (E = 0) during the step */
    uint32_t pending_hits;           /* slots hit, reported when the step completes */
} km_kvm_arm64_vcpu;

typedef enum km_kvm_arm64_exit_kind {
    KM_KVM_ARM64_EXIT_GUEST = 0,   /* not ours: the VMM handles it as before */
    KM_KVM_ARM64_EXIT_WATCH,       /* a watchpoint: step over the store */
    KM_KVM_ARM64_EXIT_STEP         /* our single-step completed */
} km_kvm_arm64_exit_kind;

typedef struct km_kvm_arm64_exit {
    km_kvm_arm64_exit_kind kind;
    uint32_t slot_mask;   /* WATCH: the slots whose [kva, kva+4) holds FAR */
    uint32_t hit_mask;    /* handle_exit, STEP: slots whose store has now landed */
} km_kvm_arm64_exit;

/* ioctl(2) on fd; 0 or errno.  ctx is unused. */
KM_API int km_kvm_arm64_sys_ioctl(void *ctx, int fd, unsigned long request, void *arg);

KM_API void km_kvm_arm64_vcpu_init(km_kvm_arm64_vcpu *v, int fd, km_kvm_arm64_ioctl_fn fn, void *ctx);

/* ARM64_SYS_REG(op0, op1, crn, crm, op2) as a KVM_GET_ONE_REG id (64-bit). */
/*@ assigns \nothing; */
KM_API uint64_t km_kvm_arm64_sysreg_id(uint32_t op0, uint32_t op1, uint32_t crn, uint32_t crm,
                                       uint32_t op2);

/* DBGWVR / DBGWCR for a 4-byte store watch at kva (kva & 3 == 0). */
/*@ assigns \nothing; */
KM_API uint64_t km_kvm_arm64_wvr(uint64_t kva);
/*@ assigns \nothing; */
KM_API uint64_t km_kvm_arm64_wcr(uint64_t kva, bool enable);

/* The KVM_SET_GUEST_DEBUG argument for kva[0..3] (0 = off); slots in
 * step_mask are loaded with E = 0 and SINGLESTEP is requested while
 * step_pending.  Nothing armed and no step: control 0.  KM_ERR_MISALIGNED
 * (out untouched) for an armed kva with kva & 3 != 0. */
KM_API km_status km_kvm_arm64_encode(const uint64_t kva[KM_KVM_ARM64_SLOTS], bool step_pending,
                                     uint32_t step_mask, km_kvm_arm64_guest_debug *out);

/* Decode run->debug.arch against the loaded kva[] (pure):
 *   EC 0x32 with a step pending: STEP; without: GUEST.
 *   EC 0x34: WATCH; slot_mask = armed slots with FAR in [kva, kva+4).  Under
 *     KVM_GUESTDBG_USE_HW only our watchpoints are live, so an EC 0x34 whose
 *     FAR matches none (a wider store that starts below kva) is still ours:
 *     WATCH with slot_mask 0, and the whole step runs with every slot off
 *     (the reference calls it guest-owned and would re-trap forever).
 *   anything else: GUEST. */
KM_API km_status km_kvm_arm64_decode_exit(const km_kvm_arm64_debug_exit_arch *ex,
                                          const uint64_t kva[KM_KVM_ARM64_SLOTS], bool step_pending,
                                          km_kvm_arm64_exit *out);

/* A km_wp_set_debug_fn: ctx is a km_kvm_arm64_vcpu.  Encodes kva with the
 * vCPU's step state and issues KVM_SET_GUEST_DEBUG once (EINTR comes back
 * as KM_ERR_IO, sys_errno EINTR); on success v->kva = kva. */
KM_API km_status km_kvm_arm64_set_debug(void *ctx, const uint64_t kva[KM_KVM_ARM64_SLOTS], km_error *err);

/* After KVM_EXIT_DEBUG: decode, and drive the step-over.  WATCH: remember
 * the slots, disable them, request SINGLESTEP (reissue) - hit_mask 0, the
 * store has not happened yet.  STEP: re-enable, clear the step (reissue) -
 * hit_mask = the slots of the WATCH exit, to hand to km_wp_vcpu_on_hit now
 * that the store landed.  GUEST: nothing.  *out is written on KM_OK. */
KM_API km_status km_kvm_arm64_handle_exit(km_kvm_arm64_vcpu *v, const km_kvm_arm64_debug_exit_arch *ex,
                                          km_kvm_arm64_exit *out, km_error *err);

/* TTBR1_EL1 and TCR_EL1 (KVM_GET_ONE_REG), for the aarch64 page walker. */
KM_API km_status km_kvm_arm64_read_paging(const km_kvm_arm64_vcpu *v, uint64_t *ttbr1, uint64_t *tcr,
                                          km_error *err);

#endif /* KTMON_KVM_ARM64_H */
