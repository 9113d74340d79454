/* ktmon command line: options shared by the subcommands and the target they open. */
#ifndef KTMON_CLI_OPTS_H
#define KTMON_CLI_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "ktmon/arch.h"
#include "ktmon/mem.h"
#include "ktmon/pgwalk.h"
#include "ktmon/qemu.h"
#include "ktmon/status.h"

#define KM_CLI_MAX_ARGS 256

typedef struct km_cli_opts {
    const char *vmlinux;      /* --vmlinux PATH (or $KTMON_VMLINUX) */
    const char *mem;          /* --mem qemu-ram:PATH | core:PATH */
    const char *qmp;          /* --qmp SOCKET */
    const char *gdb;          /* --gdb HOST:PORT */
    const char *mem_backend;  /* --mem-backend ID (QEMU memory backend object id, default "mem") */
    km_arch arch;
    bool arch_set;            /* --arch x86_64|arm64 */
    int cpu;                  /* --cpu N (default 0) */
    bool json;                /* --json */
    bool have_cr3;
    uint64_t cr3;             /* --cr3 X */
    bool la57;                /* --la57 */
    bool have_ttbr1;
    uint64_t ttbr1;           /* --ttbr1 X */
    bool have_tcr;
    uint64_t tcr;             /* --tcr X */
    bool have_ram_base;
    uint64_t ram_base;        /* --ram-base X (raw RAM file without QMP) */
    uint32_t wait_kernel_ms;  /* --wait-kernel SECONDS: retry the handshake until the guest is up */
    bool help;
    int nrest;                /* arguments not consumed: positionals and command-specific options */
    char *rest[KM_CLI_MAX_ARGS];
} km_cli_opts;

/* Parse argv[1..argc-1] (argv[0] is the command name).  Returns KM_EXIT_OK or
 * KM_EXIT_USAGE after printing why. */
int km_cli_parse(int argc, char **argv, km_cli_opts *o);

/* Parse a number: 0x... hex, otherwise decimal (a bare hex string with a-f is accepted too). */
bool km_cli_u64(const char *s, uint64_t *out);

/* What a command works on: guest memory, registers and live QEMU connections. */
typedef struct km_cli_target {
    km_arch arch;
    bool arch_known;
    km_mem mem;
    bool mem_open;
    km_qmp *qmp;              /* heap: the client buffers are large */
    km_pgwalk_cfg cfg;
    bool cfg_ok;
    /* the raw registers behind cfg (for the guest-kernel handshake) */
    uint64_t cr3;
    uint64_t cr4;
    uint64_t ttbr1;
    uint64_t tcr;
} km_cli_target;

void km_cli_target_init(km_cli_target *t);
void km_cli_target_fini(km_cli_target *t);
/* Connect to QMP if --qmp (and learn the architecture from QEMU). */
int km_cli_open_qmp(const km_cli_opts *o, km_cli_target *t);
/* Open guest memory from --mem, or from the RAM file QEMU reports over --qmp. */
int km_cli_open_mem(const km_cli_opts *o, km_cli_target *t);
/* Page-walk configuration from --cr3/--ttbr1/--tcr, QMP (x86) or the gdbstub (arm64). */
int km_cli_load_regs(const km_cli_opts *o, km_cli_target *t);

/* Print a km_error as "what: status (details)" on stderr. */
void km_cli_report(const char *what, km_status st, const km_error *err);

const char *km_cli_arch_name(km_arch a);

#endif /* KTMON_CLI_OPTS_H */
