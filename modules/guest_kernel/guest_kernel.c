/* ktmon: the guest kernel handshake, the per-CPU gate and reads at kernel
 * VAs (see include/ktmon/guest_kernel.h).  The translation (gk_xlate.c) and
 * the pure arithmetic (gk_pure.c) are WP-proved; this file is checked by the
 * unit tests and the real-kernel e2e tests. */
#include "ktmon/guest_kernel.h"

#include <stddef.h>
#include <string.h>

#include "gk_int.h"

#define KM_X86_CR3_PTI_BIT (UINT64_C(1) << 12)
#define KM_2M (UINT64_C(1) << 21)
#define KM_X86_KERNEL_SLOTS 512u
#define KM_BANNER_PREFIX_LEN 14u
/* Smallest page of both architectures: a span inside one such page needs one translation. */
#define KM_PAGE_SIZE_MIN UINT64_C(4096)

void km_gk_init(km_guest_kernel *gk, const km_mem *mem, const km_gk_symbols *sym)
{
    (void)memset(gk, 0, sizeof(*gk));
    gk->mem = mem;
    gk->sym = *sym;
    gk->arch = sym->arch;
    gk->last.status = KM_ERR_NOT_READY;
    gk->last.stage = KM_GK_STAGE_NONE;
    gk->last.index = KM_NO_INDEX;
    km_tlb_init(&gk->tlb);
}

/* Does the banner at pa match the vmlinux's (or at least look like one)? */
static km_status km_gk_check_banner(const km_guest_kernel *gk, uint64_t pa)
{
    uint8_t buf[KM_GK_BANNER_MAX];
    size_t got = 0u;
    uint32_t want = (gk->sym.banner_len > 0u) ? gk->sym.banner_len : KM_BANNER_PREFIX_LEN;
    km_status st = km_mem_read_bytes(gk->mem, pa, buf, want, &got);
    if ((st == KM_OK) && (got < want)) {
        st = KM_ERR_RANGE;
    }
    if (st == KM_OK) {
        /* "Linux version ", the start of every linux_banner (bytes, not a C string) */
        static const uint8_t prefix[KM_BANNER_PREFIX_LEN] = {0x4cu, 0x69u, 0x6eu, 0x75u, 0x78u, 0x20u, 0x76u,
                                                             0x65u, 0x72u, 0x73u, 0x69u, 0x6fu, 0x6eu, 0x20u};
        if (memcmp(buf, prefix, KM_BANNER_PREFIX_LEN) != 0) {
            st = KM_ERR_NOT_READY; /* not the banner: wrong base guess, or not booted */
        } else if ((gk->sym.banner_len > 0u) && (memcmp(buf, gk->sym.banner, gk->sym.banner_len) != 0)) {
            st = KM_ERR_MISMATCH; /* a kernel, but not this vmlinux's */
        } else {
            /* the vmlinux's banner */
        }
    }
    return st;
}

/* Does the direct map (page_offset, direct_pa_base) map the kernel image at text_pa? */
static bool km_gk_direct_map_ok(const km_guest_kernel *gk)
{
    km_pgwalk_result r;
    uint64_t va = gk->page_offset + (gk->text_pa - gk->direct_pa_base);
    return (km_pgwalk_walk(gk->mem, &gk->cfg, va, &r, NULL) == KM_OK) && (r.pa == gk->text_pa);
}

/* x86_64: find runtime _text under one root and check the banner. */
static km_status km_gk_x86_try_root(km_guest_kernel *gk, uint64_t root, bool la57, km_gk_error *err)
{
    km_pgwalk_cfg cfg;
    km_status st = km_pgwalk_cfg_x86_64(root, la57, &cfg);
    uint64_t text_kva = 0u;
    uint64_t text_pa = 0u;
    const km_gk_symbols *s = &gk->sym;
    if (st != KM_OK) {
        st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_REGISTERS, root);
    } else {
        /* The first mapped 2 MiB slot at or above the link-time _text is the runtime _text. */
        uint32_t first = (uint32_t)((s->text - KM_X86_START_KERNEL_MAP) / KM_2M);
        bool found = false;
        for (uint32_t i = first; (i < KM_X86_KERNEL_SLOTS) && !found; i++) {
            km_pgwalk_result r;
            uint64_t va = KM_X86_START_KERNEL_MAP + ((uint64_t)i * KM_2M);
            if (km_pgwalk_walk(gk->mem, &cfg, va, &r, NULL) == KM_OK) {
                text_kva = va;
                text_pa = r.pa;
                found = true;
            }
        }
        if (!found) {
            st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_KERNEL_BASE, root);
        } else if ((text_kva - s->text) >= KM_X86_KASLR_MAX) {
            st = km_gk_fail(err, KM_ERR_BAD_DATA, KM_GK_STAGE_KERNEL_BASE, text_kva);
        } else {
            km_pgwalk_result r;
            uint64_t banner_kva = s->linux_banner + (text_kva - s->text);
            st = km_pgwalk_walk(gk->mem, &cfg, banner_kva, &r, NULL);
            if ((st != KM_OK) || (r.pa != km_gk_image_pa(s, text_pa, s->linux_banner))) {
                st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_BANNER, banner_kva);
            } else {
                st = km_gk_check_banner(gk, r.pa);
                if (st != KM_OK) {
                    (void)km_gk_fail(err, st, KM_GK_STAGE_BANNER, banner_kva);
                }
            }
        }
    }
    if (st == KM_OK) {
        gk->cfg = cfg;
        gk->text_kva = text_kva;
        gk->text_pa = text_pa;
        gk->kaslr = text_kva - s->text;
    }
    return st;
}

static km_status km_gk_x86_handshake(km_guest_kernel *gk, const km_gk_regs *regs, km_gk_error *err)
{
    const km_gk_symbols *s = &gk->sym;
    bool la57 = (regs->cr4 & KM_X86_CR4_LA57) != 0u;
    uint64_t root = regs->cr3 & KM_X86_CR3_ADDR_MASK;
    km_status st;
    if ((s->page_offset_base == 0u) || (s->text < KM_X86_START_KERNEL_MAP)) {
        st = km_gk_fail(err, KM_ERR_NO_SYMBOL, KM_GK_STAGE_SYMBOLS, 0u);
    } else {
        st = km_gk_x86_try_root(gk, root, la57, err);
        if ((st == KM_ERR_NOT_READY) && ((root & KM_X86_CR3_PTI_BIT) != 0u)) {
            /* PTI: this vCPU runs on the user PGD; the kernel PGD is the page below. */
            st = km_gk_x86_try_root(gk, root & ~KM_X86_CR3_PTI_BIT, la57, err);
        }
    }
    if (st == KM_OK) {
        uint64_t pob = 0u;
        gk->la57 = la57;
        gk->phys_base = gk->text_pa - (gk->text_kva - KM_X86_START_KERNEL_MAP);
        st = km_mem_read_u64(gk->mem, km_gk_image_pa(s, gk->text_pa, s->page_offset_base), &pob);
        if ((st != KM_OK) || ((pob >> 63) == 0u)) {
            st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_LAYOUT, s->page_offset_base + gk->kaslr);
        } else {
            gk->page_offset = pob;
            gk->direct_pa_base = 0u;
        }
    }
    if ((st == KM_OK) && (s->init_top_pgt != 0u)) {
        /* Walk from init_top_pgt from now on: a vCPU's CR3 changes with every task switch. */
        km_pgwalk_cfg stable;
        km_pgwalk_result r;
        uint64_t itp = km_gk_image_pa(s, gk->text_pa, s->init_top_pgt);
        if ((km_pgwalk_cfg_x86_64(itp, la57, &stable) == KM_OK) &&
            (km_pgwalk_walk(gk->mem, &stable, gk->text_kva, &r, NULL) == KM_OK) && (r.pa == gk->text_pa)) {
            gk->cfg = stable;
        }
    }
    return st;
}

static km_status km_gk_a64_try_text(km_guest_kernel *gk, uint64_t text_pa, uint64_t tcr, km_gk_error *err)
{
    const km_gk_symbols *s = &gk->sym;
    km_pgwalk_cfg cfg;
    uint64_t kv = 0u;
    uint64_t swapper_pa = km_gk_image_pa(s, text_pa, s->swapper_pg_dir);
    km_status st = km_pgwalk_cfg_aarch64(swapper_pa, tcr, &cfg);
    if (st != KM_OK) {
        st = km_gk_fail(err, st, KM_GK_STAGE_REGISTERS, swapper_pa);
    } else {
        st = km_mem_read_u64(gk->mem, km_gk_image_pa(s, text_pa, s->kimage_voffset), &kv);
        if ((st != KM_OK) || (kv == 0u)) {
            st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_LAYOUT, text_pa);
        }
    }
    if (st == KM_OK) {
        uint64_t text_kva = text_pa + kv;
        uint64_t banner_kva = text_kva + (s->linux_banner - s->text);
        km_pgwalk_result r;
        st = km_pgwalk_walk(gk->mem, &cfg, banner_kva, &r, NULL);
        if ((st != KM_OK) || (r.pa != km_gk_image_pa(s, text_pa, s->linux_banner))) {
            st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_BANNER, banner_kva);
        } else {
            st = km_gk_check_banner(gk, r.pa);
            if (st != KM_OK) {
                (void)km_gk_fail(err, st, KM_GK_STAGE_BANNER, banner_kva);
            }
        }
        if (st == KM_OK) {
            gk->cfg = cfg;
            gk->text_pa = text_pa;
            gk->text_kva = text_kva;
            gk->kimage_voffset = kv;
            gk->kaslr = text_kva - s->text;
        }
    }
    return st;
}

static km_status km_gk_a64_handshake(km_guest_kernel *gk, const km_gk_regs *regs, km_gk_error *err)
{
    const km_gk_symbols *s = &gk->sym;
    km_pgwalk_cfg cfg;
    km_status st;
    (void)memset(&cfg, 0, sizeof(cfg));
    if ((s->swapper_pg_dir == 0u) || (s->kimage_voffset == 0u) || (s->memstart_addr == 0u)) {
        st = km_gk_fail(err, KM_ERR_NO_SYMBOL, KM_GK_STAGE_SYMBOLS, 0u);
    } else {
        st = km_pgwalk_cfg_aarch64(regs->ttbr1, regs->tcr, &cfg);
        if (st != KM_OK) {
            st = km_gk_fail(err, (st == KM_ERR_UNSUPPORTED) ? st : KM_ERR_NOT_READY, KM_GK_STAGE_REGISTERS,
                            regs->tcr);
        }
    }
    if (st == KM_OK) {
        /* TTBR1 is swapper_pg_dir in the kernel; under KPTI at EL0 it is tramp_pg_dir. */
        uint64_t root = cfg.root_pa;
        st = km_gk_a64_try_text(gk, root - (s->swapper_pg_dir - s->text), regs->tcr, err);
        if ((st == KM_ERR_NOT_READY) && (s->tramp_pg_dir != 0u)) {
            st = km_gk_a64_try_text(gk, root - (s->tramp_pg_dir - s->text), regs->tcr, err);
        }
    }
    if (st == KM_OK) {
        uint64_t memstart = 0u;
        gk->page_offset = UINT64_MAX << gk->cfg.va_bits; /* -(1 << vabits_actual) */
        st = km_mem_read_u64(gk->mem, km_gk_image_pa(s, gk->text_pa, s->memstart_addr), &memstart);
        if (st != KM_OK) {
            st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_LAYOUT, s->memstart_addr + gk->kaslr);
        } else {
            /* A kernel built for 52-bit VAs running with fewer keeps PAGE_OFFSET
             * at its 52-bit value and lowers memstart_addr by the difference
             * (arm64_memblock_init, since 5.4): undo that when the direct map
             * says so.  Otherwise memstart_addr is the PA at PAGE_OFFSET. */
            uint64_t adjust = (UINT64_MAX << 52) - gk->page_offset; /* _PAGE_OFFSET(52) - _PAGE_OFFSET(va) */
            gk->direct_pa_base = memstart;
            if ((adjust != 0u) && !km_gk_direct_map_ok(gk)) {
                gk->direct_pa_base = memstart - adjust;
            }
        }
    }
    return st;
}

km_status km_gk_handshake(km_guest_kernel *gk, const km_gk_regs *regs, km_gk_error *err)
{
    km_status st;
    km_gk_error local = {.status = KM_OK, .stage = KM_GK_STAGE_NONE, .addr = 0u, .index = KM_NO_INDEX};
    km_gk_error *e = (err != NULL) ? err : &local;
    e->status = KM_OK;
    e->stage = KM_GK_STAGE_NONE;
    e->addr = 0u;
    e->index = KM_NO_INDEX;
    gk->ready = false;
    gk->percpu_ready = false;
    km_tlb_invalidate(&gk->tlb);
    if ((gk->sym.text == 0u) || (gk->sym.linux_banner == 0u) || (regs->arch != gk->arch)) {
        st = km_gk_fail(e, (regs->arch != gk->arch) ? KM_ERR_MISMATCH : KM_ERR_NO_SYMBOL, KM_GK_STAGE_SYMBOLS, 0u);
    } else if (gk->arch == KM_ARCH_AARCH64) {
        st = km_gk_a64_handshake(gk, regs, e);
    } else {
        st = km_gk_x86_handshake(gk, regs, e);
    }
    if ((st == KM_OK) && !km_gk_direct_map_ok(gk)) {
        /* The direct map must map the image where we found it. */
        st = km_gk_fail(e, KM_ERR_NOT_READY, KM_GK_STAGE_DIRECT_MAP,
                        gk->page_offset + (gk->text_pa - gk->direct_pa_base));
    }
    if (st == KM_OK) {
        gk->text_end_kva = (gk->sym.end > gk->sym.text) ? (gk->sym.end + gk->kaslr) : 0u;
        gk->ready = true;
    }
    return st;
}

km_status km_gk_try_init(km_guest_kernel *gk, km_gk_regs_fn fn, void *ctx)
{
    km_status st = KM_OK;
    if (!gk->ready) {
        km_gk_regs regs;
        km_gk_error e;
        (void)memset(&regs, 0, sizeof(regs));
        /* Fresh registers on every attempt: an early snapshot may predate the
         * kernel's own page tables. */
        st = fn(ctx, 0u, &regs);
        if (st != KM_OK) {
            e.status = st;
            e.stage = KM_GK_STAGE_REGISTERS;
            e.addr = 0u;
            e.index = KM_NO_INDEX;
        } else {
            st = km_gk_handshake(gk, &regs, &e);
        }
        if (st == KM_OK) {
            gk->attempts = 0u;
        } else {
            gk->last = e;
            if (gk->attempts < UINT32_MAX) {
                gk->attempts++;
            }
        }
    }
    return st;
}

km_status km_gk_try_init_percpu(km_guest_kernel *gk, km_gk_error *err)
{
    km_status st = KM_OK;
    uint32_t n = 0u;
    if (gk->percpu_ready) {
        st = KM_OK;
    } else if (!gk->ready) {
        st = km_gk_fail(err, KM_ERR_NOT_READY, KM_GK_STAGE_PERCPU, 0u);
    } else if ((gk->sym.per_cpu_offset == 0u) || (gk->sym.nr_cpu_ids == 0u)) {
        st = km_gk_fail(err, KM_ERR_NO_SYMBOL, KM_GK_STAGE_SYMBOLS, 0u);
    } else {
        st = km_gk_read_u32(gk, gk->sym.nr_cpu_ids + gk->kaslr, &n);
        if ((st != KM_OK) || (n == 0u) || (n > KM_GK_MAX_CPUS)) {
            st = km_gk_fail(err, (st == KM_OK) ? KM_ERR_RANGE : st, KM_GK_STAGE_PERCPU,
                            gk->sym.nr_cpu_ids + gk->kaslr);
        }
    }
    if ((st == KM_OK) && !gk->percpu_ready) {
        /* Filled in place; only percpu_ready (set last) makes them visible. */
        for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
            uint64_t off = 0u;
            uint64_t pa = 0u;
            st = km_gk_read_u64(gk, gk->sym.per_cpu_offset + gk->kaslr + (8u * (uint64_t)i), &off);
            /* The gate: set, its per-CPU area translates, not shared with an
             * earlier CPU, and cpu_number there is this CPU. */
            if ((st == KM_OK) &&
                ((off == 0u) || (km_gk_kva_to_pa(gk, km_gk_percpu_base(gk, gk->sym.per_cpu_offset) + off, &pa) != KM_OK))) {
                st = KM_ERR_NOT_READY;
            }
            for (uint32_t j = 0u; (st == KM_OK) && (j < i); j++) {
                if (gk->percpu[j] == off) {
                    st = KM_ERR_NOT_READY;
                }
            }
            if ((st == KM_OK) && (gk->sym.cpu_number != 0u)) {
                uint32_t self = UINT32_MAX;
                st = km_gk_read_u32(gk, km_gk_percpu_base(gk, gk->sym.cpu_number) + off, &self);
                if ((st != KM_OK) || (self != i)) {
                    st = KM_ERR_NOT_READY;
                }
            }
            if (st != KM_OK) {
                (void)km_gk_fail(err, st, KM_GK_STAGE_PERCPU, off);
                if (err != NULL) {
                    err->index = i;
                }
            } else {
                gk->percpu[i] = off;
            }
        }
        if (st == KM_OK) {
            gk->ncpus = n;
            gk->percpu_ready = true;
        }
    }
    return st;
}

km_status km_gk_read_bytes(km_guest_kernel *gk, uint64_t kva, uint8_t *dst, size_t len)
{
    km_status st = KM_OK;
    size_t done = 0u;
    while ((st == KM_OK) && (done < len)) {
        uint64_t va = km_gk_add(kva, (uint64_t)done);
        uint64_t pa = 0u;
        size_t chunk = (size_t)(KM_PAGE_SIZE_MIN - (va % KM_PAGE_SIZE_MIN));
        size_t got = 0u;
        if (chunk > (len - done)) {
            chunk = len - done;
        }
        st = km_gk_kva_to_pa(gk, va, &pa);
        if (st == KM_OK) {
            st = km_mem_read_bytes(gk->mem, pa, &dst[done], chunk, &got);
            if ((st == KM_OK) && (got != chunk)) {
                st = KM_ERR_CROSSES_REGION;
            }
        }
        done += chunk;
    }
    return st;
}

km_status km_gk_read_u64(km_guest_kernel *gk, uint64_t kva, uint64_t *out)
{
    km_status st;
    if ((kva % KM_PAGE_SIZE_MIN) <= (KM_PAGE_SIZE_MIN - 8u)) {
        uint64_t pa = 0u;
        st = km_gk_kva_to_pa(gk, kva, &pa);
        if (st == KM_OK) {
            st = km_mem_read_u64(gk->mem, pa, out);
        }
    } else {
        /* crosses a page: byte by byte, each page translated on its own */
        uint8_t b[8] = {0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u};
        st = km_gk_read_bytes(gk, kva, b, sizeof(b));
        if (st == KM_OK) {
            /* little-endian */
            *out = (uint64_t)b[0] + ((uint64_t)b[1] * 0x100u) + ((uint64_t)b[2] * 0x10000u) +
                   ((uint64_t)b[3] * 0x1000000u) + ((uint64_t)b[4] * 0x100000000u) +
                   ((uint64_t)b[5] * 0x10000000000u) + ((uint64_t)b[6] * 0x1000000000000u) +
                   ((uint64_t)b[7] * 0x100000000000000u);
        }
    }
    return st;
}

km_status km_gk_read_u32(km_guest_kernel *gk, uint64_t kva, uint32_t *out)
{
    km_status st;
    if ((kva % KM_PAGE_SIZE_MIN) <= (KM_PAGE_SIZE_MIN - 4u)) {
        uint64_t pa = 0u;
        st = km_gk_kva_to_pa(gk, kva, &pa);
        if (st == KM_OK) {
            st = km_mem_read_u32(gk->mem, pa, out);
        }
    } else {
        /* crosses a page: byte by byte, each page translated on its own */
        uint8_t b[4] = {0u, 0u, 0u, 0u};
        st = km_gk_read_bytes(gk, kva, b, sizeof(b));
        if (st == KM_OK) {
            /* little-endian */
            *out = (uint32_t)b[0] + ((uint32_t)b[1] * 0x100u) + ((uint32_t)b[2] * 0x10000u) +
                   ((uint32_t)b[3] * 0x1000000u);
        }
    }
    return st;
}
