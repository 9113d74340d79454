/* ktmon guest_kernel: kernel-address translation after the handshake.
 * Proved with WP (verify/wp/guest_kernel.wp) against the proved contracts of
 * include/ktmon/mem.h and include/ktmon/pgwalk.h.  No allocation, no system
 * call. */
#include "ktmon/guest_kernel.h"

#include "gk_int.h"

void km_gk_invalidate(km_guest_kernel *gk)
{
    km_tlb_invalidate(&gk->tlb);
}

/* Is pa in guest RAM? */
/*@ requires km_mem_ok(m);
    assigns \nothing;
    ensures \result <==> km_mapped(m, pa, 1); */
static bool km_gk_in_ram(const km_mem *m, uint64_t pa)
{
    uint64_t left = 0u;
    return km_mem_avail(m, pa, &left) == KM_OK;
}

/* Does the direct map hold kva (inside its span, and over guest RAM)? */
/*@ requires km_gk_xlate_ok(gk) && gk->ready;
    assigns \nothing;
    ensures \result <==> km_gk_in_direct_map(gk, kva); */
static bool km_gk_direct(const km_guest_kernel *gk, uint64_t kva)
{
    bool in = false;
    if (kva >= gk->page_offset) {
        /* the direct map spans at most half of the kernel VA space on both architectures */
        uint32_t shift;
        uint64_t off = kva - gk->page_offset;
        if (gk->arch == KM_ARCH_AARCH64) {
            shift = (gk->cfg.va_bits > 0u) ? (gk->cfg.va_bits - 1u) : 0u;
        } else {
            shift = gk->la57 ? 55u : 46u;
        }
        in = ((off >> shift) == 0u) && km_gk_in_ram(gk->mem, km_gk_add(off, gk->direct_pa_base));
    }
    return in;
}

km_status km_gk_kva_to_pa(km_guest_kernel *gk, uint64_t kva, uint64_t *pa)
{
    km_status st = KM_OK;
    uint64_t out = 0u;
    if (!gk->ready) {
        st = KM_ERR_NOT_READY;
    } else if (!km_gk_kernel_half(gk, kva)) {
        st = KM_ERR_RANGE; /* user-half or non-canonical: refused before any walk */
    } else if ((gk->text_end_kva != 0u) && (kva >= gk->text_kva) && (kva < gk->text_end_kva)) {
        out = km_gk_add(gk->text_pa, kva - gk->text_kva);
    } else if (km_gk_direct(gk, kva)) {
        /* Direct map: linear by definition.  Beyond guest RAM it is some other
         * region (vmalloc, vmemmap), left to the page walk. */
        out = km_gk_add(kva - gk->page_offset, gk->direct_pa_base);
    } else {
        km_pgwalk_result r;
        st = km_pgwalk_translate_cached(gk->mem, &gk->cfg, &gk->tlb, kva, &r);
        if (st == KM_OK) {
            out = r.pa;
        } else if ((st == KM_ERR_NOT_PRESENT) || (st == KM_ERR_BAD_DESCRIPTOR)) {
            st = KM_ERR_UNMAPPED;
        } else {
            /* table outside RAM etc. keep their status */
        }
    }
    if (st == KM_OK) {
        *pa = out;
    }
    return st;
}
