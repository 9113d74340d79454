/* ktmon: the vmlinux symbols the handshake needs, from a km_ksym table (setup time). */
#include "ktmon/guest_kernel.h"

#include <stddef.h>
#include <string.h>

/* Look name up into *field; a missing required symbol fails (first one named in *missing). */
static void km_gk_want(const km_ksym *ks, const char *name, bool required, uint64_t *field, km_status *st,
                       const char **missing)
{
    uint64_t addr = 0u;
    if (km_ksym_addr(ks, name, &addr) == KM_OK) {
        *field = addr;
    } else if (required && (*st == KM_OK)) {
        *st = KM_ERR_NO_SYMBOL;
        if (missing != NULL) {
            *missing = name;
        }
    } else {
        /* optional, or an earlier symbol was already missing */
    }
}

km_status km_gk_symbols_from_ksym(const km_ksym *ks, km_arch arch, km_gk_symbols *out, const char **missing)
{
    km_gk_symbols s;
    km_status st = KM_OK;
    bool x86 = (arch == KM_ARCH_X86_64);
    (void)memset(&s, 0, sizeof(s));
    s.arch = arch;
    km_gk_want(ks, "_text", true, &s.text, &st, missing);
    km_gk_want(ks, "linux_banner", true, &s.linux_banner, &st, missing);
    km_gk_want(ks, "_end", false, &s.end, &st, missing);
    km_gk_want(ks, "__per_cpu_offset", false, &s.per_cpu_offset, &st, missing);
    km_gk_want(ks, "nr_cpu_ids", false, &s.nr_cpu_ids, &st, missing);
    km_gk_want(ks, "cpu_number", false, &s.cpu_number, &st, missing);
    km_gk_want(ks, "page_offset_base", x86, &s.page_offset_base, &st, missing);
    km_gk_want(ks, "init_top_pgt", false, &s.init_top_pgt, &st, missing);
    km_gk_want(ks, "swapper_pg_dir", !x86, &s.swapper_pg_dir, &st, missing);
    km_gk_want(ks, "tramp_pg_dir", false, &s.tramp_pg_dir, &st, missing);
    km_gk_want(ks, "kimage_voffset", !x86, &s.kimage_voffset, &st, missing);
    km_gk_want(ks, "memstart_addr", !x86, &s.memstart_addr, &st, missing);
    if (st == KM_OK) {
        *out = s;
    }
    return st;
}
