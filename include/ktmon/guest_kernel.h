/* ktmon: the guest kernel handshake and kernel-address translation.
 *
 * From nothing but guest RAM, the vCPU registers and the vmlinux symbols,
 * km_guest_kernel learns where the running kernel is:
 *
 *   x86_64  The kernel image is mapped in the top 2 GiB (__START_KERNEL_map,
 *           0xffffffff80000000) with 2 MiB pages and nothing below _text
 *           (cleanup_highmap), so the first mapped 2 MiB slot there is the
 *           runtime _text: KASLR offset = runtime _text - link _text.  With
 *           PTI a vCPU may be on the user copy of the PGD (CR3 bit 12 set),
 *           which maps only entry text: the kernel PGD is tried too.
 *           phys_base = PA(_text) - (_text - __START_KERNEL_map), modulo 2^64
 *           (it can be "negative").  page_offset_base is read from the image.
 *   aarch64 TTBR1_EL1 holds swapper_pg_dir (or, under KPTI at EL0,
 *           tramp_pg_dir): its PA fixes the image's physical base, and the
 *           image's kimage_voffset variable gives runtime VA - PA, hence the
 *           KASLR offset.  PAGE_OFFSET = -(1 << VA_BITS) from TCR_EL1.T1SZ;
 *           linear-map PA = (va - PAGE_OFFSET) + memstart_addr.
 *
 * Every result is checked before it is believed: linux_banner read through
 * the page tables must be the vmlinux's banner (a different text is
 * KM_ERR_MISMATCH: the vmlinux does not match the guest), and the direct
 * map must map the kernel image at the PA just computed (until the guest
 * has built it, KM_ERR_NOT_READY).
 *
 * Lazy boot-race init: km_gk_try_init is called each scan tick until it
 * succeeds.  Each attempt loads the registers afresh through the caller's
 * callback, leaves the state not-ready on failure and records the latest
 * error.  Per-CPU offsets are a separate step, cached only when every slot
 * is valid.  After init nothing allocates and nothing is re-parsed.
 *
 * Kernel-version facts used (7.x; unchanged since 5.x): the x86_64
 * __START_KERNEL_map value and 2 MiB kernel mapping, cleanup_highmap();
 * arm64 kimage_voffset and memstart_addr semantics, swapper_pg_dir in
 * TTBR1_EL1. */
#ifndef KTMON_GUEST_KERNEL_H
#define KTMON_GUEST_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/arch.h"
#include "ktmon/ksym.h"
#include "ktmon/mem.h"
#include "ktmon/pgwalk.h"
#include "ktmon/status.h"

#define KM_GK_MAX_CPUS 512u
#define KM_GK_BANNER_MAX 256u
#define KM_X86_START_KERNEL_MAP UINT64_C(0xffffffff80000000)
/* x86_64 KASLR moves the kernel by at most 1 GiB (CONFIG_RANDOMIZE_BASE_MAX_OFFSET). */
#define KM_X86_KASLR_MAX (UINT64_C(1) << 30)

/* Registers of one vCPU, as the handshake needs them. */
typedef struct km_gk_regs {
    km_arch arch;
    uint64_t cr3;    /* x86_64 */
    uint64_t cr4;    /* x86_64: LA57 is bit 12 */
    uint64_t ttbr1;  /* aarch64 TTBR1_EL1 */
    uint64_t tcr;    /* aarch64 TCR_EL1 */
} km_gk_regs;

/* Loads a fresh register snapshot of vCPU `cpu` (QMP, gdbstub, KVM, a test). */
typedef km_status (*km_gk_regs_fn)(void *ctx, uint32_t cpu, km_gk_regs *out);

/* Link-time facts from the vmlinux.  0 means absent. */
typedef struct km_gk_symbols {
    km_arch arch;
    uint64_t text;              /* _text (required) */
    uint64_t end;               /* _end */
    uint64_t linux_banner;      /* required */
    uint64_t per_cpu_offset;    /* __per_cpu_offset (required for per-CPU) */
    uint64_t nr_cpu_ids;
    uint64_t cpu_number;        /* per-CPU int holding the CPU's own index (x86_64) */
    uint64_t page_offset_base;  /* x86_64 (required there) */
    uint64_t init_top_pgt;      /* x86_64 */
    uint64_t swapper_pg_dir;    /* aarch64 (required there) */
    uint64_t tramp_pg_dir;      /* aarch64, KPTI */
    uint64_t kimage_voffset;    /* aarch64 (required there) */
    uint64_t memstart_addr;     /* aarch64 (required there) */
    uint32_t banner_len;        /* bytes of banner (0: check the "Linux version " prefix only) */
    uint8_t banner[KM_GK_BANNER_MAX];
} km_gk_symbols;

/* Which step of the handshake failed. */
typedef enum km_gk_stage {
    KM_GK_STAGE_NONE = 0,
    KM_GK_STAGE_SYMBOLS,      /* a required symbol is missing */
    KM_GK_STAGE_REGISTERS,    /* no usable registers yet */
    KM_GK_STAGE_KERNEL_BASE,  /* runtime _text not found */
    KM_GK_STAGE_BANNER,       /* linux_banner check */
    KM_GK_STAGE_LAYOUT,       /* page_offset_base / kimage_voffset / memstart_addr */
    KM_GK_STAGE_DIRECT_MAP,   /* direct map not (yet) consistent */
    KM_GK_STAGE_PERCPU        /* per-CPU offsets not (yet) valid */
} km_gk_stage;

typedef struct km_gk_error {
    km_status status;
    km_gk_stage stage;
    uint64_t addr;    /* address involved (KVA or PA), or 0 */
    uint32_t index;   /* CPU index for per-CPU failures, else KM_NO_INDEX */
} km_gk_error;

typedef struct km_guest_kernel {
    const km_mem *mem;
    km_gk_symbols sym;
    km_arch arch;
    bool ready;                 /* handshake done: the fields below are valid */
    km_pgwalk_cfg cfg;          /* kernel page tables */
    km_tlb tlb;
    uint64_t kaslr;             /* runtime - link */
    uint64_t text_kva;          /* runtime _text */
    uint64_t text_pa;           /* PA of _text */
    uint64_t text_end_kva;      /* runtime _end, or 0 if unknown */
    uint64_t phys_base;         /* x86_64 phys_base (modular) */
    uint64_t kimage_voffset;    /* aarch64: kernel image VA - PA */
    uint64_t page_offset;       /* start of the direct map */
    uint64_t direct_pa_base;    /* PA mapped at page_offset (x86: 0; arm64: memstart_addr) */
    bool la57;
    bool percpu_ready;
    uint32_t ncpus;
    uint64_t percpu[KM_GK_MAX_CPUS];
    uint32_t attempts;          /* failed try_init attempts since the last success */
    km_gk_error last;           /* the latest failure */
} km_guest_kernel;

/* Fill symbols from a loaded vmlinux symbol table (the banner text is the
 * caller's: see km_gk_set_banner). KM_ERR_NO_SYMBOL names the first missing
 * required symbol in *missing. */
KM_API km_status km_gk_symbols_from_ksym(const km_ksym *ks, km_arch arch, km_gk_symbols *out,
                                         const char **missing);
/* The vmlinux's linux_banner bytes (up to the first NUL), for the mismatch check. */
KM_API void km_gk_set_banner(km_gk_symbols *s, const uint8_t *bytes, uint32_t len);

KM_API void km_gk_init(km_guest_kernel *gk, const km_mem *mem, const km_gk_symbols *sym);

/* One handshake attempt with the given registers.  On failure the state is
 * not ready and *err (may be NULL) says where it stopped. */
KM_API km_status km_gk_handshake(km_guest_kernel *gk, const km_gk_regs *regs, km_gk_error *err);

/* Lazy init for the scan tick: no-op once ready; else loads vCPU 0's
 * registers through fn and runs the handshake, counting failed attempts. */
KM_API km_status km_gk_try_init(km_guest_kernel *gk, km_gk_regs_fn fn, void *ctx);

/* Per-CPU offsets (after the handshake): reads nr_cpu_ids and
 * __per_cpu_offset[]; cached only when every slot is valid: non-zero, its
 * per-CPU area translates, no two CPUs share an offset (before
 * setup_per_cpu_areas() every slot holds the same boot offset), and, where
 * the kernel has the per-CPU cpu_number, it holds the slot's own index.
 * No-op once cached. */
KM_API km_status km_gk_try_init_percpu(km_guest_kernel *gk, km_gk_error *err);

/* Has try_init failed at least `n` times in a row (time to warn)? */
KM_API bool km_gk_should_warn(const km_guest_kernel *gk, uint32_t n);

/* Drop cached translations (call on thaw or when the guest may have remapped). */
KM_API void km_gk_invalidate(km_guest_kernel *gk);

/* Runtime address of a link-time kernel-image address. */
KM_API km_status km_gk_sym_kva(const km_guest_kernel *gk, uint64_t link, uint64_t *kva);
/* Physical address of a kernel VA: kernel image and direct map by arithmetic,
 * anything else by a (cached) page walk.  User-half addresses are refused. */
KM_API km_status km_gk_kva_to_pa(km_guest_kernel *gk, uint64_t kva, uint64_t *pa);
/* Address of per-CPU variable (link address) for cpu. */
KM_API km_status km_gk_percpu_kva(const km_guest_kernel *gk, uint64_t link, uint32_t cpu, uint64_t *kva);

/* Reads at a kernel VA (the span must not cross a page). */
KM_API km_status km_gk_read_u32(km_guest_kernel *gk, uint64_t kva, uint32_t *out);
KM_API km_status km_gk_read_u64(km_guest_kernel *gk, uint64_t kva, uint64_t *out);
/* Reads len bytes at kva, page by page (each page translated on its own). */
KM_API km_status km_gk_read_bytes(km_guest_kernel *gk, uint64_t kva, uint8_t *dst, size_t len);

KM_API const char *km_gk_stage_name(km_gk_stage s);

#endif /* KTMON_GUEST_KERNEL_H */
