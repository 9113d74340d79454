/* ktmon bpf: the guest's BPF maps and programs, read from guest memory (map_idr, prog_idr). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"
#include "ktmon/bpf_introspect.h"

/* Records kept for one listing (printed after the walk, so that --json output is whole or absent). */
#define KM_BPF_CLI_MAX 4096u
#define KM_BPF_CLI_DEF_KEYS 16u
#define KM_BPF_CLI_DEF_BYTES 4096u
#define KM_BPF_CLI_MAX_BYTES (1u << 20)
#define KM_BPF_CLI_MAX_KEYS 65536u
#define KM_BPF_CLI_MAX_ERRS 64u

void km_usage_bpf(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon bpf maps [--json] [--values] [--map NAME] [--max-keys N] [--max-bytes N] TARGET\n"
                  "       ktmon bpf progs [--all] [--json] TARGET\n"
                  "TARGET: --vmlinux PATH [--qmp SOCKET] [--gdb HOST:PORT] [--mem SPEC]\n"
                  "\n"
                  "maps   every BPF map of the guest kernel (walked from map_idr): id, name, type,\n"
                  "       key/value sizes, max entries, flags.  --map NAME shows one map (the one\n"
                  "       named NAME, else the first whose name ends with NAME, e.g. .bss).\n"
                  "       --values adds the values of ARRAY maps (hex; per CPU for PERCPU_ARRAY;\n"
                  "       the kernel's copy of a STRUCT_OPS map's value): the first --max-keys keys\n"
                  "       (default %u) and the first --max-bytes bytes of each value (default %u).\n"
                  "progs  struct_ops programs (walked from prog_idr; --all: every program): id, name,\n"
                  "       type, verified instructions, run count and run time summed over CPUs.\n"
                  "       Run statistics are collected only while the guest has bpf_stats_enabled\n"
                  "       (sysctl kernel.bpf_stats_enabled or a BPF_ENABLE_STATS file descriptor);\n"
                  "       they are reported as they are, with whether collection is on now.\n"
                  "\n"
                  "Offsets, enum values and type names come from the vmlinux BTF.  At most %u maps or\n"
                  "programs are listed.  Exit codes: 0 ok, 2 usage, 3 target error (including a map\n"
                  "or program that could not be read: the others are still printed).\n",
                  KM_BPF_CLI_DEF_KEYS, KM_BPF_CLI_DEF_BYTES, KM_BPF_CLI_MAX);
}

typedef struct {
    bool maps;       /* else progs */
    bool values;
    bool all;
    const char *map;
    uint32_t max_keys;
    uint32_t max_bytes;
} km_bpf_args;

/* One failed entry of a listing. */
typedef struct {
    uint32_t id;
    km_status status;
    km_bpf_reason reason;
    uint64_t addr;
} km_bpf_cli_err;

static int km_bpf_parse_args(const km_cli_opts *o, km_bpf_args *a)
{
    static const km_bpf_args none;
    int rc = KM_EXIT_OK;
    *a = none;
    a->max_keys = KM_BPF_CLI_DEF_KEYS;
    a->max_bytes = KM_BPF_CLI_DEF_BYTES;
    if (o->nrest < 1) {
        km_cli_err("bpf: say 'maps' or 'progs' (see 'ktmon bpf --help')");
        rc = KM_EXIT_USAGE;
    } else if (strcmp(o->rest[0], "maps") == 0) {
        a->maps = true;
    } else if (strcmp(o->rest[0], "progs") == 0) {
        a->maps = false;
    } else {
        km_cli_err("bpf: unknown subcommand '%s' (maps or progs)", o->rest[0]);
        rc = KM_EXIT_USAGE;
    }
    for (int i = 1; (rc == KM_EXIT_OK) && (i < o->nrest); i++) {
        const char *s = o->rest[i];
        const char *v = ((i + 1) < o->nrest) ? o->rest[i + 1] : NULL;
        uint64_t n = 0u;
        if (a->maps && (strcmp(s, "--values") == 0)) {
            a->values = true;
        } else if (!a->maps && (strcmp(s, "--all") == 0)) {
            a->all = true;
        } else if (a->maps && (strcmp(s, "--map") == 0) && (v != NULL)) {
            a->map = v;
            i++;
        } else if (a->maps && (strcmp(s, "--max-keys") == 0) && (v != NULL) && km_cli_u64(v, &n) && (n >= 1u) &&
                   (n <= KM_BPF_CLI_MAX_KEYS)) {
            a->max_keys = (uint32_t)n;
            i++;
        } else if (a->maps && (strcmp(s, "--max-bytes") == 0) && (v != NULL) && km_cli_u64(v, &n) && (n >= 1u) &&
                   (n <= KM_BPF_CLI_MAX_BYTES)) {
            a->max_bytes = (uint32_t)n;
            i++;
        } else {
            km_cli_err("bpf %s: unexpected or bad argument '%s'%s", o->rest[0], s,
                       (v == NULL) ? "" : " (or its value)");
            rc = KM_EXIT_USAGE;
        }
    }
    return rc;
}

/* A guest-supplied name as a JSON string body (the kernel restricts names to [A-Za-z0-9_.], but this is guest memory). */
static void km_bpf_json_str(const char *s)
{
    for (size_t i = 0u; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c == (unsigned char)'"') || (c == (unsigned char)'\\')) {
            (void)printf("\\%c", c);
        } else if ((c < 0x20u) || (c >= 0x7fu)) {
            (void)printf("\\u%04x", c);
        } else {
            (void)putchar(c);
        }
    }
}

/* The same for text output: non-printable bytes as '?'. */
static void km_bpf_text_str(const char *s)
{
    for (size_t i = 0u; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        (void)putchar(((c < 0x20u) || (c >= 0x7fu)) ? '?' : (int)c);
    }
}

static void km_bpf_hex(const uint8_t *b, uint32_t n)
{
    for (uint32_t i = 0u; i < n; i++) {
        (void)printf("%02x", b[i]);
    }
}

static void km_bpf_report(const char *what, uint32_t id, km_status st, const km_bpf_error *e)
{
    km_cli_err("%s %u: %s: %s (at 0x%llx)", what, id, km_status_name(st), km_bpf_reason_name(e->reason),
               (unsigned long long)e->addr);
}

static int km_bpf_open(const km_cli_opts *o, km_cli_kernel *k, km_bpf_offsets *off)
{
    int rc = km_cli_kernel_open(o, k, KM_CLI_NEED_BTF);
    if (rc == KM_EXIT_OK) {
        km_bpf_error e;
        km_status st = km_bpf_offsets_init(&k->btf, &k->ks, off, &e);
        if (st != KM_OK) {
            km_cli_err("%s: %s: %s%s%s", o->vmlinux, km_bpf_reason_name(e.reason), km_status_name(st),
                       (e.what != NULL) ? ": " : "", (e.what != NULL) ? e.what : "");
            rc = KM_EXIT_TARGET;
        }
    }
    if (rc == KM_EXIT_OK) {
        /* per-CPU offsets: needed for program statistics and per-CPU values; a guest
         * without them yet still gets everything else */
        km_gk_error ge;
        if (km_gk_try_init_percpu(k->gk, &ge) != KM_OK) {
            km_cli_err("per-CPU offsets not available (%s): no per-CPU data", km_status_name(ge.status));
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ maps */

/* Print (JSON or text) the values of m; returns KM_EXIT_TARGET if one could not be read. */
static int km_bpf_print_values(km_cli_kernel *k, const km_bpf_offsets *off, const km_bpf_map_info *m,
                               const km_bpf_args *a, bool json, uint8_t *buf)
{
    int rc = KM_EXIT_OK;
    bool percpu = (m->kind == KM_BPF_MAP_PERCPU_ARRAY);
    uint32_t keys = (m->kind == KM_BPF_MAP_STRUCT_OPS) ? 1u : m->max_entries;
    uint32_t len = (m->value_size < a->max_bytes) ? m->value_size : a->max_bytes;
    uint32_t ncpu = (percpu && k->gk->percpu_ready) ? k->gk->ncpus : 1u;
    bool readable = (m->kind != KM_BPF_MAP_OTHER) && (len > 0u);
    if (keys > a->max_keys) {
        keys = a->max_keys;
    }
    if (json) {
        (void)printf(",\"values_truncated\":%s,\"values\":[", ((len < m->value_size) || (keys < m->max_entries)) &&
                                                                   (m->kind != KM_BPF_MAP_STRUCT_OPS) ? "true" : "false");
    }
    for (uint32_t key = 0u; readable && (key < keys); key++) {
        if (json) {
            (void)printf("%s{\"key\":%u", (key > 0u) ? "," : "", key);
            if (percpu) {
                (void)printf(",\"cpus\":[");
            }
        }
        for (uint32_t c = 0u; c < ncpu; c++) {
            km_bpf_error e;
            km_status st = percpu ? km_bpf_map_percpu_value(k->gk, off, m, key, c, 0u, buf, len, &e)
                                  : km_bpf_map_value(k->gk, off, m, key, 0u, buf, len, &e);
            if (st != KM_OK) {
                km_cli_err("map %u (%s) key %u%s: %s: %s (at 0x%llx)", m->id, m->name, key, percpu ? " per-CPU" : "",
                           km_status_name(st), km_bpf_reason_name(e.reason), (unsigned long long)e.addr);
                rc = KM_EXIT_TARGET;
            }
            if (json) {
                if (percpu) {
                    (void)printf("%s{\"cpu\":%u,", (c > 0u) ? "," : "", c);
                } else {
                    (void)putchar(',');
                }
                if (st == KM_OK) {
                    (void)printf("\"hex\":\"");
                    km_bpf_hex(buf, len);
                    (void)printf("\"");
                } else {
                    (void)printf("\"error\":\"%s\"", km_status_name(st));
                }
                if (percpu) {
                    (void)putchar('}');
                }
            } else if (st == KM_OK) {
                if (percpu) {
                    (void)printf("    key %u cpu %u: ", key, c);
                } else {
                    (void)printf("    key %u: ", key);
                }
                km_bpf_hex(buf, len);
                (void)printf("%s\n", (len < m->value_size) ? " ..." : "");
            } else {
                /* reported */
            }
        }
        if (json) {
            (void)printf("%s}", percpu ? "]" : "");
        }
    }
    if (json) {
        (void)putchar(']');
    }
    return rc;
}

static void km_bpf_print_map(const km_bpf_map_info *m, bool json, bool first)
{
    if (json) {
        (void)printf("%s{\"id\":%u,\"idr_id\":%u,\"name\":\"", first ? "" : ",", m->id, m->idr_id);
        km_bpf_json_str(m->name);
        (void)printf("\",\"type\":%u,\"type_name\":", m->type);
        if (m->type_name != NULL) {
            (void)printf("\"%s\"", m->type_name);
        } else {
            (void)printf("null");
        }
        (void)printf(",\"key_size\":%u,\"value_size\":%u,\"max_entries\":%u,\"flags\":%u,\"kva\":\"0x%llx\"",
                     m->key_size, m->value_size, m->max_entries, m->map_flags, (unsigned long long)m->kva);
        if (m->value_kva != 0u) {
            (void)printf(",\"value_kva\":\"0x%llx\"", (unsigned long long)m->value_kva);
        }
        if (m->data_kva != 0u) {
            (void)printf(",\"data_kva\":\"0x%llx\"", (unsigned long long)m->data_kva);
        }
    } else {
        (void)printf("%5u %-22s %5u %7u %8u %8s0x%-6x ", m->id, (m->type_name != NULL) ? m->type_name : "?",
                     m->key_size, m->value_size, m->max_entries, "", m->map_flags);
        km_bpf_text_str(m->name);
        if (m->type_name == NULL) {
            (void)printf(" (type %u)", m->type);
        }
        if (m->kind == KM_BPF_MAP_STRUCT_OPS) {
            (void)printf(" kvalue 0x%llx", (unsigned long long)m->value_kva);
        }
        (void)putchar('\n');
    }
}

static int km_bpf_maps(km_cli_kernel *k, const km_bpf_offsets *off, const km_bpf_args *a, bool json)
{
    int rc = KM_EXIT_OK;
    km_bpf_map_info *maps = calloc(KM_BPF_CLI_MAX, sizeof(*maps));
    uint8_t *buf = malloc(a->max_bytes);
    km_bpf_cli_err errs[KM_BPF_CLI_MAX_ERRS];
    uint32_t nerr = 0u;
    uint32_t n = 0u;
    uint32_t more = 0u;
    static const km_bpf_idr_iter no_iter;
    km_bpf_idr_iter it = no_iter;
    km_bpf_error e;
    km_status st = KM_OK;
    if ((maps == NULL) || (buf == NULL)) {
        km_cli_err("out of memory");
        rc = KM_EXIT_TARGET;
    } else if (a->map != NULL) {
        st = km_bpf_find_map(k->gk, off, a->map, &maps[0], &e);
        if (st == KM_OK) {
            n = 1u;
        } else if (st == KM_ERR_NO_SYMBOL) {
            km_cli_err("no map named '%s' (nor ending with it)", a->map);
            rc = KM_EXIT_TARGET;
        } else {
            km_cli_err("map_idr: %s: %s (at 0x%llx)", km_status_name(st), km_bpf_reason_name(e.reason),
                       (unsigned long long)e.addr);
            rc = KM_EXIT_TARGET;
        }
    } else {
        st = km_bpf_maps_begin(k->gk, off, &it, &e);
        bool done = (st != KM_OK);
        while (!done) {
            bool has = false;
            km_bpf_map_info m;
            km_status s = km_bpf_maps_next(k->gk, off, &it, &m, &has, &e);
            if ((s == KM_OK) && !has) {
                done = true;
            } else if (s == KM_OK) {
                if (n < KM_BPF_CLI_MAX) {
                    maps[n] = m;
                    n++;
                } else {
                    more++;
                }
            } else if (it.xa.state == KM_BPF_XA_FAILED) {
                st = s; /* the walk itself failed */
                done = true;
            } else {
                if (nerr < KM_BPF_CLI_MAX_ERRS) {
                    errs[nerr] = (km_bpf_cli_err){e.id, s, e.reason, e.addr};
                    nerr++;
                }
                km_bpf_report("map", e.id, s, &e);
                rc = KM_EXIT_TARGET;
            }
        }
        if (st != KM_OK) {
            km_cli_err("map_idr walk: %s: %s (at 0x%llx, value 0x%llx)", km_status_name(st),
                       km_bpf_reason_name(e.reason), (unsigned long long)e.addr, (unsigned long long)e.value);
            rc = KM_EXIT_TARGET;
        }
    }
    if ((st == KM_OK) && json) {
        (void)printf("{\"maps\":[");
    } else if ((st == KM_OK) && (n > 0u)) {
        (void)printf("%5s %-22s %5s %7s %8s %8s%-8s %s\n", "ID", "TYPE", "KEY", "VALUE", "MAX", "", "FLAGS", "NAME");
    } else {
        /* nothing to print */
    }
    for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
        km_bpf_print_map(&maps[i], json, i == 0u);
        if (a->values) {
            if (km_bpf_print_values(k, off, &maps[i], a, json, buf) != KM_EXIT_OK) {
                rc = KM_EXIT_TARGET;
            }
        }
        if (json) {
            (void)putchar('}');
        }
    }
    if ((st == KM_OK) && json) {
        (void)printf("],\"count\":%u,\"not_listed\":%u,\"skipped_entries\":%u,", n, more, it.skipped);
        if (a->map == NULL) {
            (void)printf("\"idr_next\":%u,\"errors\":[", it.next_id); /* idr_alloc_cyclic's next id */
        } else {
            (void)printf("\"idr_next\":null,\"errors\":[");
        }
        for (uint32_t i = 0u; i < nerr; i++) {
            (void)printf("%s{\"id\":%u,\"status\":\"%s\",\"reason\":\"%s\",\"addr\":\"0x%llx\"}", (i > 0u) ? "," : "",
                         errs[i].id, km_status_name(errs[i].status), km_bpf_reason_name(errs[i].reason),
                         (unsigned long long)errs[i].addr);
        }
        (void)printf("]}\n");
    }
    if (more > 0u) {
        km_cli_err("%u more maps not listed (at most %u)", more, KM_BPF_CLI_MAX);
    }
    free(buf);
    free(maps);
    return rc;
}

/* ------------------------------------------------------------------ programs */

static void km_bpf_print_prog(const km_bpf_prog_info *p, bool json, bool first)
{
    if (json) {
        (void)printf("%s{\"id\":%u,\"idr_id\":%u,\"name\":\"", first ? "" : ",", p->id, p->idr_id);
        km_bpf_json_str(p->name);
        (void)printf("\",\"type\":%u,\"type_name\":", p->type);
        if (p->type_name != NULL) {
            (void)printf("\"%s\"", p->type_name);
        } else {
            (void)printf("null");
        }
        (void)printf(",\"struct_ops\":%s,\"verified_insns\":%u,\"kva\":\"0x%llx\",\"stats\":\"%s\"",
                     p->struct_ops ? "true" : "false", p->verified_insns, (unsigned long long)p->kva,
                     (p->stats_status == KM_OK) ? "ok" : km_status_name(p->stats_status));
        if (p->stats_status == KM_OK) {
            (void)printf(",\"run_cnt\":%llu,\"run_time_ns\":%llu,\"stats_cpus\":%u", (unsigned long long)p->run_cnt,
                         (unsigned long long)p->run_time_ns, p->stats_cpus);
        } else {
            (void)printf(",\"run_cnt\":null,\"run_time_ns\":null");
        }
        (void)putchar('}');
    } else {
        (void)printf("%5u %-16s %9u ", p->id, (p->type_name != NULL) ? p->type_name : "?", p->verified_insns);
        if (p->stats_status == KM_OK) {
            (void)printf("%12llu %15llu ", (unsigned long long)p->run_cnt, (unsigned long long)p->run_time_ns);
        } else {
            (void)printf("%12s %15s ", "-", "-");
        }
        km_bpf_text_str(p->name);
        if (p->type_name == NULL) {
            (void)printf(" (type %u)", p->type);
        }
        (void)putchar('\n');
    }
}

static int km_bpf_progs(km_cli_kernel *k, const km_bpf_offsets *off, const km_bpf_args *a, bool json)
{
    int rc = KM_EXIT_OK;
    km_bpf_prog_info *progs = calloc(KM_BPF_CLI_MAX, sizeof(*progs));
    uint32_t n = 0u;
    uint32_t more = 0u;
    static const km_bpf_idr_iter no_iter;
    km_bpf_idr_iter it = no_iter;
    km_bpf_error e;
    km_status st = KM_OK;
    bool on = false;
    km_status on_st = km_bpf_stats_enabled(k->gk, off, &on, &e);
    if (progs == NULL) {
        km_cli_err("out of memory");
        rc = KM_EXIT_TARGET;
        st = KM_ERR_NO_MEMORY;
    } else {
        st = km_bpf_progs_begin(k->gk, off, &it, &e);
    }
    bool done = (st != KM_OK);
    while (!done) {
        bool has = false;
        km_bpf_prog_info p;
        km_status s = km_bpf_progs_next(k->gk, off, &it, a->all, &p, &has, &e);
        if ((s == KM_OK) && !has) {
            done = true;
        } else if (s == KM_OK) {
            if (n < KM_BPF_CLI_MAX) {
                progs[n] = p;
                n++;
            } else {
                more++;
            }
        } else if (it.xa.state == KM_BPF_XA_FAILED) {
            st = s;
            done = true;
        } else {
            km_bpf_report("program", e.id, s, &e);
            rc = KM_EXIT_TARGET;
        }
    }
    if ((st != KM_OK) && (progs != NULL)) {
        km_cli_err("prog_idr walk: %s: %s (at 0x%llx, value 0x%llx)", km_status_name(st), km_bpf_reason_name(e.reason),
                   (unsigned long long)e.addr, (unsigned long long)e.value);
        rc = KM_EXIT_TARGET;
    }
    if ((st == KM_OK) && json) {
        (void)printf("{\"progs\":[");
        for (uint32_t i = 0u; i < n; i++) {
            km_bpf_print_prog(&progs[i], true, i == 0u);
        }
        (void)printf("],\"count\":%u,\"not_listed\":%u,\"filtered\":%u,\"skipped_entries\":%u,\"stats_enabled\":%s}\n",
                     n, more, it.filtered, it.skipped, (on_st != KM_OK) ? "null" : (on ? "true" : "false"));
    } else if (st == KM_OK) {
        (void)printf("# run statistics are %s\n", (on_st != KM_OK) ? "of unknown state (no bpf_stats_enabled_key)"
                                                  : (on ? "being collected (bpf_stats_enabled)"
                                                        : "not being collected (bpf_stats_enabled is off)"));
        if (n > 0u) {
            (void)printf("%5s %-16s %9s %12s %15s %s\n", "ID", "TYPE", "VERIFIED", "RUN_CNT", "RUN_TIME_NS", "NAME");
        }
        for (uint32_t i = 0u; i < n; i++) {
            km_bpf_print_prog(&progs[i], false, i == 0u);
        }
        if (!a->all && (it.filtered > 0u)) {
            (void)printf("# %u programs of other types not shown (--all shows them)\n", it.filtered);
        }
    } else {
        /* reported */
    }
    if (more > 0u) {
        km_cli_err("%u more programs not listed (at most %u)", more, KM_BPF_CLI_MAX);
    }
    free(progs);
    return rc;
}

int km_cmd_bpf(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_kernel k;
    km_bpf_args a;
    km_bpf_offsets off;
    bool opened = false;
    int rc = km_cli_parse(argc, argv, &o);
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_bpf(stdout);
    } else {
        if (rc == KM_EXIT_OK) {
            rc = km_bpf_parse_args(&o, &a);
        }
        if (rc == KM_EXIT_OK) {
            rc = km_bpf_open(&o, &k, &off);
            opened = true;
        }
        if (rc == KM_EXIT_OK) {
            rc = a.maps ? km_bpf_maps(&k, &off, &a, o.json) : km_bpf_progs(&k, &off, &a, o.json);
        }
        if (opened) {
            km_cli_kernel_close(&k);
        }
    }
    return rc;
}
