/* ktmon: the HAL ops table a VM backend implements for the coordinator.
 *
 * Backends: hal/qemu (QMP + gdbstub, this project's e2e and demo target);
 * hal/kvm_x86 and hal/kvm_arm64 provide the debug-register encodings a VMM
 * that embeds libktmon uses to implement the same table from its vCPU
 * threads.  Every op returns a km_status; none may be left unimplemented
 * (an op a backend cannot do returns KM_ERR_UNSUPPORTED, never KM_OK). */
#ifndef KTMON_HAL_H
#define KTMON_HAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/arch.h"
#include "ktmon/status.h"

#define KM_HAL_SLOTS 4u

/* Registers of one vCPU as the coordinator and the dump need them. */
typedef struct km_hal_regs {
    km_arch arch;
    uint64_t pc;
    uint64_t sp;
    uint64_t cr3;    /* x86_64 */
    uint64_t cr4;    /* x86_64 */
    uint64_t ttbr0;  /* aarch64 TTBR0_EL1 */
    uint64_t ttbr1;  /* aarch64 TTBR1_EL1 */
    uint64_t tcr;    /* aarch64 TCR_EL1 */
} km_hal_regs;

/* A watchpoint hit: the VM is frozen when wait_hit reports one. */
typedef struct km_hal_hit {
    uint32_t slot;
    uint64_t addr;   /* address the backend reported */
    int32_t cpu;     /* vCPU that hit, -1 if unknown */
    uint64_t t_ns;   /* CLOCK_MONOTONIC when the backend saw it */
} km_hal_hit;

typedef struct km_hal_ops {
    const char *name;
    /* Stop every vCPU; returns once they are stopped (or KM_ERR_TIMEOUT). */
    km_status (*freeze)(void *ctx, km_error *err);
    /* Let the vCPUs run again. */
    km_status (*thaw)(void *ctx, km_error *err);
    /* Number of vCPUs. */
    km_status (*vcpus)(void *ctx, uint32_t *n, km_error *err);
    /* Registers of vCPU cpu (the backend stops the VM briefly if it must). */
    km_status (*read_regs)(void *ctx, uint32_t cpu, km_hal_regs *out, km_error *err);
    /* Watch writes to [kva, kva+len) in slot (0 = exit_kind, 1..3 user). */
    km_status (*arm)(void *ctx, uint32_t slot, uint64_t kva, uint32_t len, km_error *err);
    km_status (*disarm)(void *ctx, uint32_t slot, km_error *err);
    /* Wait up to timeout_ms for a hit: KM_OK with *hit (VM frozen),
     * KM_ERR_TIMEOUT if none, KM_ERR_IO if the VM is gone. */
    km_status (*wait_hit)(void *ctx, int timeout_ms, km_hal_hit *hit, km_error *err);
    /* Make the store that hit visible in memory (arm64 reports the hit
     * before the store: step over it); a no-op where the hit comes after. */
    km_status (*complete_hit)(void *ctx, const km_hal_hit *hit, km_error *err);
} km_hal_ops;

typedef struct km_hal {
    const km_hal_ops *ops;
    void *ctx;
} km_hal;

#endif /* KTMON_HAL_H */
