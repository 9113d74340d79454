/* ktmon kop: apply a batch of kernel operations from a wire-format or JSON file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"
#include "kop_cli.h"

#define KM_KOP_FILE_MAX (4u << 20)
#define KM_KOP_POOL (KM_KOP_PAYLOAD_MAX)

void km_usage_kop(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon kop FILE [--json] [--encode OUT] [--reply-out OUT]\n"
                  "                 --vmlinux PATH --qmp SOCKET [--gdb HOST:PORT] [--mem SPEC] [--arch A]\n"
                  "\n"
                  "Apply a batch of kernel reads or writes and print the reply.  FILE is a KORQ\n"
                  "wire frame or JSON (docs/wire-format.md), e.g.\n"
                  "  {\"request_id\": 7, \"mode\": \"cold\", \"direction\": \"write\", \"tag\": \"demo\",\n"
                  "   \"entries\": [{\"target\": \"init_uts_ns.name.nodename\", \"value\": {\"str\": \"kt-1\"}},\n"
                  "                 {\"target\": \"dirty_expire_interval\", \"value\": {\"or_u32\": \"0x10000\"}}]}\n"
                  "Targets use the syntax of ktmon read/write; write values are {\"u32\": N},\n"
                  "{\"u64\": N}, {\"or_u32\": N}, {\"bytes\": \"HEX\"} or {\"str\": \"TEXT\"} (+ NUL); read\n"
                  "widths are \"u32\", \"u64\" or \"bytes:N\".  Cold batches run while the VM is\n"
                  "stopped over QMP.  Entries run in order; the first failure stops the batch and\n"
                  "the reply says which entry failed and how many writes were already applied.\n"
                  "\n"
                  "--encode OUT     write the request as a wire frame to OUT and exit (no guest needed)\n"
                  "--reply-out OUT  also write the reply as a wire frame (KORP) to OUT\n"
                  "Exit status 0 when every entry succeeded, 3 when one failed.\n");
}

/* ------------------------------------------------------------------ a small JSON reader for the request schema */

typedef struct km_js {
    const char *s;
    size_t n;
    size_t pos;
    const char *err;
} km_js;

static void km_js_ws(km_js *j)
{
    while ((j->pos < j->n) && ((j->s[j->pos] == ' ') || (j->s[j->pos] == '\t') || (j->s[j->pos] == '\n') ||
                               (j->s[j->pos] == '\r'))) {
        j->pos++;
    }
}

static bool km_js_peek(km_js *j, char c)
{
    km_js_ws(j);
    return (j->pos < j->n) && (j->s[j->pos] == c);
}

static bool km_js_eat(km_js *j, char c)
{
    bool ok = km_js_peek(j, c);
    if (ok) {
        j->pos++;
    } else if (j->err == NULL) {
        static char msg[32];
        (void)snprintf(msg, sizeof(msg), "expected '%c'", c);
        j->err = msg;
    } else {
        /* keep the first error */
    }
    return ok;
}

/* A string token into out (NUL-terminated, at most cap-1 bytes). */
static bool km_js_string(km_js *j, char *out, size_t cap, size_t *len)
{
    bool ok = km_js_eat(j, '"');
    size_t start = j->pos;
    bool esc = false;
    while (ok && (j->pos < j->n) && (esc || (j->s[j->pos] != '"'))) {
        esc = !esc && (j->s[j->pos] == '\\');
        j->pos++;
    }
    ok = ok && (j->pos < j->n);
    if (ok) {
        size_t got = 0u;
        /* km_json_unescape takes the token with its quotes */
        ok = (km_json_unescape(&j->s[start - 1u], (j->pos - start) + 2u, out, cap, &got) == KM_OK);
        j->pos++;
        if (len != NULL) {
            *len = got;
        }
    }
    if (!ok && (j->err == NULL)) {
        j->err = "bad or too long string";
    }
    return ok;
}

/* An unsigned integer: a JSON number or a string ("0x..." or decimal). */
static bool km_js_uint(km_js *j, uint64_t *v)
{
    char num[64];
    bool ok = true;
    km_js_ws(j);
    if (km_js_peek(j, '"')) {
        ok = km_js_string(j, num, sizeof(num), NULL);
    } else {
        size_t k = 0u;
        while ((j->pos < j->n) && (k + 1u < sizeof(num)) && (j->s[j->pos] >= '0') && (j->s[j->pos] <= '9')) {
            num[k++] = j->s[j->pos++];
        }
        num[k] = '\0';
        ok = (k > 0u);
    }
    ok = ok && km_cli_u64(num, v);
    if (!ok && (j->err == NULL)) {
        j->err = "expected an unsigned integer";
    }
    return ok;
}

static uint8_t km_kop_pool[KM_KOP_POOL];
static uint32_t km_kop_pool_used;

/* {"u32": N} | {"u64": N} | {"or_u32": N} | {"bytes": "HEX"} | {"str": "TEXT"}, or a read width string. */
static bool km_js_value(km_js *j, km_kop_value *v, bool *is_write)
{
    static char text[2u * KM_KOP_BYTES_MAX + 2u];
    char key[16];
    bool ok = true;
    (void)memset(v, 0, sizeof(*v));
    if (km_js_peek(j, '"')) {
        uint64_t n = 0u;
        *is_write = false;
        ok = km_js_string(j, key, sizeof(key), NULL);
        if (ok && (strcmp(key, "u32") == 0)) {
            v->kind = KM_KOP_V_U32;
        } else if (ok && (strcmp(key, "u64") == 0)) {
            v->kind = KM_KOP_V_U64;
        } else if (ok && (strcmp(key, "or_u32") == 0)) {
            v->kind = KM_KOP_V_OR_U32; /* the dispatcher refuses it as a read width */
        } else if (ok && (strncmp(key, "bytes:", 6) == 0) && km_cli_u64(&key[6], &n) && (n <= KM_KOP_BYTES_MAX)) {
            v->kind = KM_KOP_V_BYTES;
            v->len = (uint32_t)n;
        } else {
            ok = false;
            j->err = (j->err != NULL) ? j->err : "a read width is \"u32\", \"u64\" or \"bytes:N\"";
        }
    } else {
        size_t tl = 0u;
        *is_write = true;
        ok = km_js_eat(j, '{') && km_js_string(j, key, sizeof(key), NULL) && km_js_eat(j, ':');
        if (ok && ((strcmp(key, "u32") == 0) || (strcmp(key, "u64") == 0) || (strcmp(key, "or_u32") == 0))) {
            v->kind = (key[1] == '6') ? KM_KOP_V_U64 : ((key[0] == 'o') ? KM_KOP_V_OR_U32 : KM_KOP_V_U32);
            ok = km_js_uint(j, &v->scalar);
        } else if (ok && ((strcmp(key, "bytes") == 0) || (strcmp(key, "str") == 0))) {
            ok = km_js_string(j, text, sizeof(text), &tl);
            uint8_t *dst = &km_kop_pool[km_kop_pool_used];
            uint32_t n = 0u;
            if (ok && (key[0] == 's')) {
                n = (uint32_t)tl + 1u; /* with its NUL */
                ok = (n <= KM_KOP_BYTES_MAX) && (n <= (KM_KOP_POOL - km_kop_pool_used));
                if (ok) {
                    (void)memcpy(dst, text, n);
                }
            } else if (ok) {
                n = (uint32_t)(tl / 2u);
                ok = ((tl % 2u) == 0u) && (n <= (KM_KOP_POOL - km_kop_pool_used));
                for (size_t i = 0u; ok && (i < (size_t)n); i++) {
                    int hi = km_cli_hex_digit(text[2u * i]);
                    int lo = km_cli_hex_digit(text[(2u * i) + 1u]);
                    ok = (hi >= 0) && (lo >= 0);
                    dst[i] = (uint8_t)((hi * 16) + lo);
                }
            } else {
                /* failed */
            }
            if (!ok && (j->err == NULL)) {
                j->err = "bad bytes value (hex digits, even count) or too much data";
            }
            v->kind = KM_KOP_V_BYTES;
            v->bytes = dst;
            v->len = n;
            km_kop_pool_used += ok ? n : 0u;
        } else {
            ok = false;
            j->err = (j->err != NULL) ? j->err : "a write value is {\"u32\"|\"u64\"|\"or_u32\": N} or {\"bytes\"|\"str\": \"...\"}";
        }
        ok = ok && km_js_eat(j, '}');
    }
    return ok;
}

static bool km_js_entry(km_js *j, km_kop_entry *e, bool *is_write)
{
    static char target[1024];
    char sname[KM_KOP_NAME_MAX + 1u];
    char key[16];
    bool have_target = false;
    bool have_value = false;
    bool ok = km_js_eat(j, '{');
    sname[0] = '\0';
    target[0] = '\0';
    while (ok && !km_js_peek(j, '}')) {
        ok = km_js_string(j, key, sizeof(key), NULL) && km_js_eat(j, ':');
        if (ok && (strcmp(key, "target") == 0)) {
            ok = km_js_string(j, target, sizeof(target), NULL);
            have_target = ok;
        } else if (ok && (strcmp(key, "struct") == 0)) {
            ok = km_js_string(j, sname, sizeof(sname), NULL);
        } else if (ok && (strcmp(key, "value") == 0)) {
            ok = km_js_value(j, &e->value, is_write);
            have_value = ok;
        } else if (ok) {
            ok = false;
            j->err = "unknown key in an entry (target, struct, value)";
        } else {
            /* said */
        }
        if (ok && !km_js_peek(j, '}')) {
            ok = km_js_eat(j, ',');
        }
    }
    ok = ok && km_js_eat(j, '}');
    if (ok && (!have_target || !have_value)) {
        ok = false;
        j->err = "an entry needs \"target\" and \"value\"";
    }
    if (ok) {
        km_kop_value v = e->value;
        ok = km_cli_kop_target(target, (sname[0] != '\0') ? sname : NULL, &e->target);
        e->value = v;
        if (!ok) {
            j->err = "cannot parse a target (see ktmon write --help)";
        }
    }
    return ok;
}

static bool km_js_request(km_js *j, km_kop_request *req)
{
    static char tag[4096];
    char key[32];
    char word[16];
    size_t tl = 0u;
    bool ok = km_js_eat(j, '{');
    bool writes = false;
    bool reads = false;
    km_kop_request_init(req, 0u, KM_KOP_COLD, KM_KOP_WRITE);
    while (ok && !km_js_peek(j, '}')) {
        ok = km_js_string(j, key, sizeof(key), NULL) && km_js_eat(j, ':');
        if (ok && (strcmp(key, "request_id") == 0)) {
            ok = km_js_uint(j, &req->request_id);
        } else if (ok && (strcmp(key, "mode") == 0)) {
            ok = km_js_string(j, word, sizeof(word), NULL) &&
                 ((strcmp(word, "cold") == 0) || (strcmp(word, "hot") == 0));
            req->mode = (strcmp(word, "hot") == 0) ? KM_KOP_HOT : KM_KOP_COLD;
            j->err = ok ? j->err : "mode is \"cold\" or \"hot\"";
        } else if (ok && (strcmp(key, "direction") == 0)) {
            ok = km_js_string(j, word, sizeof(word), NULL) &&
                 ((strcmp(word, "write") == 0) || (strcmp(word, "read") == 0));
            req->dir = (strcmp(word, "read") == 0) ? KM_KOP_READ : KM_KOP_WRITE;
            j->err = ok ? j->err : "direction is \"write\" or \"read\"";
        } else if (ok && (strcmp(key, "tag") == 0)) {
            ok = km_js_string(j, tag, sizeof(tag), &tl);
            km_kop_request_set_tag(req, (const uint8_t *)tag, tl);
        } else if (ok && (strcmp(key, "entries") == 0)) {
            ok = km_js_eat(j, '[');
            while (ok && !km_js_peek(j, ']')) {
                bool w = false;
                if (req->count >= KM_KOP_MAX_ENTRIES) {
                    ok = false;
                    j->err = "more than 64 entries";
                } else {
                    ok = km_js_entry(j, &req->entries[req->count], &w);
                    req->count++;
                    writes = writes || w;
                    reads = reads || !w;
                }
                if (ok && !km_js_peek(j, ']')) {
                    ok = km_js_eat(j, ',');
                }
            }
            ok = ok && km_js_eat(j, ']');
        } else if (ok) {
            ok = false;
            j->err = "unknown key (request_id, mode, direction, tag, entries)";
        } else {
            /* said */
        }
        if (ok && !km_js_peek(j, '}')) {
            ok = km_js_eat(j, ',');
        }
    }
    ok = ok && km_js_eat(j, '}');
    km_js_ws(j);
    if (ok && (j->pos != j->n)) {
        ok = false;
        j->err = "text after the request object";
    }
    if (ok && ((writes && (req->dir != KM_KOP_WRITE)) || (reads && (req->dir != KM_KOP_READ)))) {
        ok = false;
        j->err = "write values need \"direction\": \"write\"; read widths need \"direction\": \"read\"";
    }
    return ok;
}

/* ------------------------------------------------------------------ the command */

static int km_write_file(const char *path, const uint8_t *p, size_t n)
{
    int rc = KM_EXIT_TARGET;
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
        if ((fwrite(p, 1u, n, f) == n) && (fclose(f) == 0)) {
            rc = KM_EXIT_OK;
        }
    }
    if (rc != KM_EXIT_OK) {
        km_cli_err("cannot write %s", path);
    }
    return rc;
}

int km_cmd_kop(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_kernel k;
    km_kop_ctx ctx;
    static km_kop_request req;
    static km_kop_reply rep;
    static uint8_t data[KM_KOP_PAYLOAD_MAX];
    static uint8_t frame[KM_KOP_FRAME_MAX];
    int rc = km_cli_parse(argc, argv, &o);
    const char *file = NULL;
    const char *encode = NULL;
    const char *reply_out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0u;
    bool opened = false;
    for (int i = 0; (rc == KM_EXIT_OK) && (i < o.nrest); i++) {
        const char *a = o.rest[i];
        if ((strcmp(a, "--encode") == 0) && (i + 1 < o.nrest)) {
            encode = o.rest[++i];
        } else if ((strcmp(a, "--reply-out") == 0) && (i + 1 < o.nrest)) {
            reply_out = o.rest[++i];
        } else if ((a[0] == '-') && (a[1] == '-')) {
            km_cli_err("kop: unknown option '%s'", a);
            rc = KM_EXIT_USAGE;
        } else if (file == NULL) {
            file = a;
        } else {
            km_cli_err("kop: one FILE ('%s' is extra)", a);
            rc = KM_EXIT_USAGE;
        }
    }
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_kop(stdout);
        return KM_EXIT_OK;
    }
    if ((rc == KM_EXIT_OK) && (file == NULL)) {
        km_cli_err("kop: no FILE (see ktmon kop --help)");
        rc = KM_EXIT_USAGE;
    }
    if (rc == KM_EXIT_OK) {
        FILE *f = fopen(file, "rb");
        buf = malloc(KM_KOP_FILE_MAX);
        if ((f == NULL) || (buf == NULL)) {
            km_cli_err("cannot read %s", file);
            rc = KM_EXIT_TARGET;
        } else {
            len = fread(buf, 1u, KM_KOP_FILE_MAX, f);
            if (len == KM_KOP_FILE_MAX) {
                km_cli_err("%s: larger than %u bytes", file, KM_KOP_FILE_MAX - 1u);
                rc = KM_EXIT_USAGE;
            }
        }
        if (f != NULL) {
            (void)fclose(f);
        }
    }
    uint32_t tag = 0u;
    if ((rc == KM_EXIT_OK) && (km_kop_frame_tag(buf, len, &tag) == KM_OK) && (tag == KM_KOP_TAG_REQUEST)) {
        km_kop_wire_error we;
        if (km_kop_decode_request(buf, len, &req, &we) != KM_OK) {
            km_cli_err("%s: bad KORQ frame: %s at byte %u%s", file, km_kop_wire_reason_name(we.reason), we.offset,
                       (we.entry != KM_NO_INDEX) ? " (inside an entry)" : "");
            rc = KM_EXIT_USAGE;
        }
    } else if (rc == KM_EXIT_OK) {
        km_js j = {(const char *)buf, len, 0u, NULL};
        km_kop_pool_used = 0u;
        if (!km_js_request(&j, &req)) {
            km_cli_err("%s: JSON request: %s (near byte %zu)", file, (j.err != NULL) ? j.err : "malformed", j.pos);
            rc = KM_EXIT_USAGE;
        }
    } else {
        /* reported */
    }
    if ((rc == KM_EXIT_OK) && (encode != NULL)) {
        size_t n = 0u;
        if (km_kop_encode_request(&req, frame, sizeof(frame), &n) != KM_OK) {
            km_cli_err("kop: the request cannot be encoded");
            rc = KM_EXIT_USAGE;
        } else {
            rc = km_write_file(encode, frame, n);
            if (rc == KM_EXIT_OK) {
                (void)printf("wrote a %zu-byte KORQ frame (%u entries) to %s\n", n, req.count, encode);
            }
        }
        free(buf);
        return rc;
    }
    if (rc == KM_EXIT_OK) {
        rc = km_cli_kop_open(&o, &k, &req, &ctx);
        opened = true;
    }
    if (rc == KM_EXIT_OK) {
        km_kop_reply_init(&rep, data, (uint32_t)sizeof(data));
        rc = km_cli_kop_run(&k, &ctx, &req, &rep);
    }
    if (rc == KM_EXIT_OK) {
        km_cli_kop_print(stdout, &rep, o.json);
        if (reply_out != NULL) {
            size_t n = 0u;
            if (km_kop_encode_reply(&rep, frame, sizeof(frame), &n) == KM_OK) {
                rc = km_write_file(reply_out, frame, n);
            } else {
                km_cli_err("kop: the reply cannot be encoded");
                rc = KM_EXIT_TARGET;
            }
        }
        if ((rc == KM_EXIT_OK) && !rep.success) {
            rc = KM_EXIT_TARGET;
        }
    }
    if (opened) {
        km_cli_kernel_close(&k);
    }
    free(buf);
    return rc;
}
