/* ktmon command line: kernel operations shared by `read`, `write` and `kop`. */
#include "kop_cli.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Decimal digits only (a pid, a CPU, a start time). */
static bool km_cli_dec(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0u;
    bool ok = (n > 0u) && (n <= 20u);
    for (size_t i = 0u; ok && (i < n); i++) {
        if ((s[i] < '0') || (s[i] > '9')) {
            ok = false;
        } else {
            uint64_t d = (uint64_t)(s[i] - '0');
            ok = (v <= ((UINT64_MAX - d) / 10u));
            v = (v * 10u) + d;
        }
    }
    if (ok) {
        *out = v;
    }
    return ok;
}

static bool km_cli_copy(char *dst, size_t cap, const char *s, size_t n)
{
    bool ok = n <= cap;
    if (ok) {
        (void)memcpy(dst, s, n);
        dst[n] = '\0';
    }
    return ok;
}

/* SYMBOL[.field][+OFF] into t (name, field, offset). */
static bool km_cli_sym_body(const char *body, size_t blen, km_kop_target *t)
{
    bool ok = true;
    const char *pl = memchr(body, '+', blen);
    if (pl != NULL) {
        char num[64];
        size_t nl = blen - (size_t)(pl - body) - 1u;
        ok = (nl < sizeof(num));
        if (ok) {
            (void)memcpy(num, &pl[1], nl);
            num[nl] = '\0';
            ok = km_cli_u64(num, &t->offset);
        }
        blen = (size_t)(pl - body);
    }
    const char *dot = memchr(body, '.', blen);
    size_t slen = (dot != NULL) ? (size_t)(dot - body) : blen;
    ok = ok && (slen > 0u) && km_cli_copy(t->name, KM_KOP_NAME_MAX, body, slen);
    if (ok && (dot != NULL)) {
        ok = (blen - slen > 1u) && km_cli_copy(t->field, KM_KOP_FIELD_MAX, &dot[1], blen - slen - 1u);
    }
    return ok;
}

bool km_cli_kop_target(const char *text, const char *struct_name, km_kop_target *t)
{
    bool ok = true;
    (void)memset(t, 0, sizeof(*t));
    if (strncmp(text, "kva:", 4) == 0) {
        t->kind = KM_KOP_T_KVA;
        ok = km_cli_u64(&text[4], &t->addr);
    } else if (strncmp(text, "pa:", 3) == 0) {
        t->kind = KM_KOP_T_PA;
        ok = km_cli_u64(&text[3], &t->addr);
    } else if (strncmp(text, "direct:", 7) == 0) {
        t->kind = KM_KOP_T_DIRECT;
        ok = km_cli_u64(&text[7], &t->addr);
    } else if (strncmp(text, "task:", 5) == 0) {
        /* task:PID[@STARTNS].field */
        const char *body = &text[5];
        const char *dot = strchr(body, '.');
        const char *at = memchr(body, '@', (dot != NULL) ? (size_t)(dot - body) : strlen(body));
        uint64_t pid = 0u;
        t->kind = KM_KOP_T_TASK;
        ok = (dot != NULL) && (dot[1] != '\0');
        if (ok && (at != NULL)) {
            t->check_start = true;
            ok = km_cli_dec(body, (size_t)(at - body), &pid) &&
                 km_cli_dec(&at[1], (size_t)(dot - at) - 1u, &t->start_ns);
        } else if (ok) {
            ok = km_cli_dec(body, (size_t)(dot - body), &pid);
        } else {
            /* no field */
        }
        ok = ok && (pid <= UINT32_MAX) && km_cli_copy(t->field, KM_KOP_FIELD_MAX, &dot[1], strlen(&dot[1]));
        t->pid = (uint32_t)pid;
    } else if (strncmp(text, "percpu:", 7) == 0) {
        const char *body = &text[7];
        const char *at = strrchr(body, '@');
        uint64_t cpu = 0u;
        t->kind = KM_KOP_T_PERCPU;
        ok = (at != NULL) && km_cli_dec(&at[1], strlen(&at[1]), &cpu) && (cpu <= UINT32_MAX) &&
             km_cli_sym_body(body, (size_t)(at - body), t);
        t->cpu = (uint32_t)cpu;
    } else {
        t->kind = KM_KOP_T_SYMBOL;
        ok = km_cli_sym_body(text, strlen(text), t);
    }
    if (ok && (struct_name != NULL)) {
        ok = (km_kop_copy_name(t->type, KM_KOP_NAME_MAX, struct_name) == KM_OK);
    }
    return ok;
}

int km_cli_kop_open(const km_cli_opts *o, km_cli_kernel *k, const km_kop_request *req, km_kop_ctx *ctx)
{
    int rc = KM_EXIT_OK;
    unsigned int need = 0u;
    bool kernel = false;
    for (uint32_t i = 0u; i < req->count; i++) {
        const km_kop_target *t = &req->entries[i].target;
        if (t->kind != KM_KOP_T_PA) {
            kernel = true;
        }
        if ((t->field[0] != '\0') || (t->kind == KM_KOP_T_TASK)) {
            need |= KM_CLI_NEED_BTF;
        }
        if (t->kind == KM_KOP_T_PERCPU) {
            need |= KM_CLI_NEED_PERCPU;
        }
    }
    if (kernel) {
        rc = km_cli_kernel_open(o, k, need);
    } else {
        /* physical addresses need guest memory only */
        (void)memset(k, 0, sizeof(*k));
        km_cli_target_init(&k->t);
        km_btf_init(&k->btf);
        rc = km_cli_open_mem(o, &k->t);
    }
    km_kop_ctx_init(ctx, &k->t.mem, kernel ? k->gk : NULL, k->ks_loaded ? &k->ks : NULL,
                    k->btf_loaded ? &k->btf : NULL);
    return rc;
}

int km_cli_kop_run(km_cli_kernel *k, km_kop_ctx *ctx, const km_kop_request *req, km_kop_reply *rep)
{
    int rc = KM_EXIT_OK;
    km_error err;
    (void)memset(&err, 0, sizeof(err));
    if (req->mode == KM_KOP_HOT) {
        (void)km_kop_dispatch_hot(ctx, req, rep);
    } else {
        km_kop_gate gate;
        km_freeze_token tok;
        bool was_running = false;
        bool frozen = false;
        km_kop_gate_init(&gate);
        if (k->t.mem.backend == KM_MEM_BACKEND_ELF_CORE) {
            frozen = true; /* a memory dump never runs */
        } else if (k->t.qmp == NULL) {
            km_cli_err("cold operations freeze the VM over QMP: give --qmp SOCKET (or use --hot)");
            rc = KM_EXIT_USAGE;
        } else if (km_qmp_query_status(k->t.qmp, &was_running, NULL, 0u, &err) != KM_OK) {
            km_cli_report("QMP query-status", err.status, &err);
            rc = KM_EXIT_TARGET;
        } else if (was_running && (km_qmp_stop(k->t.qmp, &err) != KM_OK)) {
            km_cli_report("QMP stop", err.status, &err);
            rc = KM_EXIT_TARGET;
        } else {
            /* Believe the freeze only when QEMU says the VM no longer runs. */
            bool running = true;
            if ((km_qmp_query_status(k->t.qmp, &running, NULL, 0u, &err) == KM_OK) && !running) {
                frozen = true;
            } else {
                km_cli_err("the VM still runs after QMP stop: cold operation not attempted");
                rc = KM_EXIT_TARGET;
            }
        }
        if (frozen) {
            (void)km_kop_gate_mint(&gate, &tok);
            if (ctx->gk != NULL) {
                km_gk_invalidate(ctx->gk); /* translate against the frozen page tables */
            }
            (void)km_kop_dispatch_cold(ctx, &gate, &tok, req, rep);
            km_kop_gate_thaw(&gate);
        }
        if (was_running && (km_qmp_cont(k->t.qmp, &err) != KM_OK)) {
            km_cli_report("QMP cont (the VM may be left stopped)", err.status, &err);
            rc = KM_EXIT_TARGET;
        }
    }
    return rc;
}

void km_cli_json_str(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0u; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c == '"') || (c == '\\')) {
            (void)fprintf(out, "\\%c", c);
        } else if (c < 0x20u) {
            (void)fprintf(out, "\\u%04x", c);
        } else {
            (void)fputc(c, out);
        }
    }
}

static void km_cli_hex(FILE *out, const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0u; i < n; i++) {
        (void)fprintf(out, "%02x", p[i]);
    }
}

void km_cli_kop_print(FILE *out, const km_kop_reply *rep, bool json)
{
    if (json) {
        (void)fprintf(out, "{\"request_id\":%llu,\"success\":%s,\"status\":\"%s\",\"failed_index\":",
                      (unsigned long long)rep->request_id, rep->success ? "true" : "false",
                      km_status_name(rep->status));
        if (rep->failed_index == KM_NO_INDEX) {
            (void)fprintf(out, "null");
        } else {
            (void)fprintf(out, "%u", rep->failed_index);
        }
        (void)fprintf(out, ",\"completed\":%u,\"writes_applied\":%u,\"reason\":\"", rep->completed,
                      rep->writes_applied);
        km_cli_json_str(out, rep->reason.text, rep->reason.len);
        (void)fprintf(out, "\",\"reads\":[");
        for (uint32_t i = 0u; i < rep->nreads; i++) {
            const km_kop_read *r = &rep->reads[i];
            (void)fprintf(out, "%s{\"index\":%u,\"kind\":\"%s\",\"kva\":\"0x%llx\",\"pa\":\"0x%llx\",\"value\":\"",
                          (i > 0u) ? "," : "", r->index, km_kop_value_kind_name(r->kind), (unsigned long long)r->kva,
                          (unsigned long long)r->pa);
            if (r->kind == KM_KOP_V_BYTES) {
                km_cli_hex(out, &rep->data[r->off], r->len);
            } else {
                (void)fprintf(out, "0x%llx", (unsigned long long)r->scalar);
            }
            (void)fprintf(out, "\"}");
        }
        (void)fprintf(out, "]}\n");
    } else {
        if (rep->success) {
            (void)fprintf(out, "request %llu: ok (%u entries, %u writes applied)\n", (unsigned long long)rep->request_id,
                          rep->completed, rep->writes_applied);
        } else {
            (void)fprintf(out, "request %llu: FAILED: %s (status: %s; %u entries completed, %u writes applied)\n",
                          (unsigned long long)rep->request_id, rep->reason.text, km_status_name(rep->status),
                          rep->completed, rep->writes_applied);
        }
        for (uint32_t i = 0u; i < rep->nreads; i++) {
            const km_kop_read *r = &rep->reads[i];
            (void)fprintf(out, "entry[%u] %s ", r->index, km_kop_value_kind_name(r->kind));
            if (r->kind == KM_KOP_V_BYTES) {
                km_cli_hex(out, &rep->data[r->off], r->len);
            } else {
                (void)fprintf(out, "0x%llx", (unsigned long long)r->scalar);
            }
            (void)fprintf(out, " kva 0x%llx pa 0x%llx\n", (unsigned long long)r->kva, (unsigned long long)r->pa);
        }
    }
}

int km_cli_hex_digit(char c)
{
    int v = -1;
    if ((c >= '0') && (c <= '9')) {
        v = c - '0';
    } else if ((c >= 'a') && (c <= 'f')) {
        v = c - 'a' + 10;
    } else if ((c >= 'A') && (c <= 'F')) {
        v = c - 'A' + 10;
    } else {
        v = -1;
    }
    return v;
}
