/* ktmon: the BPF part of a dump (maps and struct_ops programs). */
#include "coord_int.h"

void km_coord_dump_bpf(km_coord *c, FILE *f)
{
    (void)c;
    (void)fprintf(f, "  \"bpf\": {\"error\": \"not collected\"},\n");
}
