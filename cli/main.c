/* ktmon: the command-line entry point and subcommand table. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ktmon/api.h"
#include "ktmon/status.h"
#include "cli.h"

static bool km_cli_quiet;

void km_cli_set_quiet(bool quiet)
{
    km_cli_quiet = quiet;
}

void km_cli_err(const char *fmt, ...)
{
    va_list ap;
    if (km_cli_quiet) {
        return;
    }
    va_start(ap, fmt);
    (void)fputs("ktmon: ", stderr);
    (void)vfprintf(stderr, fmt, ap);
    (void)fputc('\n', stderr);
    va_end(ap);
}

static int cmd_version(int argc, char **argv);
static void usage_version(FILE *out);

static const km_cli_cmd km_cmds[] = {
    {"translate", "translate kernel virtual addresses, showing every page-table level", km_cmd_translate,
     km_usage_translate},
    {"read", "read kernel memory by symbol, field, per-CPU variable, KVA or PA", km_cmd_read, km_usage_read},
    {"write", "write kernel memory (cold under a QMP freeze, or hot)", km_cmd_write, km_usage_write},
    {"kop", "apply a batch of kernel reads/writes from a wire-format or JSON file", km_cmd_kop, km_usage_kop},
    {"tasks", "list the guest's tasks (pid, tgid, comm)", km_cmd_tasks, km_usage_tasks},
    {"percpu", "per-CPU offsets and runqueues", km_cmd_percpu, km_usage_percpu},
    {"watch", "watch sched_ext exits with a hardware watchpoint; freeze and dump on error", km_cmd_watch,
     km_usage_watch},
    {"dump", "freeze the VM, dump its state as JSON, thaw it", km_cmd_dump, km_usage_dump},
    {"sym", "kernel symbols by name or address (vmlinux or System.map)", km_cmd_sym, km_usage_sym},
    {"offsetof", "struct member offsets, sizes and enum values from BTF", km_cmd_offsetof,
     km_usage_offsetof},
    {"bpf", "BPF maps (and values) and struct_ops programs of the guest kernel", km_cmd_bpf, km_usage_bpf},
    {"version", "print the version", cmd_version, usage_version},
};

#define KM_NCMDS (sizeof(km_cmds) / sizeof(km_cmds[0]))

static void usage_main(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon [--version] [--help] COMMAND [ARGS]\n"
                  "\n"
                  "Host-side monitor for the Linux kernel inside a virtual machine.\n"
                  "\n"
                  "Commands:\n");
    for (size_t i = 0; i < KM_NCMDS; i++) {
        (void)fprintf(out, "  %-12s %s\n", km_cmds[i].name, km_cmds[i].summary);
    }
    (void)fprintf(out,
                  "\n"
                  "'ktmon COMMAND --help' describes one command.\n"
                  "Exit codes: 0 ok, 1 scheduler error caught, 2 usage, 3 target or I/O error.\n");
}

static void usage_version(FILE *out)
{
    (void)fprintf(out, "usage: ktmon version\n\nPrint ktmon's version.\n");
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    (void)printf("ktmon %s\n", KTMON_VERSION_STRING);
    return KM_EXIT_OK;
}

int main(int argc, char **argv)
{
    int rc = KM_EXIT_USAGE;
    if (argc < 2) {
        usage_main(stderr);
    } else if ((strcmp(argv[1], "--help") == 0) || (strcmp(argv[1], "-h") == 0) ||
               (strcmp(argv[1], "help") == 0)) {
        usage_main(stdout);
        rc = KM_EXIT_OK;
    } else if (strcmp(argv[1], "--version") == 0) {
        rc = cmd_version(argc - 1, argv + 1);
    } else {
        /* Common options may come before the command: find the command word and
         * hand the command [command, options before it..., arguments after it...]. */
        const km_cli_cmd *cmd = NULL;
        int at = 1;
        for (int a = 1; (cmd == NULL) && (a < argc); a++) {
            for (size_t i = 0; i < KM_NCMDS; i++) {
                if (strcmp(argv[a], km_cmds[i].name) == 0) {
                    cmd = &km_cmds[i];
                    at = a;
                }
            }
        }
        if (cmd == NULL) {
            km_cli_err("unknown command '%s' (see 'ktmon --help')", argv[1]);
        } else if (((at + 1) < argc) && ((strcmp(argv[at + 1], "--help") == 0) || (strcmp(argv[at + 1], "-h") == 0))) {
            cmd->usage(stdout);
            rc = KM_EXIT_OK;
        } else {
            char *saved = argv[at];
            for (int a = at; a > 1; a--) {
                argv[a] = argv[a - 1];
            }
            argv[1] = saved;
            rc = cmd->run(argc - 1, argv + 1);
        }
    }
    return rc;
}
