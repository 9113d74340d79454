/* ktmon write: one kernel write (cold under a QMP freeze by default, or hot). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"
#include "kop_cli.h"

void km_usage_write(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon write TARGET VALUE [--type u32|u64|bytes] [--cold|--hot] [--struct NAME] [--json]\n"
                  "       ktmon write TARGET --or MASK [--cold|--hot] ...\n"
                  "                 --vmlinux PATH --qmp SOCKET [--gdb HOST:PORT] [--mem SPEC] [--arch A]\n"
                  "\n"
                  "TARGET is one of (as for ktmon read)\n"
                  "  SYMBOL[.field.path][+OFF]      a kernel symbol (KASLR applied), a member by BTF\n"
                  "  kva:ADDR | direct:ADDR | pa:ADDR\n"
                  "  percpu:SYMBOL[.field]@CPU      a per-CPU variable of one CPU\n"
                  "  task:PID[@STARTNS].field       a task_struct member (sched_ext task, not queued)\n"
                  "\n"
                  "VALUE is a number for u32/u64 (0x... or decimal); for bytes, hex digits\n"
                  "(hex:6b742d61), or str:TEXT (the text and a terminating NUL).  Without --type\n"
                  "the width comes from the BTF member or the symbol's size (4 or 8 bytes);\n"
                  "str: and hex: values are bytes.  --or MASK sets the bits of MASK in a u32\n"
                  "(read-modify-write) without touching the others.\n"
                  "\n"
                  "--cold (default): the VM is stopped over QMP, the write is applied while it\n"
                  "is frozen (any width, any alignment), and the VM is continued.  --hot: the VM\n"
                  "keeps running; only naturally aligned u32/u64 stores and --or (compare-and-\n"
                  "swap) are allowed.  See docs/kernel-ops.md.\n");
}

/* Bytes of a VALUE: str:TEXT (+ NUL), hex:DIGITS or bare hex digits. */
static bool km_parse_bytes(const char *s, uint8_t *out, uint32_t cap, uint32_t *n)
{
    bool ok = true;
    uint32_t len = 0u;
    if (strncmp(s, "str:", 4) == 0) {
        size_t l = strlen(&s[4]) + 1u;
        ok = (l <= cap);
        if (ok) {
            (void)memcpy(out, &s[4], l);
            len = (uint32_t)l;
        }
    } else {
        const char *h = (strncmp(s, "hex:", 4) == 0) ? &s[4] : s;
        if ((h[0] == '0') && ((h[1] == 'x') || (h[1] == 'X'))) {
            h = &h[2];
        }
        size_t l = strlen(h);
        ok = (l > 0u) && ((l % 2u) == 0u) && ((l / 2u) <= cap);
        for (size_t i = 0u; ok && (i < l); i += 2u) {
            int hi = km_cli_hex_digit(h[i]);
            int lo = km_cli_hex_digit(h[i + 1u]);
            ok = (hi >= 0) && (lo >= 0);
            out[i / 2u] = (uint8_t)((hi * 16) + lo);
        }
        len = (uint32_t)(l / 2u);
    }
    *n = len;
    return ok && (len > 0u);
}

int km_cmd_write(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_kernel k;
    km_kop_ctx ctx;
    static km_kop_request req;
    static km_kop_reply rep;
    static uint8_t payload[KM_KOP_BYTES_MAX];
    int rc = km_cli_parse(argc, argv, &o);
    const char *target = NULL;
    const char *value = NULL;
    const char *type = NULL;
    const char *mask = NULL;
    const char *struct_name = NULL;
    bool cold = true;
    bool opened = false;
    for (int i = 0; (rc == KM_EXIT_OK) && (i < o.nrest); i++) {
        const char *a = o.rest[i];
        if ((strcmp(a, "--type") == 0) && (i + 1 < o.nrest)) {
            type = o.rest[++i];
        } else if ((strcmp(a, "--or") == 0) && (i + 1 < o.nrest)) {
            mask = o.rest[++i];
        } else if ((strcmp(a, "--struct") == 0) && (i + 1 < o.nrest)) {
            struct_name = o.rest[++i];
        } else if (strcmp(a, "--cold") == 0) {
            cold = true;
        } else if (strcmp(a, "--hot") == 0) {
            cold = false;
        } else if ((a[0] == '-') && (a[1] == '-')) {
            km_cli_err("write: unknown option '%s'", a);
            rc = KM_EXIT_USAGE;
        } else if (target == NULL) {
            target = a;
        } else if (value == NULL) {
            value = a;
        } else {
            km_cli_err("write: one TARGET and one VALUE ('%s' is extra)", a);
            rc = KM_EXIT_USAGE;
        }
    }
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_write(stdout);
        return KM_EXIT_OK;
    }
    km_kop_request_init(&req, 1u, cold ? KM_KOP_COLD : KM_KOP_HOT, KM_KOP_WRITE);
    req.count = 1u;
    km_kop_entry *e = &req.entries[0];
    if ((rc == KM_EXIT_OK) && (target == NULL)) {
        km_cli_err("write: no TARGET (see ktmon write --help)");
        rc = KM_EXIT_USAGE;
    } else if ((rc == KM_EXIT_OK) && ((mask == NULL) == (value == NULL))) {
        km_cli_err("write: give a VALUE or --or MASK (one of them)");
        rc = KM_EXIT_USAGE;
    } else if ((rc == KM_EXIT_OK) && (mask != NULL) && (type != NULL) && (strcmp(type, "u32") != 0)) {
        km_cli_err("write: --or works on a u32");
        rc = KM_EXIT_USAGE;
    } else if ((rc == KM_EXIT_OK) && !km_cli_kop_target(target, struct_name, &e->target)) {
        km_cli_err("write: cannot parse TARGET '%s' (see ktmon write --help)", target);
        rc = KM_EXIT_USAGE;
    } else if ((rc == KM_EXIT_OK) && (type != NULL) && (strcmp(type, "u32") != 0) && (strcmp(type, "u64") != 0) &&
               (strcmp(type, "bytes") != 0)) {
        km_cli_err("write: bad --type '%s' (u32, u64 or bytes)", type);
        rc = KM_EXIT_USAGE;
    } else {
        /* parsed */
    }
    /* The value: a mask, bytes, or a number whose width may come from the target. */
    bool need_width = false;
    if ((rc == KM_EXIT_OK) && (mask != NULL)) {
        e->value.kind = KM_KOP_V_OR_U32;
        if (!km_cli_u64(mask, &e->value.scalar) || (e->value.scalar > UINT32_MAX)) {
            km_cli_err("write: --or takes a 32-bit mask, not '%s'", mask);
            rc = KM_EXIT_USAGE;
        }
    } else if ((rc == KM_EXIT_OK) && (((type != NULL) && (strcmp(type, "bytes") == 0)) ||
                                      ((type == NULL) && ((strncmp(value, "str:", 4) == 0) ||
                                                          (strncmp(value, "hex:", 4) == 0))))) {
        uint32_t n = 0u;
        e->value.kind = KM_KOP_V_BYTES;
        if (!km_parse_bytes(value, payload, (uint32_t)sizeof(payload), &n)) {
            km_cli_err("write: bytes VALUE is hex digits (even count), hex:DIGITS or str:TEXT, at most %u bytes",
                       KM_KOP_BYTES_MAX);
            rc = KM_EXIT_USAGE;
        }
        e->value.bytes = payload;
        e->value.len = n;
    } else if (rc == KM_EXIT_OK) {
        if (!km_cli_u64(value, &e->value.scalar)) {
            km_cli_err("write: VALUE '%s' is not a number", value);
            rc = KM_EXIT_USAGE;
        } else if (type != NULL) {
            e->value.kind = (strcmp(type, "u64") == 0) ? KM_KOP_V_U64 : KM_KOP_V_U32;
        } else {
            need_width = true;
        }
    } else {
        /* reported */
    }
    if (rc == KM_EXIT_OK) {
        rc = km_cli_kop_open(&o, &k, &req, &ctx);
        opened = true;
    }
    km_kop_where w;
    (void)memset(&w, 0, sizeof(w));
    if (rc == KM_EXIT_OK) {
        km_kop_msg why;
        why.len = 0u;
        why.truncated = false;
        why.text[0] = '\0';
        if (km_kop_resolve(&ctx, &e->target, KM_KOP_WRITE, 1u, &w, &why) != KM_OK) {
            km_cli_err("write %s: %s", target, why.text);
            rc = KM_EXIT_TARGET;
        }
    }
    if ((rc == KM_EXIT_OK) && need_width) {
        uint64_t size = w.has_member ? w.member_size : w.sym_size;
        if ((size == 4u) || (size == 8u)) {
            e->value.kind = (size == 8u) ? KM_KOP_V_U64 : KM_KOP_V_U32;
        } else {
            km_cli_err("write %s: cannot infer the width (%llu bytes): give --type u32|u64|bytes", target,
                       (unsigned long long)size);
            rc = KM_EXIT_USAGE;
        }
    }
    if ((rc == KM_EXIT_OK) && (e->value.kind == KM_KOP_V_U32) && (e->value.scalar > UINT32_MAX)) {
        km_cli_err("write %s: 0x%llx does not fit in a u32", target, (unsigned long long)e->value.scalar);
        rc = KM_EXIT_USAGE;
    }
    if (rc == KM_EXIT_OK) {
        km_kop_reply_init(&rep, NULL, 0u);
        rc = km_cli_kop_run(&k, &ctx, &req, &rep);
    }
    if (rc == KM_EXIT_OK) {
        const char *why = rep.reason.text;
        if (strncmp(why, "entry[0]: ", 10) == 0) {
            why = &why[10];
        }
        if (o.json) {
            (void)printf("{\"target\":\"");
            km_cli_json_str(stdout, target, strlen(target));
            (void)printf("\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"type\":\"%s\",\"mode\":\"%s\",\"applied\":%s,"
                         "\"reason\":\"",
                         (unsigned long long)w.kva, (unsigned long long)w.pa, km_kop_value_kind_name(e->value.kind),
                         cold ? "cold" : "hot", rep.success ? "true" : "false");
            km_cli_json_str(stdout, why, strlen(why));
            (void)printf("\"}\n");
        } else if (rep.success) {
            (void)printf("wrote %s to %s (kva 0x%llx, pa 0x%llx, %s)\n", km_kop_value_kind_name(e->value.kind), target,
                         (unsigned long long)w.kva, (unsigned long long)w.pa, cold ? "cold" : "hot");
        } else {
            /* the error goes to stderr below */
        }
        if (!rep.success) {
            km_cli_err("write %s: %s (%s)", target, why, km_status_name(rep.status));
            rc = KM_EXIT_TARGET;
        }
    }
    if (opened) {
        km_cli_kernel_close(&k);
    }
    return rc;
}
