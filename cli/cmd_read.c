/* ktmon read: read kernel memory by symbol, struct field, per-CPU variable, KVA or PA. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"

void km_usage_read(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon read TARGET [--type u8|u16|u32|u64|str|bytes:N] [--struct NAME] [--json]\n"
                  "                 --vmlinux PATH [--qmp SOCKET] [--gdb HOST:PORT] [--mem SPEC] [--arch A]\n"
                  "\n"
                  "TARGET is one of\n"
                  "  SYMBOL[.field.path][+OFF]      a kernel symbol (KASLR applied), a member by BTF\n"
                  "  kva:ADDR                       a kernel virtual address\n"
                  "  pa:ADDR                        a guest physical address\n"
                  "  percpu:SYMBOL[.field]@CPU      a per-CPU variable of one CPU\n"
                  "\n"
                  "A field path needs the variable's struct type: per-CPU variables and a few\n"
                  "well-known symbols (init_task, runqueues, ...) are known; otherwise --struct.\n"
                  "Without --type the member's size picks u8/u16/u32/u64 (u64 for a bare symbol);\n"
                  "--type str prints the NUL-terminated string alone on one line.\n");
}

/* Struct type of well-known variables (their names differ from their types). */
static const char *km_known_struct(const char *sym)
{
    static const char *const map[][2] = {
        {"init_task", "task_struct"}, {"runqueues", "rq"},          {"kstat", "kernel_stat"},
        {"tick_cpu_sched", "tick_sched"}, {"init_mm", "mm_struct"}, {"kernel_cpustat", "kernel_cpustat"},
        {"init_signals", "signal_struct"},
    };
    const char *t = NULL;
    for (size_t i = 0; (t == NULL) && (i < sizeof(map) / sizeof(map[0])); i++) {
        if (strcmp(map[i][0], sym) == 0) {
            t = map[i][1];
        }
    }
    return t;
}

typedef enum { T_DEFAULT, T_U8, T_U16, T_U32, T_U64, T_STR, T_BYTES } km_rtype;

static bool km_parse_type(const char *s, km_rtype *t, uint32_t *n)
{
    bool ok = true;
    uint64_t v = 0;
    if (strcmp(s, "u8") == 0) {
        *t = T_U8;
    } else if (strcmp(s, "u16") == 0) {
        *t = T_U16;
    } else if (strcmp(s, "u32") == 0) {
        *t = T_U32;
    } else if (strcmp(s, "u64") == 0) {
        *t = T_U64;
    } else if (strcmp(s, "str") == 0) {
        *t = T_STR;
    } else if ((strncmp(s, "bytes:", 6) == 0) && km_cli_u64(&s[6], &v) && (v > 0u) && (v <= 65536u)) {
        *t = T_BYTES;
        *n = (uint32_t)v;
    } else {
        ok = false;
    }
    return ok;
}

int km_cmd_read(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_kernel k;
    int rc = km_cli_parse(argc, argv, &o);
    const char *target = NULL;
    const char *struct_name = NULL;
    km_rtype type = T_DEFAULT;
    uint32_t nbytes = 0u;
    bool opened = false;
    for (int i = 0; (rc == KM_EXIT_OK) && (i < o.nrest); i++) {
        const char *a = o.rest[i];
        if ((strcmp(a, "--type") == 0) && (i + 1 < o.nrest)) {
            i++;
            if (!km_parse_type(o.rest[i], &type, &nbytes)) {
                km_cli_err("read: bad --type '%s'", o.rest[i]);
                rc = KM_EXIT_USAGE;
            }
        } else if ((strcmp(a, "--struct") == 0) && (i + 1 < o.nrest)) {
            i++;
            struct_name = o.rest[i];
        } else if ((a[0] == '-') && (a[1] == '-')) {
            km_cli_err("read: unknown option '%s'", a);
            rc = KM_EXIT_USAGE;
        } else if (target == NULL) {
            target = a;
        } else {
            km_cli_err("read: one TARGET at a time ('%s' is extra)", a);
            rc = KM_EXIT_USAGE;
        }
    }
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_read(stdout);
        return KM_EXIT_OK;
    }
    if ((rc == KM_EXIT_OK) && (target == NULL)) {
        km_cli_err("read: no TARGET (see ktmon read --help)");
        rc = KM_EXIT_USAGE;
    }
    /* Parse the target first: usage errors never touch the guest. */
    char sym[256] = "";
    char path[512] = "";
    uint64_t addr = 0u;
    uint64_t plus = 0u;
    uint64_t cpu = 0u;
    enum { K_SYM, K_KVA, K_PA, K_PERCPU } kind = K_SYM;
    if (rc == KM_EXIT_OK) {
        const char *t = target;
        if (strncmp(t, "kva:", 4) == 0) {
            kind = K_KVA;
            rc = km_cli_u64(&t[4], &addr) ? KM_EXIT_OK : KM_EXIT_USAGE;
        } else if (strncmp(t, "pa:", 3) == 0) {
            kind = K_PA;
            rc = km_cli_u64(&t[3], &addr) ? KM_EXIT_OK : KM_EXIT_USAGE;
        } else {
            const char *body = t;
            const char *at = NULL;
            if (strncmp(t, "percpu:", 7) == 0) {
                kind = K_PERCPU;
                body = &t[7];
                at = strrchr(body, '@');
                if ((at == NULL) || !km_cli_u64(&at[1], &cpu)) {
                    rc = KM_EXIT_USAGE;
                }
            }
            size_t blen = (at != NULL) ? (size_t)(at - body) : strlen(body);
            const char *pl = memchr(body, '+', blen);
            if ((rc == KM_EXIT_OK) && (pl != NULL)) {
                char num[64];
                size_t nl = blen - (size_t)(pl - body) - 1u;
                if (nl >= sizeof(num)) {
                    rc = KM_EXIT_USAGE;
                } else {
                    (void)memcpy(num, &pl[1], nl);
                    num[nl] = '\0';
                    rc = km_cli_u64(num, &plus) ? KM_EXIT_OK : KM_EXIT_USAGE;
                }
                blen = (size_t)(pl - body);
            }
            const char *dot = memchr(body, '.', blen);
            size_t slen = (dot != NULL) ? (size_t)(dot - body) : blen;
            if ((rc == KM_EXIT_OK) && ((slen == 0u) || (slen >= sizeof(sym)) || (blen >= sizeof(path)))) {
                rc = KM_EXIT_USAGE;
            }
            if (rc == KM_EXIT_OK) {
                (void)memcpy(sym, body, slen);
                sym[slen] = '\0';
                if (dot != NULL) {
                    (void)memcpy(path, dot, blen - slen); /* ".field.path" */
                    path[blen - slen] = '\0';
                }
            }
        }
        if (rc != KM_EXIT_OK) {
            km_cli_err("read: cannot parse TARGET '%s' (see ktmon read --help)", target);
        }
    }
    if ((rc == KM_EXIT_OK) && (kind == K_PA)) {
        /* physical reads need guest memory only */
        (void)memset(&k, 0, sizeof(k));
        km_cli_target_init(&k.t);
        km_btf_init(&k.btf);
        opened = true;
        rc = km_cli_open_mem(&o, &k.t);
    } else if (rc == KM_EXIT_OK) {
        rc = km_cli_kernel_open(&o, &k, ((path[0] != '\0') ? KM_CLI_NEED_BTF : 0u) |
                                            ((kind == K_PERCPU) ? KM_CLI_NEED_PERCPU : 0u));
        opened = true;
    } else {
        /* usage error reported */
    }
    uint64_t kva = 0u;
    uint64_t pa = 0u;
    uint32_t field_size = 0u;
    bool field_is_array = false;
    if ((rc == KM_EXIT_OK) && ((kind == K_SYM) || (kind == K_PERCPU))) {
        uint64_t link = 0u;
        if (km_ksym_addr(&k.ks, sym, &link) != KM_OK) {
            km_cli_err("no symbol '%s' in %s", sym, o.vmlinux);
            rc = KM_EXIT_TARGET;
        } else if (kind == K_PERCPU) {
            km_status st = km_gk_percpu_kva(k.gk, link, (uint32_t)cpu, &kva);
            if (st != KM_OK) {
                km_cli_err("percpu %s@%llu: %s (the guest has %u CPUs)", sym, (unsigned long long)cpu,
                           km_status_name(st), k.gk->ncpus);
                rc = KM_EXIT_TARGET;
            }
        } else {
            (void)km_gk_sym_kva(k.gk, link, &kva);
        }
        if ((rc == KM_EXIT_OK) && (path[0] != '\0')) {
            char full[768];
            const char *sname = (struct_name != NULL) ? struct_name : km_known_struct(sym);
            km_btf_member_info mi;
            km_btf_error be;
            uint32_t vid = 0u;
            if ((sname == NULL) && (km_btf_find_type(&k.btf, sym, KM_BTF_KIND_STRUCT, &vid) == KM_OK)) {
                sname = sym;
            }
            if (sname == NULL) {
                km_cli_err("read: the struct type of '%s' is unknown: give --struct NAME", sym);
                rc = KM_EXIT_USAGE;
            } else {
                (void)snprintf(full, sizeof(full), "%s%s", sname, path);
                km_status st = km_btf_member(&k.btf, full, &mi, &be);
                if (st != KM_OK) {
                    char msg[256];
                    km_cli_err("BTF: %s: %s", full, km_btf_strerror(&be, msg, sizeof(msg)));
                    rc = KM_EXIT_TARGET;
                } else {
                    kva += mi.offset;
                    field_size = mi.size;
                    field_is_array = (mi.kind == KM_BTF_KIND_ARRAY);
                }
            }
        }
        kva += plus;
    } else if (rc == KM_EXIT_OK) {
        if (kind == K_KVA) {
            kva = addr;
        } else {
            pa = addr;
        }
    } else {
        /* reported */
    }
    if ((rc == KM_EXIT_OK) && (type == T_DEFAULT)) {
        type = (field_size == 1u) ? T_U8 : (field_size == 2u) ? T_U16 : (field_size == 4u) ? T_U32 : T_U64;
        if (field_is_array && (field_size > 8u)) {
            type = T_BYTES;
            nbytes = field_size;
        }
    }
    uint32_t want = (type == T_U8) ? 1u : (type == T_U16) ? 2u : (type == T_U32) ? 4u : (type == T_U64) ? 8u
                    : (type == T_STR) ? 256u : nbytes;
    uint8_t *buf = (rc == KM_EXIT_OK) ? calloc(1, (size_t)want + 1u) : NULL;
    if ((rc == KM_EXIT_OK) && (buf == NULL)) {
        rc = KM_EXIT_TARGET;
    }
    if (rc == KM_EXIT_OK) {
        km_status st;
        if (kind == K_PA) {
            size_t got = 0u;
            st = km_mem_read_bytes(&k.t.mem, pa, buf, want, &got);
            if ((st == KM_OK) && (got < want) && (type != T_STR)) {
                st = KM_ERR_CROSSES_REGION;
            }
        } else {
            st = km_gk_kva_to_pa(k.gk, kva, &pa);
            if (st == KM_OK) {
                st = km_gk_read_bytes(k.gk, kva, buf, want);
                if ((st != KM_OK) && (type == T_STR)) {
                    /* a string may end before an unmapped page: read what is there */
                    uint32_t lim = 4096u - (uint32_t)(kva & 4095u);
                    st = km_gk_read_bytes(k.gk, kva, buf, (lim < want) ? lim : want);
                }
            }
        }
        if (st != KM_OK) {
            km_cli_err("read %s at 0x%llx: %s", target, (unsigned long long)((kind == K_PA) ? pa : kva),
                       km_status_name(st));
            rc = KM_EXIT_TARGET;
        }
    }
    if (rc == KM_EXIT_OK) {
        uint64_t v = 0u;
        for (uint32_t i = 0u; (i < want) && (i < 8u) && (type != T_STR) && (type != T_BYTES); i++) {
            v |= (uint64_t)buf[i] << (8u * i);
        }
        if (type == T_STR) {
            buf[want] = 0u;
            if (o.json) {
                (void)printf("{\"target\":\"%s\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"type\":\"str\",\"value\":\"", target,
                             (unsigned long long)kva, (unsigned long long)pa);
                for (uint32_t i = 0u; (i < want) && (buf[i] != 0u); i++) {
                    unsigned char c = buf[i];
                    if ((c == '"') || (c == '\\')) {
                        (void)printf("\\%c", c);
                    } else if ((c < 0x20u) || (c >= 0x7fu)) {
                        (void)printf("\\u%04x", c);
                    } else {
                        (void)putchar(c);
                    }
                }
                (void)printf("\"}\n");
            } else {
                (void)printf("%s\n", (const char *)buf);
            }
        } else if (type == T_BYTES) {
            if (o.json) {
                (void)printf("{\"target\":\"%s\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"type\":\"bytes\",\"value\":\"", target,
                             (unsigned long long)kva, (unsigned long long)pa);
            }
            for (uint32_t i = 0u; i < want; i++) {
                (void)printf("%02x", buf[i]);
            }
            (void)printf(o.json ? "\"}\n" : "\n");
        } else if (o.json) {
            (void)printf("{\"target\":\"%s\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"type\":\"u%u\",\"value\":\"0x%llx\"}\n",
                         target, (unsigned long long)kva, (unsigned long long)pa, want * 8u, (unsigned long long)v);
        } else {
            (void)printf("0x%llx\n", (unsigned long long)v);
        }
    }
    free(buf);
    if (opened) {
        km_cli_kernel_close(&k);
    }
    return rc;
}
