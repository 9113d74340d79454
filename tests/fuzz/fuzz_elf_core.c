/* libFuzzer target: the ELF core parser of modules/mem over arbitrary bytes.
 * Every accepted core must give a table whose regions lie inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Own copy so ASan sees any read past the end of the input. */
    uint8_t *buf = malloc(size ? size : 1u);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    km_mem m;
    km_error err;
    if (km_mem_open_elf_core_buffer(&m, buf, size, &err) == KM_OK) {
        for (uint32_t i = 0; i < m.count; i++) {
            const volatile uint8_t *h = m.regions[i].host;
            if (h < buf || (uint64_t)(h - buf) + m.regions[i].size > size) {
                abort(); /* a region outside the input */
            }
            uint8_t b = 0;
            uint64_t last = m.regions[i].gpa + m.regions[i].size - 1u;
            if (km_mem_read_u8(&m, last, &b) != KM_OK) {
                abort();
            }
            sink += b;
        }
        sink += km_mem_total(&m);
    }
    free(buf);
    return 0;
}
