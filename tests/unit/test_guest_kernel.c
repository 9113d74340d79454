/* Unit tests: modules/guest_kernel over a fake guest (hand-built page tables and kernel image). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/guest_kernel.h"

#define RAM_SIZE (64u << 20)
static uint8_t *ram;
static km_mem mem;
static uint64_t ram_base;

static void ram_new(uint64_t base)
{
    if (ram == NULL) {
        ram = aligned_alloc(1u << 21, RAM_SIZE);
        cr_assert_not_null(ram);
    }
    memset(ram, 0, RAM_SIZE);
    ram_base = base;
    km_mem_init(&mem);
    cr_assert_eq(km_mem_add_region(&mem, base, RAM_SIZE, ram, true), KM_OK);
}

static void w64(uint64_t pa, uint64_t v) { cr_assert_eq(km_mem_write_u64(&mem, pa, v), KM_OK); }
static void w32(uint64_t pa, uint32_t v) { cr_assert_eq(km_mem_write_u32(&mem, pa, v), KM_OK); }
static void wstr(uint64_t pa, const char *s)
{
    size_t n = 0;
    cr_assert_eq(km_mem_write_bytes(&mem, pa, (const uint8_t *)s, strlen(s) + 1, &n), KM_OK);
}

static const char BANNER[] = "Linux version 7.3.4-test (ktmon@unit) #1 SMP";

/* ------------------------------------------------------------------ x86_64 fake */

#define X_LINK_TEXT 0xffffffff81000000ull
#define X_KASLR 0x2a00000ull                 /* 42 MiB: a 2 MiB multiple */
#define X_TEXT_PA 0x2000000ull               /* 32 MiB */
#define X_PAGE_OFFSET 0xffff9c0000000000ull
#define X_VMALLOC 0xffffc90000123000ull      /* mapped by a 4K page through the walk */
#define OFF_BANNER 0x100000ull
#define OFF_POB 0x200000ull
#define OFF_PCPU 0x200100ull
#define OFF_NRCPU 0x200200ull
#define OFF_PGD 0x300000ull                  /* init_top_pgt */
#define OFF_USER_PGD 0x301000ull             /* PTI user copy: kernel PGD | 0x1000 */
#define NCPU 4u

static km_gk_symbols xsym;
static uint64_t xpgd_pa, percpu_off[NCPU];

static uint64_t img(uint64_t off) { return X_TEXT_PA + off; }
static unsigned ix(uint64_t va, unsigned shift) { return (unsigned)((va >> shift) & 511u); }

static void x86_fake(bool per_cpu_ready)
{
    ram_new(0);
    uint64_t rt = X_LINK_TEXT + X_KASLR;
    xpgd_pa = img(OFF_PGD);
    uint64_t pdpt_k = img(0x302000), pd_k = img(0x303000), pdpt_d = img(0x304000), pdpt_v = img(0x305000),
             pd_v = img(0x306000), pt_v = img(0x307000);
    /* kernel image: 2 x 2 MiB pages at runtime _text */
    w64(xpgd_pa + 8 * ix(rt, 39), pdpt_k | 3);
    w64(pdpt_k + 8 * ix(rt, 30), pd_k | 3);
    w64(pd_k + 8 * ix(rt, 21), X_TEXT_PA | 0x83);
    w64(pd_k + 8 * ix(rt + (2u << 20), 21), (X_TEXT_PA + (2u << 20)) | 0x83);
    /* direct map: 1 GiB page at PA 0 */
    w64(xpgd_pa + 8 * ix(X_PAGE_OFFSET, 39), pdpt_d | 3);
    w64(pdpt_d + 8 * ix(X_PAGE_OFFSET, 30), 0x83);
    /* a vmalloc-style 4K mapping to PA 0x3000000 */
    w64(xpgd_pa + 8 * ix(X_VMALLOC, 39), pdpt_v | 3);
    w64(pdpt_v + 8 * ix(X_VMALLOC, 30), pd_v | 3);
    w64(pd_v + 8 * ix(X_VMALLOC, 21), pt_v | 3);
    w64(pt_v + 8 * ix(X_VMALLOC, 12), 0x3000000u | 3);
    /* variables in the image */
    wstr(img(OFF_BANNER), BANNER);
    w64(img(OFF_POB), X_PAGE_OFFSET);
    w32(img(OFF_NRCPU), NCPU);
    for (unsigned i = 0; i < NCPU; i++) {
        /* per-CPU areas at PA 0x1000000 + i MiB, through the direct map */
        percpu_off[i] = (X_PAGE_OFFSET + 0x1000000u + i * 0x100000u) - (X_LINK_TEXT + OFF_PCPU + X_KASLR);
        w64(img(OFF_PCPU) + 8 * i, (per_cpu_ready || i == 0) ? percpu_off[i] : 0);
        /* per-CPU cpu_number (link OFF_PCPU + 0x200) holds the CPU's index */
        w32(0x1000000u + i * 0x100000u + 0x200u, i);
    }
    memset(&xsym, 0, sizeof(xsym));
    xsym.arch = KM_ARCH_X86_64;
    xsym.text = X_LINK_TEXT;
    xsym.end = X_LINK_TEXT + (4u << 20);
    xsym.linux_banner = X_LINK_TEXT + OFF_BANNER;
    xsym.page_offset_base = X_LINK_TEXT + OFF_POB;
    xsym.per_cpu_offset = X_LINK_TEXT + OFF_PCPU;
    xsym.nr_cpu_ids = X_LINK_TEXT + OFF_NRCPU;
    xsym.cpu_number = X_LINK_TEXT + OFF_PCPU + 0x200u;
    xsym.init_top_pgt = X_LINK_TEXT + OFF_PGD;
    km_gk_set_banner(&xsym, (const uint8_t *)BANNER, sizeof(BANNER));
}

static km_gk_regs xregs(uint64_t cr3)
{
    km_gk_regs r = {.arch = KM_ARCH_X86_64, .cr3 = cr3, .cr4 = 0};
    return r;
}

static km_guest_kernel gk;

Test(guest_kernel_x86, handshake_finds_kaslr_phys_base_and_page_offset)
{
    x86_fake(true);
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa | 0x3 /* PCID */);
    km_gk_error e;
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_OK, "stage %s", km_gk_stage_name(e.stage));
    cr_assert_eq(gk.kaslr, X_KASLR);
    cr_assert_eq(gk.text_kva, X_LINK_TEXT + X_KASLR);
    cr_assert_eq(gk.text_pa, X_TEXT_PA);
    cr_assert_eq(gk.page_offset, X_PAGE_OFFSET);
    /* text PA = kva - __START_KERNEL_map + phys_base, modulo 2^64 */
    cr_assert_eq(gk.phys_base, X_TEXT_PA - (X_LINK_TEXT + X_KASLR - 0xffffffff80000000ull));
    uint64_t kva = 0;
    cr_assert_eq(km_gk_sym_kva(&gk, xsym.linux_banner, &kva), KM_OK);
    cr_assert_eq(kva, X_LINK_TEXT + OFF_BANNER + X_KASLR);
}

Test(guest_kernel_x86, negative_phys_base_is_modular)
{
    x86_fake(true);
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa);
    cr_assert_eq(km_gk_handshake(&gk, &r, NULL), KM_OK);
    /* the image sits lower in PA than its offset from __START_KERNEL_map: phys_base "negative" */
    cr_assert_gt(gk.phys_base, 0xffffffff00000000ull);
    uint64_t pa = 0;
    cr_assert_eq(km_gk_kva_to_pa(&gk, X_LINK_TEXT + X_KASLR + 0x1234, &pa), KM_OK);
    cr_assert_eq(pa, (X_LINK_TEXT + X_KASLR + 0x1234) - 0xffffffff80000000ull + gk.phys_base);
}

Test(guest_kernel_x86, translations_text_direct_walk_and_refusals)
{
    x86_fake(true);
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa);
    cr_assert_eq(km_gk_handshake(&gk, &r, NULL), KM_OK);
    uint64_t pa = 0;
    cr_assert_eq(km_gk_kva_to_pa(&gk, X_LINK_TEXT + X_KASLR + OFF_BANNER, &pa), KM_OK);
    cr_assert_eq(pa, X_TEXT_PA + OFF_BANNER);
    cr_assert_eq(km_gk_kva_to_pa(&gk, X_PAGE_OFFSET + 0x123456, &pa), KM_OK);
    cr_assert_eq(pa, 0x123456u);
    cr_assert_eq(km_gk_kva_to_pa(&gk, X_VMALLOC + 0x10, &pa), KM_OK);
    cr_assert_eq(pa, 0x3000010u);
    pa = 77;
    cr_assert_eq(km_gk_kva_to_pa(&gk, 0x00007fff12345000ull, &pa), KM_ERR_RANGE); /* user half */
    cr_assert_eq(km_gk_kva_to_pa(&gk, X_VMALLOC + 0x200000, &pa), KM_ERR_UNMAPPED);
    cr_assert_eq(pa, 77u);
    /* the guest maps a 1 GiB page over 64 MiB of RAM: the walk translates, the read says why it fails */
    cr_assert_eq(km_gk_kva_to_pa(&gk, X_PAGE_OFFSET + RAM_SIZE + 0x1000, &pa), KM_OK);
    cr_assert_eq(pa, RAM_SIZE + 0x1000u);
    uint64_t junk = 5;
    cr_assert_eq(km_gk_read_u64(&gk, X_PAGE_OFFSET + RAM_SIZE + 0x1000, &junk), KM_ERR_RANGE);
    cr_assert_eq(junk, 5u);
    char buf[sizeof(BANNER)];
    cr_assert_eq(km_gk_read_bytes(&gk, X_LINK_TEXT + X_KASLR + OFF_BANNER, (uint8_t *)buf, sizeof(buf)), KM_OK);
    cr_assert_str_eq(buf, BANNER);
    uint64_t v = 0;
    cr_assert_eq(km_gk_read_u64(&gk, X_LINK_TEXT + X_KASLR + OFF_POB, &v), KM_OK);
    cr_assert_eq(v, X_PAGE_OFFSET);
}

Test(guest_kernel_x86, pti_user_cr3_falls_back_to_the_kernel_pgd)
{
    x86_fake(true);
    km_gk_init(&gk, &mem, &xsym);
    /* the user PGD (kernel PGD + 4 KiB) maps nothing of the kernel image */
    km_gk_regs r = xregs(xpgd_pa | 0x1000);
    cr_assert_eq(km_gk_handshake(&gk, &r, NULL), KM_OK);
    cr_assert_eq(gk.cfg.root_pa, xpgd_pa);
    cr_assert_eq(gk.kaslr, X_KASLR);
}

Test(guest_kernel_x86, a_different_kernel_is_a_mismatch)
{
    x86_fake(true);
    wstr(img(OFF_BANNER), "Linux version 6.1.0-other (someone@else) #1 SMP");
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa);
    km_gk_error e;
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_MISMATCH);
    cr_assert_eq(e.stage, KM_GK_STAGE_BANNER);
    cr_assert(!gk.ready);
    uint64_t pa = 0;
    cr_assert_eq(km_gk_kva_to_pa(&gk, X_LINK_TEXT + X_KASLR, &pa), KM_ERR_NOT_READY);
}

/* Registers that are not usable until attempt k (a guest still in its boot loader). */
typedef struct {
    uint32_t calls;
    uint32_t ready_at;
    uint64_t cr3;
} regs_src;

static km_status regs_cb(void *ctx, uint32_t cpu, km_gk_regs *out)
{
    regs_src *s = ctx;
    cr_assert_eq(cpu, 0u);
    s->calls++;
    *out = xregs(s->calls >= s->ready_at ? s->cr3 : 0x7000 /* early tables: nothing mapped */);
    return KM_OK;
}

Test(guest_kernel_x86, lazy_init_converges_at_attempt_k_with_fresh_registers)
{
    x86_fake(true);
    km_gk_init(&gk, &mem, &xsym);
    regs_src src = {.calls = 0, .ready_at = 5, .cr3 = xpgd_pa};
    for (uint32_t i = 1; i < 5; i++) {
        cr_assert_eq(km_gk_try_init(&gk, regs_cb, &src), KM_ERR_NOT_READY, "attempt %u", i);
        cr_assert(!gk.ready);
        cr_assert_eq(gk.attempts, i);
        cr_assert_eq(gk.last.stage, KM_GK_STAGE_KERNEL_BASE);
    }
    cr_assert(km_gk_should_warn(&gk, 4));
    cr_assert(!km_gk_should_warn(&gk, 5));
    cr_assert_eq(km_gk_try_init(&gk, regs_cb, &src), KM_OK);
    cr_assert_eq(src.calls, 5u, "every attempt loads the registers afresh");
    cr_assert_eq(gk.attempts, 0u);
    cr_assert_eq(gk.kaslr, X_KASLR);
    /* once ready, nothing is re-read */
    cr_assert_eq(km_gk_try_init(&gk, regs_cb, &src), KM_OK);
    cr_assert_eq(src.calls, 5u);
}

Test(guest_kernel_x86, page_offset_base_not_yet_randomized_is_not_ready)
{
    x86_fake(true);
    w64(img(OFF_POB), 0); /* still zero: the kernel has not run kernel_randomize_memory() */
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa);
    km_gk_error e;
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.stage, KM_GK_STAGE_LAYOUT);
    /* a value whose direct map does not (yet) map the image is refused too */
    w64(img(OFF_POB), 0xffff888000000000ull);
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.stage, KM_GK_STAGE_DIRECT_MAP);
    w64(img(OFF_POB), X_PAGE_OFFSET);
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_OK);
}

Test(guest_kernel_x86, per_cpu_offsets_are_cached_only_when_every_slot_is_valid)
{
    x86_fake(false); /* only CPU 0 has its offset so far */
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa);
    cr_assert_eq(km_gk_handshake(&gk, &r, NULL), KM_OK);
    km_gk_error e;
    uint64_t kva = 0;
    cr_assert_eq(km_gk_try_init_percpu(&gk, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.index, 1u);
    cr_assert(!gk.percpu_ready);
    cr_assert_eq(km_gk_percpu_kva(&gk, xsym.per_cpu_offset, 0, &kva), KM_ERR_NOT_READY);
    for (unsigned i = 1; i < NCPU; i++) {
        w64(img(OFF_PCPU) + 8 * i, percpu_off[i]);
    }
    cr_assert_eq(km_gk_try_init_percpu(&gk, &e), KM_OK);
    cr_assert_eq(gk.ncpus, NCPU);
    cr_assert_eq(km_gk_percpu_kva(&gk, xsym.per_cpu_offset, 2, &kva), KM_OK);
    cr_assert_eq(kva, X_PAGE_OFFSET + 0x1000000u + 2 * 0x100000u);
    cr_assert_eq(km_gk_percpu_kva(&gk, xsym.per_cpu_offset, NCPU, &kva), KM_ERR_RANGE);
    /* cached: a later change in guest memory is not re-parsed */
    w64(img(OFF_PCPU) + 8, 0);
    cr_assert_eq(km_gk_try_init_percpu(&gk, &e), KM_OK);
    cr_assert_eq(km_gk_percpu_kva(&gk, xsym.per_cpu_offset, 1, &kva), KM_OK);
    cr_assert_eq(kva, X_PAGE_OFFSET + 0x1000000u + 0x100000u);
}

Test(guest_kernel_x86, a_slot_that_stays_zero_keeps_the_cache_empty)
{
    x86_fake(true);
    w64(img(OFF_PCPU) + 8 * 3, 0);
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa);
    cr_assert_eq(km_gk_handshake(&gk, &r, NULL), KM_OK);
    km_gk_error e;
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(km_gk_try_init_percpu(&gk, &e), KM_ERR_NOT_READY);
        cr_assert_eq(e.index, 3u);
        cr_assert(!gk.percpu_ready);
    }
}

Test(guest_kernel_x86, boot_time_offsets_shared_by_every_cpu_are_not_believed)
{
    x86_fake(true);
    /* before setup_per_cpu_areas() every slot holds the same boot offset */
    for (unsigned i = 0; i < NCPU; i++) {
        w64(img(OFF_PCPU) + 8 * i, percpu_off[0]);
    }
    km_gk_init(&gk, &mem, &xsym);
    km_gk_regs r = xregs(xpgd_pa);
    cr_assert_eq(km_gk_handshake(&gk, &r, NULL), KM_OK);
    km_gk_error e;
    cr_assert_eq(km_gk_try_init_percpu(&gk, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.index, 1u);
    /* distinct offsets, but CPU 2's area says it is CPU 0: not set up yet either */
    for (unsigned i = 0; i < NCPU; i++) {
        w64(img(OFF_PCPU) + 8 * i, percpu_off[i]);
    }
    w32(0x1000000u + 2 * 0x100000u + 0x200u, 0);
    cr_assert_eq(km_gk_try_init_percpu(&gk, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.index, 2u);
    w32(0x1000000u + 2 * 0x100000u + 0x200u, 2);
    cr_assert_eq(km_gk_try_init_percpu(&gk, &e), KM_OK);
}

Test(guest_kernel_x86, missing_symbols_and_wrong_arch)
{
    x86_fake(true);
    km_gk_symbols s = xsym;
    s.page_offset_base = 0;
    km_gk_init(&gk, &mem, &s);
    km_gk_regs r = xregs(xpgd_pa);
    km_gk_error e;
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_NO_SYMBOL);
    cr_assert_eq(e.stage, KM_GK_STAGE_SYMBOLS);
    km_gk_init(&gk, &mem, &xsym);
    r.arch = KM_ARCH_AARCH64;
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_MISMATCH);
}

/* ----------------------------------------------------------------- aarch64 fake */

#define A_BASE 0x40000000ull
#define A_LINK_TEXT 0xffff800080000000ull
#define A_RT_TEXT 0xffffb1f2c0000000ull  /* randomized, 2 MiB aligned */
#define A_TEXT_PA 0x40200000ull
#define A_PAGE_OFFSET 0xffff000000000000ull /* -(1 << 48) */
#define A_OFF_SWAPPER 0x300000ull
#define A_OFF_KVOFF 0x200000ull
#define A_OFF_MEMSTART 0x200008ull

static km_gk_symbols asym;
static uint64_t a_swapper_pa;

static unsigned ia(uint64_t va, unsigned shift) { return (unsigned)((va >> shift) & 511u); }

static void a64_fake(void)
{
    ram_new(A_BASE);
    uint64_t img0 = A_TEXT_PA;
    a_swapper_pa = img0 + A_OFF_SWAPPER;
    uint64_t l1k = img0 + 0x301000, l2k = img0 + 0x302000, l1d = img0 + 0x303000;
    /* image: 2 MiB blocks at level 2 */
    w64(a_swapper_pa + 8 * ia(A_RT_TEXT, 39), l1k | 3);
    w64(l1k + 8 * ia(A_RT_TEXT, 30), l2k | 3);
    w64(l2k + 8 * ia(A_RT_TEXT, 21), A_TEXT_PA | 0x401);
    w64(l2k + 8 * ia(A_RT_TEXT + (2u << 20), 21), (A_TEXT_PA + (2u << 20)) | 0x401);
    /* linear map: 1 GiB block at level 1 -> PA 0x40000000 */
    w64(a_swapper_pa + 8 * ia(A_PAGE_OFFSET, 39), l1d | 3);
    w64(l1d + 8 * ia(A_PAGE_OFFSET, 30), A_BASE | 0x401);
    wstr(img0 + OFF_BANNER, BANNER);
    w64(img0 + A_OFF_KVOFF, A_RT_TEXT - A_TEXT_PA);
    w64(img0 + A_OFF_MEMSTART, A_BASE);
    memset(&asym, 0, sizeof(asym));
    asym.arch = KM_ARCH_AARCH64;
    asym.text = A_LINK_TEXT;
    asym.end = A_LINK_TEXT + (4u << 20);
    asym.linux_banner = A_LINK_TEXT + OFF_BANNER;
    asym.swapper_pg_dir = A_LINK_TEXT + A_OFF_SWAPPER;
    asym.tramp_pg_dir = A_LINK_TEXT + A_OFF_SWAPPER - 0x2000;
    asym.kimage_voffset = A_LINK_TEXT + A_OFF_KVOFF;
    asym.memstart_addr = A_LINK_TEXT + A_OFF_MEMSTART;
    km_gk_set_banner(&asym, (const uint8_t *)BANNER, sizeof(BANNER));
}

static km_gk_regs aregs(uint64_t ttbr1)
{
    /* T1SZ=16 (48-bit), TG1=4K, IPS=48 bits */
    km_gk_regs r = {.arch = KM_ARCH_AARCH64, .ttbr1 = ttbr1, .tcr = (16ull << 16) | (2ull << 30) | (5ull << 32)};
    return r;
}

Test(guest_kernel_a64, handshake_from_ttbr1_and_kimage_voffset)
{
    a64_fake();
    km_gk_init(&gk, &mem, &asym);
    km_gk_regs r = aregs(a_swapper_pa | (5ull << 48) /* ASID */);
    km_gk_error e;
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_OK, "stage %s", km_gk_stage_name(e.stage));
    cr_assert_eq(gk.text_pa, A_TEXT_PA);
    cr_assert_eq(gk.text_kva, A_RT_TEXT);
    cr_assert_eq(gk.kaslr, A_RT_TEXT - A_LINK_TEXT);
    cr_assert_eq(gk.page_offset, A_PAGE_OFFSET);
    cr_assert_eq(gk.direct_pa_base, A_BASE);
    uint64_t pa = 0;
    cr_assert_eq(km_gk_kva_to_pa(&gk, A_PAGE_OFFSET + 0x1234, &pa), KM_OK);
    cr_assert_eq(pa, A_BASE + 0x1234);
    cr_assert_eq(km_gk_kva_to_pa(&gk, A_RT_TEXT + OFF_BANNER, &pa), KM_OK);
    cr_assert_eq(pa, A_TEXT_PA + OFF_BANNER);
    cr_assert_eq(km_gk_kva_to_pa(&gk, 0x0000ffff00001000ull, &pa), KM_ERR_RANGE);
}

Test(guest_kernel_a64, kpti_tramp_pg_dir_in_ttbr1_is_recognised)
{
    a64_fake();
    km_gk_init(&gk, &mem, &asym);
    km_gk_regs r = aregs(a_swapper_pa - 0x2000); /* tramp_pg_dir */
    cr_assert_eq(km_gk_handshake(&gk, &r, NULL), KM_OK);
    cr_assert_eq(gk.cfg.root_pa, a_swapper_pa);
    cr_assert_eq(gk.text_pa, A_TEXT_PA);
}

Test(guest_kernel_a64, unusable_tcr_and_unset_kimage_voffset_are_not_ready)
{
    a64_fake();
    km_gk_init(&gk, &mem, &asym);
    km_gk_regs r = aregs(a_swapper_pa);
    r.tcr = 0;
    km_gk_error e;
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.stage, KM_GK_STAGE_REGISTERS);
    r = aregs(a_swapper_pa);
    r.tcr |= 1ull << 59; /* LPA2 */
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_UNSUPPORTED);
    w64(A_TEXT_PA + A_OFF_KVOFF, 0);
    r = aregs(a_swapper_pa);
    cr_assert_eq(km_gk_handshake(&gk, &r, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.stage, KM_GK_STAGE_LAYOUT);
}
