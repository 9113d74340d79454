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
#define KM_X86_START_KERNEL_MAP ((uint64_t)0xffffffff80000000u)
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

/*@ // x modulo 2^64 for x in (-2^64, 2^65): kernel address arithmetic wraps
    // around (a "negative" phys_base, a runtime - link difference).
    logic integer km_u64(integer x) =
        x < 0 ? x + 18446744073709551616 : (x > 18446744073709551615 ? x - 18446744073709551616 : x);

    // Runtime address of per-CPU variable `link` in the area at offset 0:
    // zero-based per-CPU symbols (link < 2^47, x86_64) are offsets KASLR does
    // not move; the others move with the kernel image.
    logic integer km_gk_pcpu_base(integer link, integer kaslr) =
        link < 140737488355328 ? link : km_u64(link + kaslr);

    // The kernel half is where the VA bits from this one up are all set:
    // bit 47 (x86_64 4-level: kva >= 0xffff800000000000), 56 (LA57:
    // kva >= 0xff00000000000000), VA_BITS (aarch64: the TTBR1 range).
    logic integer km_gk_half_shift(km_guest_kernel *gk) =
        gk->arch == KM_ARCH_AARCH64 ? gk->cfg.va_bits : (gk->la57 ? 56 : 47);

    predicate km_gk_in_kernel_half(km_guest_kernel *gk, integer kva) =
        (kva >> km_gk_half_shift(gk)) == (18446744073709551615 >> km_gk_half_shift(gk));

    // What every km_guest_kernel satisfies from km_gk_init on: a walk
    // configuration from the page walker (or none: zeros), a CPU count
    // within the offset table.
    predicate km_gk_shape_ok(km_guest_kernel *gk) =
        \valid_read(gk) && gk->cfg.va_bits <= 63 && gk->ncpus <= KM_GK_MAX_CPUS;

    // ... and what translation needs once the handshake is done: the guest
    // memory table and the walk configuration the handshake adopted (both
    // proved shapes, include/ktmon/mem.h and pgwalk.h), apart from gk.
    predicate km_gk_xlate_ok(km_guest_kernel *gk) =
        km_gk_shape_ok(gk) && \valid(gk) &&
        (gk->ready ==> km_mem_ok(gk->mem) && km_pgwalk_cfg_ok(&gk->cfg) && \separated(gk, gk->mem));

    // The kernel image, [runtime _text, runtime _end).
    predicate km_gk_in_image(km_guest_kernel *gk, integer kva) =
        gk->text_end_kva != 0 && gk->text_kva <= kva < gk->text_end_kva;

    // The direct map: at most half the kernel VA space from PAGE_OFFSET,
    // and only where it lands in guest RAM (beyond: vmalloc, vmemmap, ...).
    logic integer km_gk_direct_shift(km_guest_kernel *gk) =
        gk->arch == KM_ARCH_AARCH64 ? (gk->cfg.va_bits > 0 ? gk->cfg.va_bits - 1 : 0) : (gk->la57 ? 55 : 46);

    predicate km_gk_in_direct_map(km_guest_kernel *gk, integer kva) =
        kva >= gk->page_offset && ((kva - gk->page_offset) >> km_gk_direct_shift(gk)) == 0 &&
        km_mapped(gk->mem, km_u64((kva - gk->page_offset) + gk->direct_pa_base), 1);
*/

/* Fill symbols from a loaded vmlinux symbol table (the banner text is the
 * caller's: see km_gk_set_banner). KM_ERR_NO_SYMBOL names the first missing
 * required symbol in *missing. */
KM_API km_status km_gk_symbols_from_ksym(const km_ksym *ks, km_arch arch, km_gk_symbols *out,
                                         const char **missing);
/* The vmlinux's linux_banner bytes (up to the first NUL, at most
 * KM_GK_BANNER_MAX of them), for the mismatch check. */
/*@ requires \valid(s);
    requires len > 0 ==> \valid_read(bytes + (0 .. len - 1));
    requires \separated(s, bytes + (0 .. len - 1));
    assigns s->banner[0 .. KM_GK_BANNER_MAX - 1], s->banner_len;
    ensures s->banner_len <= len && s->banner_len <= KM_GK_BANNER_MAX;
    ensures \forall integer i; 0 <= i < s->banner_len ==> s->banner[i] == bytes[i] && bytes[i] != 0;
    ensures s->banner_len < len && s->banner_len < KM_GK_BANNER_MAX ==> bytes[s->banner_len] == 0; */
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
/*@ requires \valid_read(gk);
    assigns \nothing;
    ensures \result <==> (!gk->ready && gk->attempts >= n && n > 0); */
KM_API bool km_gk_should_warn(const km_guest_kernel *gk, uint32_t n);

/* Drop cached translations (call on thaw or when the guest may have remapped). */
/*@ requires \valid(gk);
    assigns gk->tlb.e[0 .. KM_TLB_ENTRIES - 1];
    ensures \forall integer i; 0 <= i < KM_TLB_ENTRIES ==> gk->tlb.e[i].valid == 0; */
KM_API void km_gk_invalidate(km_guest_kernel *gk);

/* Runtime address of a link-time kernel-image address: link + KASLR offset, modulo 2^64. */
/*@ requires \valid_read(gk) && \valid(kva) && \separated(gk, kva);
    assigns *kva;
    behavior ready:
      assumes gk->ready;
      ensures \result == KM_OK && *kva == km_u64(link + gk->kaslr);
    behavior not_ready:
      assumes !gk->ready;
      ensures \result == KM_ERR_NOT_READY && *kva == \old(*kva);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_gk_sym_kva(const km_guest_kernel *gk, uint64_t link, uint64_t *kva);
/* Physical address of a kernel VA: kernel image and direct map by arithmetic,
 * anything else by a (cached) page walk.  User-half addresses are refused. */
/*@ requires km_gk_xlate_ok(gk) && \valid(pa) && \separated(pa, gk);
    requires gk->ready ==> \separated(pa, gk->mem);
    assigns gk->tlb, *pa;
    behavior not_ready:
      assumes !gk->ready;
      ensures \result == KM_ERR_NOT_READY && *pa == \old(*pa);
    behavior user_half:
      assumes gk->ready && !km_gk_in_kernel_half(gk, kva);
      ensures \result == KM_ERR_RANGE && *pa == \old(*pa);
    behavior image:
      assumes gk->ready && km_gk_in_kernel_half(gk, kva) && km_gk_in_image(gk, kva);
      ensures \result == KM_OK && *pa == km_u64(gk->text_pa + (kva - gk->text_kva));
    behavior direct_map:
      assumes gk->ready && km_gk_in_kernel_half(gk, kva) && !km_gk_in_image(gk, kva) &&
              km_gk_in_direct_map(gk, kva);
      ensures \result == KM_OK && *pa == km_u64((kva - gk->page_offset) + gk->direct_pa_base);
    behavior walk:
      assumes gk->ready && km_gk_in_kernel_half(gk, kva) && !km_gk_in_image(gk, kva) &&
              !km_gk_in_direct_map(gk, kva);
      ensures \result == KM_OK || \result == KM_ERR_RANGE || \result == KM_ERR_UNMAPPED ||
              \result == KM_ERR_TABLE_OUTSIDE_RAM;
      ensures \result != KM_OK ==> *pa == \old(*pa);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_gk_kva_to_pa(km_guest_kernel *gk, uint64_t kva, uint64_t *pa);
/* Address of per-CPU variable (link address) for cpu: its base (see
 * km_gk_pcpu_base) plus that CPU's __per_cpu_offset, modulo 2^64. */
/*@ requires km_gk_shape_ok(gk) && \valid(kva) && \separated(gk, kva);
    assigns *kva;
    behavior not_ready:
      assumes !gk->percpu_ready;
      ensures \result == KM_ERR_NOT_READY && *kva == \old(*kva);
    behavior no_such_cpu:
      assumes gk->percpu_ready && cpu >= gk->ncpus;
      ensures \result == KM_ERR_RANGE && *kva == \old(*kva);
    behavior cpu:
      assumes gk->percpu_ready && cpu < gk->ncpus;
      ensures \result == KM_OK;
      ensures *kva == km_u64(km_gk_pcpu_base(link, gk->kaslr) + gk->percpu[cpu]);
    complete behaviors;
    disjoint behaviors; */
KM_API km_status km_gk_percpu_kva(const km_guest_kernel *gk, uint64_t link, uint32_t cpu, uint64_t *kva);

/* Reads at a kernel VA (little-endian).  A value that crosses a 4 KiB page
 * boundary is read byte by byte, each page translated on its own.  *out is
 * written only on success. */
KM_API km_status km_gk_read_u32(km_guest_kernel *gk, uint64_t kva, uint32_t *out);
KM_API km_status km_gk_read_u64(km_guest_kernel *gk, uint64_t kva, uint64_t *out);
/* Reads len bytes at kva, page by page (each page translated on its own);
 * on failure dst may hold the pages read before the one that failed. */
KM_API km_status km_gk_read_bytes(km_guest_kernel *gk, uint64_t kva, uint8_t *dst, size_t len);

/* A fixed English name of the stage ("unknown" for a value outside the enum). */
/*@ assigns \result \from s;
    ensures \valid_read(\result); */
KM_API const char *km_gk_stage_name(km_gk_stage s);

#endif /* KTMON_GUEST_KERNEL_H */
