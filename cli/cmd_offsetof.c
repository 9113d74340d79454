/* ktmon offsetof: struct member offsets and sizes, type sizes and enum values from BTF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/btf.h"
#include "cli.h"
#include "opts.h"

void km_usage_offsetof(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon offsetof [--vmlinux PATH | --btf PATH [--base-btf PATH]] [--json]\n"
                  "                      [STRUCT[.FIELD...]...] [--enum [ENUM.]NAME...]\n"
                  "\n"
                  "Read BTF and print, for each STRUCT.FIELD[.FIELD...], the member's byte offset\n"
                  "from the start of STRUCT and its size (fields inside anonymous structs/unions\n"
                  "and through typedefs are found by name: rq.scx.nr_running); for a STRUCT alone,\n"
                  "its size; for a bitfield, its bit offset and width.  --enum NAME prints an\n"
                  "enumerator's value (ENUM.NAME picks the enum; NAME alone searches every enum).\n"
                  "\n"
                  "BTF comes from the vmlinux's .BTF section (--vmlinux, default $KTMON_VMLINUX) or a\n"
                  "BTF file (--btf: raw, e.g. /sys/kernel/btf/vmlinux, or an ELF with .BTF); a split\n"
                  "(module) BTF needs its base with --base-btf.\n"
                  "\n"
                  "--json prints one object: offsets, sizes and values as numbers.\n"
                  "Exit status: 0 all found, 3 a struct/field/enumerator not found or the file\n"
                  "unreadable, 2 usage.\n");
}

static void km_off_json_str(const char *s)
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

typedef struct km_off_args {
    const char *vmlinux;
    const char *btf;
    const char *base_btf;
    const char *paths[KM_CLI_MAX_ARGS];
    int npaths;
    const char *enums[KM_CLI_MAX_ARGS];
    int nenums;
} km_off_args;

static int km_off_args_parse(const km_cli_opts *o, km_off_args *a)
{
    int rc = KM_EXIT_OK;
    const char *env = getenv("KTMON_VMLINUX");
    for (int i = 0; (rc == KM_EXIT_OK) && (i < o->nrest); i++) {
        const char *s = o->rest[i];
        const char *v = (i + 1 < o->nrest) ? o->rest[i + 1] : NULL;
        if ((strcmp(s, "--btf") == 0) || (strcmp(s, "--base-btf") == 0) || (strcmp(s, "--enum") == 0)) {
            if (v == NULL) {
                km_cli_err("offsetof: option %s needs a value", s);
                rc = KM_EXIT_USAGE;
            } else if (strcmp(s, "--btf") == 0) {
                a->btf = v;
            } else if (strcmp(s, "--base-btf") == 0) {
                a->base_btf = v;
            } else {
                a->enums[a->nenums] = v;
                a->nenums++;
            }
            i++;
        } else if ((s[0] == '-') && (s[1] == '-')) {
            km_cli_err("offsetof: unknown option '%s' (see ktmon offsetof --help)", s);
            rc = KM_EXIT_USAGE;
        } else {
            a->paths[a->npaths] = s;
            a->npaths++;
        }
    }
    bool vm_explicit = (o->vmlinux != NULL) && (o->vmlinux != env);
    if (rc != KM_EXIT_OK) {
        /* reported */
    } else if (vm_explicit && (a->btf != NULL)) {
        km_cli_err("offsetof: give --vmlinux or --btf, not both");
        rc = KM_EXIT_USAGE;
    } else if ((a->base_btf != NULL) && (a->btf == NULL)) {
        km_cli_err("offsetof: --base-btf goes with --btf (the split BTF)");
        rc = KM_EXIT_USAGE;
    } else {
        a->vmlinux = (a->btf == NULL) ? o->vmlinux : NULL;
        if ((a->vmlinux == NULL) && (a->btf == NULL)) {
            km_cli_err("offsetof: no BTF source: give --vmlinux PATH, --btf PATH or set KTMON_VMLINUX");
            rc = KM_EXIT_USAGE;
        } else if ((a->npaths == 0) && (a->nenums == 0)) {
            km_cli_err("offsetof: no STRUCT.FIELD or --enum given (see ktmon offsetof --help)");
            rc = KM_EXIT_USAGE;
        } else {
            /* ready */
        }
    }
    return rc;
}

static void km_off_print_field(const char *path, const km_btf_member_info *m, bool json, bool first)
{
    bool whole = (strchr(path, '.') == NULL);
    bool bytes = (m->bitfield_bits == 0u) && ((m->bit_offset % 8u) == 0u);
    if (json) {
        (void)printf("%s{\"path\":", first ? "" : ",");
        km_off_json_str(path);
        (void)printf(",\"found\":true");
        if (!whole && bytes) {
            (void)printf(",\"offset\":%u", m->offset);
        }
        if (!whole) {
            (void)printf(",\"bit_offset\":%llu", (unsigned long long)m->bit_offset);
        }
        if (m->bitfield_bits != 0u) {
            (void)printf(",\"bitfield_bits\":%u", m->bitfield_bits);
        }
        (void)printf(",\"size\":%u,\"kind\":\"%s\",\"signed\":%s}", m->size, km_btf_kind_name(m->kind),
                     m->is_signed ? "true" : "false");
    } else if (whole) {
        (void)printf("%s size %u\n", path, m->size);
    } else if (bytes) {
        (void)printf("%s offset %u size %u\n", path, m->offset, m->size);
    } else {
        (void)printf("%s bit offset %llu bits %u (bitfield; byte %llu) size %u\n", path,
                     (unsigned long long)m->bit_offset, m->bitfield_bits,
                     (unsigned long long)(m->bit_offset / 8u), m->size);
    }
}

static void km_off_print_enum(const km_btf *b, const char *arg, const char *name,
                              const km_btf_enum_val *v, bool json, bool first)
{
    km_btf_kind k;
    const char *ename = "";
    uint32_t sz = 0u;
    if (km_btf_type_info(b, v->enum_id, &k, &ename, &sz) != KM_OK) {
        ename = "";
    }
    if (json) {
        (void)printf("%s{\"query\":", first ? "" : ",");
        km_off_json_str(arg);
        (void)printf(",\"found\":true,\"name\":");
        km_off_json_str(name);
        (void)printf(",\"enum\":");
        km_off_json_str(ename);
        (void)printf(",\"value\":");
    } else {
        (void)printf("%s = ", name);
    }
    if (v->is_signed) {
        (void)printf("%lld", (long long)(int64_t)v->value);
    } else {
        (void)printf("%llu", (unsigned long long)v->value);
    }
    if (json) {
        (void)printf("}");
    } else {
        (void)printf(" (enum %s)\n", (ename[0] != '\0') ? ename : "(anonymous)");
    }
}

static int km_off_load(const km_off_args *a, km_btf *base, bool *base_loaded, km_btf *b)
{
    int rc = KM_EXIT_OK;
    km_btf_error e;
    char msg[512];
    const char *path = (a->btf != NULL) ? a->btf : a->vmlinux;
    *base_loaded = false;
    if (a->base_btf != NULL) {
        if (km_btf_load_file(base, a->base_btf, NULL, &e) != KM_OK) {
            km_cli_err("offsetof: %s: %s", a->base_btf, km_btf_strerror(&e, msg, sizeof(msg)));
            rc = KM_EXIT_TARGET;
        } else {
            *base_loaded = true;
        }
    }
    if ((rc == KM_EXIT_OK) && (km_btf_load_file(b, path, *base_loaded ? base : NULL, &e) != KM_OK)) {
        km_cli_err("offsetof: %s: %s", path, km_btf_strerror(&e, msg, sizeof(msg)));
        rc = KM_EXIT_TARGET;
    }
    return rc;
}

static int km_off_run(const km_off_args *a, bool json)
{
    km_btf base;
    km_btf b;
    bool base_loaded = false;
    char msg[512];
    km_btf_error e;
    const char *path = (a->btf != NULL) ? a->btf : a->vmlinux;
    km_btf_init(&base);
    km_btf_init(&b);
    int rc = km_off_load(a, &base, &base_loaded, &b);
    if ((rc != KM_EXIT_OK) && json) {
        (void)printf("{\"error\":\"cannot read BTF\",\"path\":");
        km_off_json_str(path);
        (void)printf("}\n");
    }
    if (rc == KM_EXIT_OK) {
        if (json) {
            (void)printf("{\"source\":\"%s\",\"path\":", (a->btf != NULL) ? "btf" : "vmlinux");
            km_off_json_str(path);
            (void)printf(",\"types\":%u,\"fields\":[", km_btf_type_count(&b));
        }
        for (int i = 0; i < a->npaths; i++) {
            km_btf_member_info m;
            if (km_btf_member(&b, a->paths[i], &m, &e) == KM_OK) {
                km_off_print_field(a->paths[i], &m, json, i == 0);
            } else {
                rc = KM_EXIT_TARGET;
                km_cli_err("offsetof: %s: %s", a->paths[i], km_btf_strerror(&e, msg, sizeof(msg)));
                if (json) {
                    (void)printf("%s{\"path\":", (i == 0) ? "" : ",");
                    km_off_json_str(a->paths[i]);
                    (void)printf(",\"found\":false,\"error\":");
                    km_off_json_str(msg);
                    (void)printf("}");
                }
            }
        }
        if (json) {
            (void)printf("],\"enums\":[");
        }
        for (int i = 0; i < a->nenums; i++) {
            /* ENUM.NAME or NAME */
            char ename[KM_BTF_NAME_MAX + 1u];
            const char *arg = a->enums[i];
            const char *dot = strchr(arg, '.');
            const char *name = arg;
            const char *enum_name = NULL;
            km_btf_enum_val v;
            km_status st = KM_OK;
            if (dot != NULL) {
                size_t n = (size_t)(dot - arg);
                if ((n == 0u) || (n > KM_BTF_NAME_MAX)) {
                    st = KM_ERR_INVALID_ARG;
                    (void)strcpy(msg, "malformed --enum argument (expected [ENUM.]NAME)");
                } else {
                    for (size_t k = 0u; k < n; k++) {
                        ename[k] = arg[k];
                    }
                    ename[n] = '\0';
                    enum_name = ename;
                    name = dot + 1;
                }
            }
            if (st == KM_OK) {
                st = km_btf_enum_value(&b, enum_name, name, &v, &e);
                if (st != KM_OK) {
                    (void)km_btf_strerror(&e, msg, sizeof(msg));
                }
            }
            if (st == KM_OK) {
                km_off_print_enum(&b, arg, name, &v, json, i == 0);
            } else {
                rc = KM_EXIT_TARGET;
                km_cli_err("offsetof: --enum %s: %s", arg, msg);
                if (json) {
                    (void)printf("%s{\"query\":", (i == 0) ? "" : ",");
                    km_off_json_str(arg);
                    (void)printf(",\"found\":false,\"error\":");
                    km_off_json_str(msg);
                    (void)printf("}");
                }
            }
        }
        if (json) {
            (void)printf("]}\n");
        }
    }
    km_btf_fini(&b);
    if (base_loaded) {
        km_btf_fini(&base);
    }
    return rc;
}

int km_cmd_offsetof(int argc, char **argv)
{
    km_cli_opts o;
    int rc = km_cli_parse(argc, argv, &o);
    km_off_args *a = NULL;
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_offsetof(stdout);
    } else if (rc == KM_EXIT_OK) {
        a = calloc(1u, sizeof(*a)); /* zeroed: no paths, no enums */
        if (a == NULL) {
            km_cli_err("offsetof: out of memory");
            rc = KM_EXIT_TARGET;
        } else {
            rc = km_off_args_parse(&o, a);
        }
        if (rc == KM_EXIT_OK) {
            rc = km_off_run(a, o.json);
        }
    } else {
        /* usage error already reported */
    }
    free(a);
    return rc;
}
