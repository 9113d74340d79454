/* ktmon command line: shared declarations of the subcommands. */
#ifndef KTMON_CLI_H
#define KTMON_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* Documented exit codes (docs/user-guide.md). */
enum km_exit {
    KM_EXIT_OK = 0,            /* success */
    KM_EXIT_SCHED_ERROR = 1,   /* a sched_ext error exit was caught */
    KM_EXIT_USAGE = 2,         /* bad command line */
    KM_EXIT_TARGET = 3         /* target, file or I/O error */
};

typedef struct km_cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
} km_cli_cmd;

/* Subcommands (cli/cmd_<name>.c). */
int km_cmd_translate(int argc, char **argv);
void km_usage_translate(FILE *out);
int km_cmd_read(int argc, char **argv);
void km_usage_read(FILE *out);
int km_cmd_write(int argc, char **argv);
void km_usage_write(FILE *out);
int km_cmd_kop(int argc, char **argv);
void km_usage_kop(FILE *out);
int km_cmd_tasks(int argc, char **argv);
void km_usage_tasks(FILE *out);
int km_cmd_percpu(int argc, char **argv);
void km_usage_percpu(FILE *out);
int km_cmd_watch(int argc, char **argv);
void km_usage_watch(FILE *out);
int km_cmd_dump(int argc, char **argv);
void km_usage_dump(FILE *out);
int km_cmd_sym(int argc, char **argv);
void km_usage_sym(FILE *out);
int km_cmd_offsetof(int argc, char **argv);
void km_usage_offsetof(FILE *out);
int km_cmd_bpf(int argc, char **argv);
void km_usage_bpf(FILE *out);

/* While quiet, km_cli_err prints nothing (used for silent retries). */
void km_cli_set_quiet(bool quiet);

/* Print "ktmon: <msg>" to stderr (printf format). */
void km_cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* KTMON_CLI_H */
