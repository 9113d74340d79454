/* ktmon sym: kernel symbols by name or by address (vmlinux .symtab or System.map). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/ksym.h"
#include "cli.h"
#include "opts.h"

void km_usage_sym(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon sym [--vmlinux PATH | --system-map PATH] [--arch x86_64|arm64] [--json]\n"
                  "                 [NAME...] [--addr ADDRESS...]\n"
                  "\n"
                  "Look up kernel symbols: a NAME gives its address, nm-style type and size; --addr\n"
                  "ADDRESS gives the nearest symbol at or below it and the offset (\"_text+0x5\").\n"
                  "\n"
                  "Symbols come from the vmlinux's .symtab (--vmlinux, default $KTMON_VMLINUX; use\n"
                  "the vmlinux of the kernel's -dbg package: one extracted from vmlinuz is stripped)\n"
                  "or from a System.map (--system-map; no sizes).  --arch refuses a vmlinux built for\n"
                  "another architecture.  Of several symbols with one name, a global one is shown,\n"
                  "else the last; the count of others is reported.\n"
                  "\n"
                  "--json prints one object: addresses as \"0x...\" strings, sizes and offsets as numbers.\n"
                  "Exit status: 0 all found, 3 a name or address not found or the file unreadable,\n"
                  "2 usage.\n");
}

static void km_sym_json_str(const char *s)
{
    (void)putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p != 0u; p++) {
        if ((*p == (unsigned char)'"') || (*p == (unsigned char)'\\')) {
            (void)printf("\\%c", (char)*p);
        } else if (*p < 0x20u) {
            (void)printf("\\u%04x", (unsigned int)*p);
        } else {
            (void)putchar((int)*p);
        }
    }
    (void)putchar('"');
}

typedef struct km_sym_query {
    const char *text;  /* the argument as given */
    bool by_addr;
    uint64_t addr;
} km_sym_query;

typedef struct km_sym_args {
    const char *vmlinux;
    const char *system_map;
    km_sym_query q[KM_CLI_MAX_ARGS];
    int nq;
} km_sym_args;

/* Command-specific options and positionals out of o->rest. */
static int km_sym_args_parse(const km_cli_opts *o, km_sym_args *a)
{
    int rc = KM_EXIT_OK;
    const char *env = getenv("KTMON_VMLINUX");
    for (int i = 0; (rc == KM_EXIT_OK) && (i < o->nrest); i++) {
        const char *s = o->rest[i];
        const char *v = (i + 1 < o->nrest) ? o->rest[i + 1] : NULL;
        if ((strcmp(s, "--system-map") == 0) || (strcmp(s, "--addr") == 0)) {
            if (v == NULL) {
                km_cli_err("sym: option %s needs a value", s);
                rc = KM_EXIT_USAGE;
            } else if (strcmp(s, "--system-map") == 0) {
                a->system_map = v;
            } else if (!km_cli_u64(v, &a->q[a->nq].addr)) {
                km_cli_err("sym: not an address: '%s'", v);
                rc = KM_EXIT_USAGE;
            } else {
                a->q[a->nq].text = v;
                a->q[a->nq].by_addr = true;
                a->nq++;
            }
            i++;
        } else if ((s[0] == '-') && (s[1] == '-')) {
            km_cli_err("sym: unknown option '%s' (see ktmon sym --help)", s);
            rc = KM_EXIT_USAGE;
        } else {
            a->q[a->nq].text = s;
            a->q[a->nq].by_addr = false;
            a->nq++;
        }
    }
    /* --vmlinux on the command line, else --system-map, else $KTMON_VMLINUX. */
    bool vm_explicit = (o->vmlinux != NULL) && (o->vmlinux != env);
    if ((rc == KM_EXIT_OK) && vm_explicit && (a->system_map != NULL)) {
        km_cli_err("sym: give --vmlinux or --system-map, not both");
        rc = KM_EXIT_USAGE;
    } else if (rc == KM_EXIT_OK) {
        a->vmlinux = (a->system_map == NULL) ? o->vmlinux : NULL;
        if ((a->vmlinux == NULL) && (a->system_map == NULL)) {
            km_cli_err("sym: no symbol source: give --vmlinux PATH, --system-map PATH or set "
                       "KTMON_VMLINUX");
            rc = KM_EXIT_USAGE;
        } else if (a->nq == 0) {
            km_cli_err("sym: no NAME or --addr given (see ktmon sym --help)");
            rc = KM_EXIT_USAGE;
        } else {
            /* ready */
        }
    } else {
        /* usage error already reported */
    }
    return rc;
}

static void km_sym_print_one(const km_ksym_sym *s, const km_sym_query *q, uint64_t off, bool json,
                             bool first)
{
    if (json) {
        (void)printf("%s{\"query\":", first ? "" : ",");
        km_sym_json_str(q->text);
        (void)printf(",\"found\":true,\"name\":");
        km_sym_json_str(s->name);
        (void)printf(",\"address\":\"0x%llx\",\"type\":\"%c\"", (unsigned long long)s->addr, s->type);
        if (s->size_known) {
            (void)printf(",\"size\":%llu", (unsigned long long)s->size);
        }
        if (q->by_addr) {
            (void)printf(",\"offset\":%llu", (unsigned long long)off);
        } else {
            (void)printf(",\"same_name\":%u", s->same_name);
        }
        (void)printf("}");
    } else {
        if (q->by_addr) {
            (void)printf("0x%016llx %s+0x%llx %c 0x%016llx", (unsigned long long)q->addr, s->name,
                         (unsigned long long)off, s->type, (unsigned long long)s->addr);
        } else {
            (void)printf("%s 0x%016llx %c", s->name, (unsigned long long)s->addr, s->type);
        }
        if (s->size_known) {
            (void)printf(" size %llu", (unsigned long long)s->size);
        }
        if (!q->by_addr && (s->same_name > 0u)) {
            (void)printf(" (%u other symbols share this name)", s->same_name);
        }
        (void)printf("\n");
    }
}

static int km_sym_run(const km_sym_args *a, const km_cli_opts *o)
{
    int rc = KM_EXIT_OK;
    km_ksym t;
    km_ksym_error e;
    char msg[512];
    km_status st;
    const char *path = (a->system_map != NULL) ? a->system_map : a->vmlinux;
    if (a->system_map != NULL) {
        st = km_ksym_load_system_map(&t, a->system_map, &e);
    } else {
        km_ksym_opts ko = {.check_arch = o->arch_set, .arch = o->arch};
        st = km_ksym_load_elf(&t, a->vmlinux, &ko, &e);
    }
    if (st != KM_OK) {
        (void)km_ksym_strerror(&e, msg, sizeof(msg));
        km_cli_err("sym: %s: %s", path, msg);
        if (o->json) {
            (void)printf("{\"error\":");
            km_sym_json_str(msg);
            (void)printf(",\"path\":");
            km_sym_json_str(path);
            (void)printf("}\n");
        }
        rc = KM_EXIT_TARGET;
    } else {
        km_arch arch = KM_ARCH_X86_64;
        bool arch_known = (km_ksym_arch(&t, &arch) == KM_OK);
        if (o->json) {
            (void)printf("{\"source\":\"%s\",\"path\":", (a->system_map != NULL) ? "system-map" : "vmlinux");
            km_sym_json_str(path);
            if (arch_known) {
                (void)printf(",\"arch\":\"%s\"", km_ksym_arch_name(arch));
            }
            (void)printf(",\"count\":%u,\"symbols\":[", km_ksym_count(&t));
        }
        for (int i = 0; i < a->nq; i++) {
            const km_sym_query *q = &a->q[i];
            km_ksym_sym s;
            uint64_t off = 0u;
            st = q->by_addr ? km_ksym_lookup_addr(&t, q->addr, &s, &off) : km_ksym_lookup(&t, q->text, &s);
            if (st == KM_OK) {
                km_sym_print_one(&s, q, off, o->json, i == 0);
            } else {
                rc = KM_EXIT_TARGET;
                if (q->by_addr) {
                    km_cli_err("sym: no symbol at or below %s in %s", q->text, path);
                } else {
                    km_cli_err("sym: no symbol '%s' in %s", q->text, path);
                }
                if (o->json) {
                    (void)printf("%s{\"query\":", (i == 0) ? "" : ",");
                    km_sym_json_str(q->text);
                    (void)printf(",\"found\":false}");
                }
            }
        }
        if (o->json) {
            (void)printf("]}\n");
        }
        km_ksym_fini(&t);
    }
    return rc;
}

int km_cmd_sym(int argc, char **argv)
{
    km_cli_opts o;
    int rc = km_cli_parse(argc, argv, &o);
    km_sym_args *a = NULL;
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_sym(stdout);
    } else if (rc == KM_EXIT_OK) {
        a = calloc(1u, sizeof(*a)); /* zeroed: no queries, no paths */
        if (a == NULL) {
            km_cli_err("sym: out of memory");
            rc = KM_EXIT_TARGET;
        } else {
            rc = km_sym_args_parse(&o, a);
        }
        if (rc == KM_EXIT_OK) {
            rc = km_sym_run(a, &o);
        }
    } else {
        /* usage error already reported */
    }
    free(a);
    return rc;
}
