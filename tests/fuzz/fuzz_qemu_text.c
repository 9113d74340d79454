/* libFuzzer target: hal/qemu's parsers of what a (possibly broken or hostile) QEMU sends:
 * QMP JSON lines, `info mtree -f` and `info registers` text, gdbstub stop replies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/qemu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1u);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    const char *v = NULL;
    size_t n = 0;
    static const char *const keys[] = {"return", "error", "event", "QMP", "desc"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        if (km_json_find(s, size, keys[k], &v, &n) == KM_OK) {
            char out[256];
            if ((v < s) || (v + n > s + size)) {
                abort(); /* a value span outside the input */
            }
            if (km_json_unescape(v, n, out, sizeof(out), NULL) == KM_OK) {
                sink += strlen(out);
            }
        }
    }
    km_qemu_ram_range r[KM_QEMU_MAX_RAM_RANGES];
    uint32_t nr = 0;
    if (km_qemu_parse_mtree(s, "mem", r, KM_QEMU_MAX_RAM_RANGES, &nr) == KM_OK) {
        for (uint32_t i = 0; i < nr; i++) {
            if ((r[i].size == 0u) || ((i > 0u) && (r[i - 1u].gpa > r[i].gpa))) {
                abort(); /* empty or unsorted ranges */
            }
            sink += r[i].gpa;
        }
    }
    uint64_t cr3 = 0, cr4 = 0;
    if (km_qemu_parse_x86_regs(s, &cr3, &cr4) == KM_OK) {
        sink += cr3 ^ cr4;
    }
    km_gdb_stop st;
    if (km_gdb_parse_stop(s, &st) == KM_OK) {
        sink += st.watch_addr + (uint64_t)st.signal;
    }
    free(s);
    return 0;
}
