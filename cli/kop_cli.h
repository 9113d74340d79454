/* ktmon command line: kernel operations shared by `read`, `write` and `kop`. */
#ifndef KTMON_CLI_KOP_CLI_H
#define KTMON_CLI_KOP_CLI_H

#include <stdio.h>

#include "ktmon/kop_dispatch.h"
#include "kernel.h"

/* Parse the TARGET syntax (docs/user-guide.md):
 *   SYMBOL[.field.path][+OFF]   kva:ADDR   direct:ADDR   pa:ADDR
 *   percpu:SYMBOL[.field.path][+OFF]@CPU   task:PID[@STARTNS].field.path
 * struct_name (may be NULL) is the symbol's struct when it cannot be inferred.
 * Returns false (nothing printed) if the text does not parse. */
bool km_cli_kop_target(const char *text, const char *struct_name, km_kop_target *t);

/* Open what a request needs: guest memory only when every target is pa:,
 * else the guest kernel (+ BTF for member paths and tasks, + per-CPU offsets
 * for percpu: targets); then a dispatch context over it.  KM_EXIT_* code. */
int km_cli_kop_open(const km_cli_opts *o, km_cli_kernel *k, const km_kop_request *req, km_kop_ctx *ctx);

/* Run req: hot as is; cold = QMP stop, check that the VM no longer runs,
 * mint the freeze token, dispatch, thaw the gate, QMP cont (only if the VM
 * ran before).  A memory dump (core:) needs no freeze.  Returns KM_EXIT_OK
 * when the dispatch ran (rep says whether it succeeded), else an exit code
 * after printing why. */
int km_cli_kop_run(km_cli_kernel *k, km_kop_ctx *ctx, const km_kop_request *req, km_kop_reply *rep);

/* Print the reply: one line per read value (or JSON with --json). */
void km_cli_kop_print(FILE *out, const km_kop_reply *rep, bool json);

/* JSON string body (without quotes) with escapes. */
void km_cli_json_str(FILE *out, const char *s, size_t n);

/* The value of one hex digit, or -1. */
int km_cli_hex_digit(char c);

#endif /* KTMON_CLI_KOP_CLI_H */
