/* ktmon guest_kernel: the pure parts (no guest memory, no allocation, no
 * system call): modular address arithmetic, the kernel-half test, the
 * per-CPU base rule, and the public functions built only on them.  Proved
 * with WP (verify/wp/guest_kernel.wp). */
#include "ktmon/guest_kernel.h"

#include "gk_int.h"

void km_gk_set_banner(km_gk_symbols *s, const uint8_t *bytes, uint32_t len)
{
    uint32_t n = 0u;
    bool more = true;
    /*@ loop invariant 0 <= n <= len && n <= KM_GK_BANNER_MAX;
        loop invariant \forall integer i; 0 <= i < n ==> s->banner[i] == bytes[i] && bytes[i] != 0;
        loop invariant !more ==> n < len && n < KM_GK_BANNER_MAX && bytes[n] == 0;
        loop assigns n, more, s->banner[0 .. KM_GK_BANNER_MAX - 1];
        loop variant KM_GK_BANNER_MAX - n + (more ? 1 : 0); */
    while (more && (n < len) && (n < KM_GK_BANNER_MAX)) {
        if (bytes[n] == 0u) {
            more = false;
        } else {
            s->banner[n] = bytes[n];
            n++;
        }
    }
    s->banner_len = n;
}

bool km_gk_should_warn(const km_guest_kernel *gk, uint32_t n)
{
    return !gk->ready && (gk->attempts >= n) && (n > 0u);
}

uint64_t km_gk_image_pa(const km_gk_symbols *s, uint64_t text_pa, uint64_t link)
{
    return km_gk_add(text_pa, km_gk_sub(link, s->text));
}

bool km_gk_kernel_half(const km_guest_kernel *gk, uint64_t kva)
{
    uint32_t shift;
    if (gk->arch == KM_ARCH_AARCH64) {
        shift = gk->cfg.va_bits;
    } else {
        shift = gk->la57 ? 56u : 47u;
    }
    /* the bits from `shift` up all set */
    return (kva >> shift) == (UINT64_MAX >> shift);
}

uint64_t km_gk_percpu_base(const km_guest_kernel *gk, uint64_t link)
{
    uint64_t base = link;
    if (link >= KM_GK_PERCPU_ZERO_BASED_LIMIT) {
        base = km_gk_add(link, gk->kaslr);
    }
    return base;
}

km_status km_gk_sym_kva(const km_guest_kernel *gk, uint64_t link, uint64_t *kva)
{
    km_status st = KM_OK;
    if (!gk->ready) {
        st = KM_ERR_NOT_READY;
    } else {
        *kva = km_gk_add(link, gk->kaslr);
    }
    return st;
}

km_status km_gk_percpu_kva(const km_guest_kernel *gk, uint64_t link, uint32_t cpu, uint64_t *kva)
{
    km_status st = KM_OK;
    if (!gk->percpu_ready) {
        st = KM_ERR_NOT_READY;
    } else if (cpu >= gk->ncpus) {
        st = KM_ERR_RANGE;
    } else {
        *kva = km_gk_add(km_gk_percpu_base(gk, link), gk->percpu[cpu]);
    }
    return st;
}

const char *km_gk_stage_name(km_gk_stage s)
{
    const char *n = "unknown";
    switch (s) {
    case KM_GK_STAGE_NONE:
        n = "none";
        break;
    case KM_GK_STAGE_SYMBOLS:
        n = "vmlinux symbols";
        break;
    case KM_GK_STAGE_REGISTERS:
        n = "registers";
        break;
    case KM_GK_STAGE_KERNEL_BASE:
        n = "kernel base (KASLR)";
        break;
    case KM_GK_STAGE_BANNER:
        n = "linux_banner check";
        break;
    case KM_GK_STAGE_LAYOUT:
        n = "kernel layout variables";
        break;
    case KM_GK_STAGE_DIRECT_MAP:
        n = "direct map";
        break;
    case KM_GK_STAGE_PERCPU:
        n = "per-CPU offsets";
        break;
    default:
        n = "unknown";
        break;
    }
    return n;
}
