/* libFuzzer target: the symbol loaders of modules/ksym over arbitrary bytes.
 * Input starting with the ELF magic goes to the .symtab loader (libelf
 * over memory), anything else to the System.map parser.  Every table that
 * loads must answer its own names and addresses consistently. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/ksym.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

static void check_table(const km_ksym *t)
{
    uint32_t n = km_ksym_count(t);
    uint32_t step = (n > 64u) ? (n / 64u) : 1u;
    for (uint32_t i = 0; i < n; i += step) {
        const km_ksym_entry *e = &t->entries[i];
        km_ksym_sym s;
        if (e->name >= t->names_len) {
            abort();
        }
        const char *name = &t->names[e->name];
        if (km_ksym_lookup(t, name, &s) != KM_OK || strcmp(s.name, name) != 0) {
            abort(); /* a stored name must be found */
        }
        sink += s.addr + s.size + (uint64_t)s.same_name;
        if (e->in_addr != 0u) {
            uint64_t off = 1;
            if (km_ksym_lookup_addr(t, e->addr, &s, &off) != KM_OK || off != 0u || s.addr != e->addr) {
                abort(); /* a stored address must be found exactly */
            }
        }
    }
    km_ksym_sym s;
    uint64_t off = 0;
    if (km_ksym_lookup_addr(t, UINT64_MAX, &s, &off) == KM_OK) {
        sink += off;
    }
    if (km_ksym_lookup_addr(t, 0u, &s, &off) == KM_OK) {
        sink += off;
    }
    km_arch a;
    sink += (uint64_t)km_ksym_arch(t, &a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Own copy so ASan sees any read past the end of the input. */
    uint8_t *buf = malloc(size ? size : 1u);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    km_ksym t;
    km_ksym_error err;
    char msg[256];
    km_status st;
    if (size >= 4u && memcmp(buf, "\177ELF", 4) == 0) {
        km_ksym_opts opts = {.check_arch = (size % 2u) == 0u, .arch = KM_ARCH_X86_64};
        st = km_ksym_load_elf_buffer(&t, buf, size, &opts, &err);
    } else {
        st = km_ksym_load_system_map_buffer(&t, (const char *)buf, size, &err);
    }
    if (st == KM_OK) {
        check_table(&t);
    } else if (km_ksym_count(&t) != 0u) {
        abort(); /* a failed load leaves an empty table */
    }
    sink += strlen(km_ksym_strerror(&err, msg, sizeof(msg)));
    km_ksym_fini(&t);
    free(buf);
    return 0;
}
