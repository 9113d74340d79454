/* ktmon read: read kernel memory by symbol, struct field, per-CPU variable, KVA or PA. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"
#include "kop_cli.h"

void km_usage_read(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon read TARGET [--type u8|u16|u32|u64|str|bytes:N] [--struct NAME] [--cold] [--json]\n"
                  "                 --vmlinux PATH [--qmp SOCKET] [--gdb HOST:PORT] [--mem SPEC] [--arch A]\n"
                  "\n"
                  "TARGET is one of\n"
                  "  SYMBOL[.field.path][+OFF]      a kernel symbol (KASLR applied), a member by BTF\n"
                  "  kva:ADDR                       a kernel virtual address\n"
                  "  pa:ADDR                        a guest physical address\n"
                  "  percpu:SYMBOL[.field]@CPU      a per-CPU variable of one CPU\n"
                  "  direct:ADDR                    a direct-map address (bounds-checked, no walk)\n"
                  "  task:PID[@STARTNS].field       a task_struct member of the task with that pid\n"
                  "\n"
                  "A field path needs the variable's struct type: per-CPU variables and a few\n"
                  "well-known symbols (init_task, runqueues, ...) are known; otherwise --struct.\n"
                  "Without --type the member's size picks u8/u16/u32/u64 (u64 for a bare symbol);\n"
                  "--type str prints the NUL-terminated string alone on one line.\n"
                  "The read is a kernel operation (docs/kernel-ops.md): live by default; --cold\n"
                  "freezes the VM over QMP for the read and thaws it afterwards.\n");
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

/* One read through the kernel-op dispatcher. */
static km_status km_read_once(km_cli_kernel *k, km_kop_ctx *ctx, const km_kop_target *t, bool cold, km_rtype type,
                              uint32_t want, km_kop_reply *rep)
{
    static km_kop_request req;
    km_kop_request_init(&req, 0u, cold ? KM_KOP_COLD : KM_KOP_HOT, KM_KOP_READ);
    req.count = 1u;
    req.entries[0].target = *t;
    req.entries[0].value.kind = (type == T_U32) ? KM_KOP_V_U32 : ((type == T_U64) ? KM_KOP_V_U64 : KM_KOP_V_BYTES);
    req.entries[0].value.len = want;
    int rc = km_cli_kop_run(k, ctx, &req, rep);
    return (rc != KM_EXIT_OK) ? KM_ERR_IO : rep->status;
}

int km_cmd_read(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_kernel k;
    km_kop_ctx ctx;
    km_kop_target tgt;
    static km_kop_reply rep;
    static km_kop_request probe;
    static uint8_t buf[65536 + 1];
    int rc = km_cli_parse(argc, argv, &o);
    const char *target = NULL;
    const char *struct_name = NULL;
    km_rtype type = T_DEFAULT;
    uint32_t nbytes = 0u;
    bool opened = false;
    bool cold = false;
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
        } else if (strcmp(a, "--cold") == 0) {
            cold = true;
        } else if (strcmp(a, "--hot") == 0) {
            cold = false;
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
    if ((rc == KM_EXIT_OK) && !km_cli_kop_target(target, struct_name, &tgt)) {
        km_cli_err("read: cannot parse TARGET '%s' (see ktmon read --help)", target);
        rc = KM_EXIT_USAGE;
    }
    if (rc == KM_EXIT_OK) {
        km_kop_request_init(&probe, 0u, KM_KOP_HOT, KM_KOP_READ);
        probe.count = 1u;
        probe.entries[0].target = tgt;
        rc = km_cli_kop_open(&o, &k, &probe, &ctx);
        opened = true;
    }
    /* Where the target is, and its member's size for the default type. */
    km_kop_where w;
    (void)memset(&w, 0, sizeof(w));
    if (rc == KM_EXIT_OK) {
        km_kop_msg why;
        why.len = 0u;
        why.truncated = false;
        why.text[0] = '\0';
        if (km_kop_resolve(&ctx, &tgt, KM_KOP_READ, 1u, &w, &why) != KM_OK) {
            km_cli_err("read %s: %s", target, why.text);
            rc = KM_EXIT_TARGET;
        }
    }
    if ((rc == KM_EXIT_OK) && (type == T_DEFAULT)) {
        uint32_t fs = w.has_member ? w.member_size : 0u;
        type = (fs == 1u) ? T_U8 : (fs == 2u) ? T_U16 : (fs == 4u) ? T_U32 : T_U64;
        if (w.member_is_array && (fs > 8u)) {
            type = T_BYTES;
            nbytes = fs;
        }
    }
    uint32_t want = (type == T_U8) ? 1u : (type == T_U16) ? 2u : (type == T_U32) ? 4u : (type == T_U64) ? 8u
                    : (type == T_STR) ? 256u : nbytes;
    if (rc == KM_EXIT_OK) {
        km_kop_reply_init(&rep, buf, (uint32_t)sizeof(buf) - 1u);
        km_status st = km_read_once(&k, &ctx, &tgt, cold, type, want, &rep);
        if ((st != KM_OK) && (st != KM_ERR_IO) && (type == T_STR)) {
            /* a string may end before an unmapped page or the end of RAM: read what is there */
            uint64_t lim = 0u;
            if (w.physical && (tgt.kind == KM_KOP_T_PA)) {
                (void)km_mem_avail(&k.t.mem, w.pa, &lim);
            } else {
                lim = 4096u - (w.kva & 4095u);
            }
            if ((lim > 0u) && (lim < want)) {
                km_kop_reply_init(&rep, buf, (uint32_t)sizeof(buf) - 1u);
                st = km_read_once(&k, &ctx, &tgt, cold, type, (uint32_t)lim, &rep);
                want = (uint32_t)lim;
            }
        }
        if (st == KM_ERR_IO) {
            rc = KM_EXIT_TARGET; /* reported by the freeze */
        } else if (st != KM_OK) {
            /* "entry[0]: " says nothing for a single read */
            const char *why = rep.reason.text;
            if (strncmp(why, "entry[0]: ", 10) == 0) {
                why = &why[10];
            }
            km_cli_err("read %s: %s", target, why);
            rc = KM_EXIT_TARGET;
        } else {
            /* read */
        }
    }
    if (rc == KM_EXIT_OK) {
        const km_kop_read *r = &rep.reads[0];
        const uint8_t *val = &rep.data[r->off];
        uint64_t kva = r->kva;
        uint64_t pa = r->pa;
        uint64_t v = r->scalar;
        if ((type == T_U8) || (type == T_U16)) {
            v = (type == T_U8) ? val[0] : (uint64_t)val[0] + ((uint64_t)val[1] << 8);
        }
        if (type == T_STR) {
            char *str = (char *)&rep.data[r->off];
            str[want] = '\0';
            if (o.json) {
                (void)printf("{\"target\":\"%s\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"type\":\"str\",\"value\":\"", target,
                             (unsigned long long)kva, (unsigned long long)pa);
                for (uint32_t i = 0u; (i < want) && (str[i] != '\0'); i++) {
                    unsigned char c = (unsigned char)str[i];
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
                (void)printf("%s\n", str);
            }
        } else if (type == T_BYTES) {
            if (o.json) {
                (void)printf("{\"target\":\"%s\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"type\":\"bytes\",\"value\":\"", target,
                             (unsigned long long)kva, (unsigned long long)pa);
            }
            for (uint32_t i = 0u; i < want; i++) {
                (void)printf("%02x", val[i]);
            }
            (void)printf(o.json ? "\"}\n" : "\n");
        } else if (o.json) {
            (void)printf("{\"target\":\"%s\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"type\":\"u%u\",\"value\":\"0x%llx\"}\n",
                         target, (unsigned long long)kva, (unsigned long long)pa, want * 8u, (unsigned long long)v);
        } else {
            (void)printf("0x%llx\n", (unsigned long long)v);
        }
    }
    if (opened) {
        km_cli_kernel_close(&k);
    }
    return rc;
}
