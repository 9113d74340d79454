/* ktmon: coordinator internals shared by coord.c, dump.c and dump_bpf.c (private). */
#ifndef KTMON_COORD_INT_H
#define KTMON_COORD_INT_H

#include <stdio.h>

#include "ktmon/freeze.h"

uint64_t km_coord_now_ns(void);
/* Name of an scx_exit_kind value from the kernel's BTF ("SCX_EXIT_ERROR_BPF"), or "unknown". */
const char *km_coord_exit_name(const km_coord *c, uint32_t value);
/* Write one dump (VM frozen); sets c->last_dump. */
km_status km_coord_write_dump(km_coord *c, const char *trigger, uint32_t slot, uint64_t value, uint64_t t_hit_ns,
                              uint64_t t_frozen_ns);
/* The "bpf" member of a dump. */
void km_coord_dump_bpf(km_coord *c, FILE *f);

#endif /* KTMON_COORD_INT_H */
