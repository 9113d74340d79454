/* ktmon command line: opening the running guest kernel (vmlinux + memory + registers). */
#ifndef KTMON_CLI_KERNEL_H
#define KTMON_CLI_KERNEL_H

#include "ktmon/btf.h"
#include "ktmon/guest_kernel.h"
#include "ktmon/ksym.h"
#include "opts.h"

typedef struct km_cli_kernel {
    km_cli_target t;
    km_ksym ks;
    bool ks_loaded;
    km_btf btf;
    bool btf_loaded;
    km_guest_kernel *gk;   /* heap: holds the translation cache and per-CPU table */
} km_cli_kernel;

/* What km_cli_kernel_open must provide. */
#define KM_CLI_NEED_BTF 1u
#define KM_CLI_NEED_PERCPU 2u

/* vmlinux symbols, guest memory, registers, then the handshake (trying each
 * vCPU in turn if one is not usable).  Returns a KM_EXIT_* code after
 * printing why on failure. */
int km_cli_kernel_open(const km_cli_opts *o, km_cli_kernel *k, unsigned int need);
void km_cli_kernel_close(km_cli_kernel *k);

/* Bytes of the vmlinux file at a link-time address (from its ELF sections). */
int km_cli_vmlinux_bytes(const char *path, uint64_t addr, uint8_t *buf, uint32_t len, uint32_t *got);

/* BTF offset of a dotted path, printing an error on failure. */
int km_cli_offsetof(km_cli_kernel *k, const char *path, uint32_t *off);

#endif /* KTMON_CLI_KERNEL_H */
