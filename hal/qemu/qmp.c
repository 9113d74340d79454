/* ktmon: QMP client (QEMU Machine Protocol over a unix socket).
 *
 * QMP sends one JSON object per line: a greeting, then replies
 * ({"return": ...} or {"error": ...}) interleaved with asynchronous
 * {"event": ...} lines, which we skip. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ktmon/qemu.h"
#include "sock.h"

/* Next line into q->line (NUL-terminated, without \r\n). */
static km_status km_qmp_read_line(km_qmp *q, int64_t deadline, km_error *err)
{
    km_status st = KM_OK;
    bool have = false;
    while ((st == KM_OK) && !have) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - q->buf);
            size_t copy = n;
            if ((copy > 0u) && (q->buf[copy - 1u] == '\r')) {
                copy--;
            }
            if (copy >= sizeof(q->line)) {
                st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
            } else {
                (void)memcpy(q->line, q->buf, copy);
                q->line[copy] = '\0';
                have = true;
            }
            (void)memmove(q->buf, &nl[1], q->len - (n + 1u));
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
                if ((out != NULL) && (cap > 0u)) {
                    size_t n = (vl < (cap - 1u)) ? vl : (cap - 1u);
                    (void)memcpy(out, v, n);
                    out[n] = '\0';
                }
                done = true;
            } else if (km_json_find(q->line, ll, "error", &v, &vl) == KM_OK) {
                const char *d = NULL;
                size_t dl = 0u;
                if ((out != NULL) && (cap > 0u)) {
                    out[0] = '\0';
                    if (km_json_find(v, vl, "desc", &d, &dl) == KM_OK) {
                        (void)km_json_unescape(d, dl, out, cap, NULL);
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
    }
    return st;
}

/* Append s to a JSON string body being built in buf (escaping quotes, backslashes, controls). */
static km_status km_json_append_escaped(char *buf, size_t cap, size_t *pos, const char *s)
{
    km_status st = KM_OK;
    for (size_t i = 0u; (st == KM_OK) && (s[i] != '\0'); i++) {
        char c = s[i];
        char esc[8];
        size_t n = 1u;
        esc[0] = c;
        if ((c == '"') || (c == '\\')) {
            esc[0] = '\\';
            esc[1] = c;
            n = 2u;
        } else if ((unsigned char)c < 0x20u) {
            (void)snprintf(esc, sizeof(esc), "\\u%04x", (unsigned int)(unsigned char)c);
            n = 6u;
        } else {
            /* printable */
        }
        if ((*pos + n) >= cap) {
            st = KM_ERR_CAPACITY;
        } else {
            (void)memcpy(&buf[*pos], esc, n);
            *pos += n;
            buf[*pos] = '\0';
        }
    }
    return st;
}

km_status km_qmp_hmp(km_qmp *q, const char *command_line, int cpu, char *out, size_t cap, km_error *err)
{
    char cmd[1024];
    size_t pos = 0u;
    km_status st;
    int n = snprintf(cmd, sizeof(cmd), "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"");
    pos = (n > 0) ? (size_t)n : 0u;
    st = km_json_append_escaped(cmd, sizeof(cmd), &pos, command_line);
    if (st == KM_OK) {
        int m = (cpu >= 0) ? snprintf(&cmd[pos], sizeof(cmd) - pos, "\",\"cpu-index\":%d}}", cpu)
                           : snprintf(&cmd[pos], sizeof(cmd) - pos, "\"}}");
        if ((m < 0) || ((size_t)m >= (sizeof(cmd) - pos))) {
            st = KM_ERR_CAPACITY;
        }
    }
    if (st != KM_OK) {
        st = km_error_set(err, st, 0u, KM_NO_INDEX, 0);
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
    km_status st = km_qmp_execute(q, "{\"execute\":\"query-status\"}", ret, sizeof(ret), err);
    if (st == KM_OK) {
        const char *v = NULL;
        size_t vl = 0u;
        st = km_json_find(ret, strlen(ret), "running", &v, &vl);
        if ((st == KM_OK) && (vl == 4u) && (memcmp(v, "true", 4u) == 0)) {
            *running = true;
        } else if ((st == KM_OK) && (vl == 5u) && (memcmp(v, "false", 5u) == 0)) {
            *running = false;
        } else {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
        if ((st == KM_OK) && (status != NULL) && (cap > 0u)) {
            status[0] = '\0';
            if (km_json_find(ret, strlen(ret), "status", &v, &vl) == KM_OK) {
                (void)km_json_unescape(v, vl, status, cap, NULL);
            }
        }
    }
    return st;
}

km_status km_qmp_mem_path(km_qmp *q, const char *id, char *path, size_t cap, km_error *err)
{
    char cmd[512];
    char ret[4096];
    km_status st = KM_OK;
    int n = snprintf(cmd, sizeof(cmd),
                     "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/%s\",\"property\":\"mem-path\"}}",
                     id);
    if ((n < 0) || ((size_t)n >= sizeof(cmd)) || (strchr(id, '"') != NULL) || (strchr(id, '\\') != NULL)) {
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
