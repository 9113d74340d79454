/* ktmon: QMP client (QEMU Machine Protocol over a unix socket).
 *
 * QMP sends one JSON object per line: a greeting, then replies
 * ({"return": ...} or {"error": ...}) interleaved with asynchronous
 * {"event": ...} lines, which we skip. */
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "ktmon/qemu.h"
#include "sock.h"
#include "text.h"

/* Next line into q->line (NUL-terminated, without \r\n). */
static km_status km_qmp_read_line(km_qmp *q, int64_t deadline, km_error *err)
{
    km_status st = KM_OK;
    bool have = false;
    while ((st == KM_OK) && !have) {
        size_t n = 0u;
        if (km_txt_find_byte(q->buf, q->len, '\n', &n)) {
            size_t copy = n;
            if (copy > 0u) {
                char last = q->buf[copy - 1u];
                if (last == '\r') {
                    copy--;
                }
            }
            if (copy >= sizeof(q->line)) {
                st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
            } else {
                (void)memcpy(q->line, q->buf, copy);
                q->line[copy] = '\0';
                have = true;
            }
            (void)memmove(q->buf, &q->buf[n + 1u], q->len - (n + 1u));
            q->len -= n + 1u;
        } else if (q->len >= sizeof(q->buf)) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0); /* a line longer than the buffer */
        } else {
            size_t got = 0u;
            st = km_sock_recv(q->fd, &q->buf[q->len], sizeof(q->buf) - q->len, deadline, &got, err);
            if (st == KM_OK) {
                q->len += got;
            }
        }
    }
    return st;
}

/* Read lines until a reply (not an event) arrives; copy its payload to out. */
static km_status km_qmp_reply(km_qmp *q, char *out, size_t cap, km_error *err)
{
    km_status st = KM_OK;
    bool done = false;
    int64_t deadline = km_now_ms() + q->timeout_ms;
    while ((st == KM_OK) && !done) {
        st = km_qmp_read_line(q, deadline, err);
        if (st == KM_OK) {
            const char *v = NULL;
            size_t vl = 0u;
            size_t ll = strlen(q->line);
            if (km_json_find(q->line, ll, "return", &v, &vl) == KM_OK) {
                if ((out == NULL) || (cap == 0u)) {
                    /* the caller wants the status only */
                } else if (vl >= cap) {
                    st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0); /* never a cut-off value */
                } else {
                    (void)memcpy(out, v, vl);
                    out[vl] = '\0';
                }
                done = true;
            } else if (km_json_find(q->line, ll, "error", &v, &vl) == KM_OK) {
                const char *d = NULL;
                size_t dl = 0u;
                if ((out != NULL) && (cap > 0u)) {
                    out[0] = '\0';
                    if (km_json_find(v, vl, "desc", &d, &dl) == KM_OK) {
                        /* unescape leaves out unterminated when it fails: keep a string */
                        km_status us = km_json_unescape(d, dl, out, cap, NULL);
                        if (us == KM_ERR_CAPACITY) {
                            out[cap - 1u] = '\0'; /* the description, cut short */
                        } else if (us != KM_OK) {
                            out[0] = '\0';
                        } else {
                            /* the whole description */
                        }
                    }
                }
                st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
            } else if (km_json_find(q->line, ll, "event", &v, &vl) == KM_OK) {
                /* asynchronous event: not our reply */
            } else {
                st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
            }
        }
    }
    return st;
}

km_status km_qmp_connect(km_qmp *q, const char *path, int timeout_ms, km_error *err)
{
    km_status st;
    q->fd = -1;
    q->len = 0u;
    q->timeout_ms = (timeout_ms > 0) ? timeout_ms : KM_QMP_DEFAULT_TIMEOUT_MS;
    st = km_sock_unix(path, &q->fd, err);
    if (st == KM_OK) {
        /* The greeting: {"QMP": {...}} */
        st = km_qmp_read_line(q, km_now_ms() + q->timeout_ms, err);
        if (st == KM_OK) {
            const char *v = NULL;
            size_t vl = 0u;
            if (km_json_find(q->line, strlen(q->line), "QMP", &v, &vl) != KM_OK) {
                st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
            }
        }
        if (st == KM_OK) {
            st = km_qmp_execute(q, "{\"execute\":\"qmp_capabilities\"}", NULL, 0u, err);
        }
        if (st != KM_OK) {
            km_qmp_close(q);
        }
    }
    return st;
}

void km_qmp_close(km_qmp *q)
{
    if ((q != NULL) && (q->fd >= 0)) {
        (void)close(q->fd);
        q->fd = -1;
    }
}

km_status km_qmp_execute(km_qmp *q, const char *cmd, char *out, size_t cap, km_error *err)
{
    km_status st;
    if ((q->fd < 0) || (cmd == NULL)) {
        st = km_error_set(err, KM_ERR_STATE, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_sock_send(q->fd, cmd, strlen(cmd), q->timeout_ms, err);
        if (st == KM_OK) {
            st = km_sock_send(q->fd, "\n", 1u, q->timeout_ms, err);
        }
        if (st == KM_OK) {
            st = km_qmp_reply(q, out, cap, err);
        }
        if (st == KM_ERR_TIMEOUT) {
            /* The reply may still come and would be read as the next
             * command's: the connection is out of step, close it. */
            km_qmp_close(q);
        }
    }
    return st;
}

/* Append s to a JSON string body being built in t (escaping quotes, backslashes, controls). */
static void km_json_append_escaped(km_txt *t, const char *s)
{
    for (size_t i = 0u; km_txt_ok(t) && (s[i] != '\0'); i++) {
        char c = s[i];
        if ((c == '"') || (c == '\\')) {
            km_txt_chr(t, '\\');
            km_txt_chr(t, c);
        } else if ((uint8_t)c < 0x20u) {
            km_txt_str(t, "\\u");
            km_txt_hex(t, (uint64_t)(uint8_t)c, 4u);
        } else {
            km_txt_chr(t, c); /* printable */
        }
    }
}

km_status km_qmp_hmp(km_qmp *q, const char *command_line, int cpu, char *out, size_t cap, km_error *err)
{
    char cmd[1024];
    km_txt t;
    km_status st;
    km_txt_init(&t, cmd, sizeof(cmd));
    km_txt_str(&t, "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"");
    km_json_append_escaped(&t, command_line);
    if (cpu >= 0) {
        km_txt_str(&t, "\",\"cpu-index\":");
        km_txt_dec(&t, (uint64_t)cpu);
        km_txt_str(&t, "}}");
    } else {
        km_txt_str(&t, "\"}}");
    }
    if (!km_txt_ok(&t)) {
        st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_qmp_execute(q, cmd, NULL, 0u, err);
    }
    if (st == KM_OK) {
        /* q->line still holds the reply: {"return": "text", ...} */
        const char *v = NULL;
        size_t vl = 0u;
        st = km_json_find(q->line, strlen(q->line), "return", &v, &vl);
        if (st == KM_OK) {
            st = km_json_unescape(v, vl, out, cap, NULL);
        }
        if (st != KM_OK) {
            st = km_error_set(err, (st == KM_ERR_CAPACITY) ? KM_ERR_CAPACITY : KM_ERR_PROTOCOL, 0u,
                              KM_NO_INDEX, 0);
        }
    }
    return st;
}

km_status km_qmp_stop(km_qmp *q, km_error *err)
{
    return km_qmp_execute(q, "{\"execute\":\"stop\"}", NULL, 0u, err);
}

km_status km_qmp_cont(km_qmp *q, km_error *err)
{
    return km_qmp_execute(q, "{\"execute\":\"cont\"}", NULL, 0u, err);
}

km_status km_qmp_query_status(km_qmp *q, bool *running, char *status, size_t cap, km_error *err)
{
    char ret[512];
    bool run = false;
    km_status st = km_qmp_execute(q, "{\"execute\":\"query-status\"}", ret, sizeof(ret), err);
    if (st == KM_OK) {
        const char *v = NULL;
        size_t vl = 0u;
        st = km_json_find(ret, strlen(ret), "running", &v, &vl);
        if ((st == KM_OK) && km_txt_span_is(v, vl, "true")) {
            run = true;
        } else if ((st == KM_OK) && km_txt_span_is(v, vl, "false")) {
            run = false;
        } else {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
        if ((st == KM_OK) && (status != NULL) && (cap > 0u)) {
            status[0] = '\0';
            if (km_json_find(ret, strlen(ret), "status", &v, &vl) == KM_OK) {
                km_status us = km_json_unescape(v, vl, status, cap, NULL);
                if (us != KM_OK) {
                    status[0] = '\0'; /* never a partial, unterminated word */
                    st = km_error_set(err, (us == KM_ERR_CAPACITY) ? KM_ERR_CAPACITY : KM_ERR_PROTOCOL, 0u,
                                      KM_NO_INDEX, 0);
                }
            }
        }
    }
    if (st == KM_OK) {
        *running = run;
    }
    return st;
}

km_status km_qmp_mem_path(km_qmp *q, const char *id, char *path, size_t cap, km_error *err)
{
    char cmd[512];
    char ret[4096];
    km_status st = KM_OK;
    km_txt t;
    km_txt_init(&t, cmd, sizeof(cmd));
    km_txt_str(&t, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/");
    km_txt_str(&t, id);
    km_txt_str(&t, "\",\"property\":\"mem-path\"}}");
    /* id goes into a JSON string unescaped: refuse what would need escaping */
    if (!km_txt_ok(&t) || (strchr(id, '"') != NULL) || (strchr(id, '\\') != NULL)) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_qmp_execute(q, cmd, ret, sizeof(ret), err);
    }
    if (st == KM_OK) {
        st = km_json_unescape(ret, strlen(ret), path, cap, NULL);
        if (st != KM_OK) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
    }
    return st;
}
