/* ktmon: a client for QEMU's gdbstub (GDB Remote Serial Protocol over TCP).
 *
 * Packets are "$payload#cs" with a modulo-256 checksum.  After qSupported we
 * ask for no-ack mode; until then every packet is acknowledged with '+'.
 * Registers are found by name in the target description (qXfer:features),
 * which is how QEMU exposes arm64 system registers such as TTBR1_EL1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktmon/qemu.h"
#include "sock.h"

#define KM_GDB_MAX_INCLUDES 16u

static int km_hexv(char c)
{
    int v = -1;
    if ((c >= '0') && (c <= '9')) {
        v = c - '0';
    } else if ((c >= 'a') && (c <= 'f')) {
        v = (c - 'a') + 10;
    } else if ((c >= 'A') && (c <= 'F')) {
        v = (c - 'A') + 10;
    } else {
        v = -1;
    }
    return v;
}

static const char km_hexchars[] = "0123456789abcdef";

/* Pull more bytes into g->rx before the deadline. */
static km_status km_gdb_fill(km_gdb *g, int64_t deadline, km_error *err)
{
    km_status st;
    size_t got = 0u;
    if (g->len >= sizeof(g->rx)) {
        st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_sock_recv(g->fd, &g->rx[g->len], sizeof(g->rx) - g->len, deadline, &got, err);
        if (st == KM_OK) {
            g->len += got;
        }
    }
    return st;
}

static void km_gdb_consume(km_gdb *g, size_t n)
{
    size_t k = (n < g->len) ? n : g->len;
    (void)memmove(g->rx, &g->rx[k], g->len - k);
    g->len -= k;
}

/* Receive one packet into g->pkt (run-length encoding expanded). */
static km_status km_gdb_recv_packet(km_gdb *g, int64_t deadline, km_error *err)
{
    km_status st = KM_OK;
    bool have = false;
    while ((st == KM_OK) && !have) {
        char *dollar = memchr(g->rx, '$', g->len);
        char *hash = NULL;
        if (dollar == NULL) {
            g->len = 0u; /* acks and noise */
        } else {
            km_gdb_consume(g, (size_t)(dollar - g->rx));
            hash = memchr(g->rx, '#', g->len);
        }
        if ((hash != NULL) && ((size_t)(hash - g->rx) + 3u <= g->len)) {
            size_t plen = (size_t)(hash - g->rx) - 1u;
            unsigned int sum = 0u;
            size_t o = 0u;
            for (size_t i = 1u; i <= plen; i++) {
                sum = (sum + (unsigned char)g->rx[i]) & 0xFFu;
            }
            int h1 = km_hexv(hash[1]);
            int h2 = km_hexv(hash[2]);
            if ((h1 < 0) || (h2 < 0) || ((unsigned int)((h1 * 16) + h2) != sum)) {
                st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
            }
            for (size_t i = 1u; (st == KM_OK) && (i <= plen); i++) {
                char c = g->rx[i];
                if ((c == '*') && (o > 0u) && (i < plen)) {
                    /* run-length: previous char repeated (next - 29) more times */
                    int rep = (int)(unsigned char)g->rx[i + 1u] - 29;
                    i++;
                    for (int r = 0; (st == KM_OK) && (r < rep); r++) {
                        if ((o + 1u) >= sizeof(g->pkt)) {
                            st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
                        } else {
                            g->pkt[o] = g->pkt[o - 1u];
                            o++;
                        }
                    }
                } else if ((o + 1u) >= sizeof(g->pkt)) {
                    st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
                } else {
                    g->pkt[o] = c;
                    o++;
                }
            }
            g->pkt[(o < sizeof(g->pkt)) ? o : (sizeof(g->pkt) - 1u)] = '\0';
            km_gdb_consume(g, plen + 4u);
            if ((st == KM_OK) && !g->no_ack) {
                st = km_sock_send(g->fd, "+", 1u, g->timeout_ms, err);
            }
            have = true;
        } else {
            st = km_gdb_fill(g, deadline, err);
        }
    }
    return st;
}

static km_status km_gdb_send_packet(km_gdb *g, const char *payload, km_error *err)
{
    km_status st = KM_OK;
    char frame[1100];
    size_t n = strlen(payload);
    unsigned int sum = 0u;
    if ((n + 4u) > sizeof(frame)) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        frame[0] = '$';
        (void)memcpy(&frame[1], payload, n);
        for (size_t i = 0u; i < n; i++) {
            sum = (sum + (unsigned char)payload[i]) & 0xFFu;
        }
        frame[n + 1u] = '#';
        frame[n + 2u] = km_hexchars[(sum >> 4) & 0xFu];
        frame[n + 3u] = km_hexchars[sum & 0xFu];
        st = km_sock_send(g->fd, frame, n + 4u, g->timeout_ms, err);
    }
    if ((st == KM_OK) && !g->no_ack) {
        /* wait for the '+' */
        int64_t deadline = km_now_ms() + g->timeout_ms;
        bool acked = false;
        while ((st == KM_OK) && !acked) {
            if (g->len > 0u) {
                if (g->rx[0] == '+') {
                    km_gdb_consume(g, 1u);
                    acked = true;
                } else if (g->rx[0] == '-') {
                    st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
                } else {
                    acked = true; /* a packet already: treat as implicitly acknowledged */
                }
            } else {
                st = km_gdb_fill(g, deadline, err);
            }
        }
    }
    return st;
}

/* Is this payload a stop reply ("Sxx", "Txx...", "Wxx", "Xxx")? */
static bool km_gdb_is_stop(const char *p)
{
    return ((p[0] == 'S') || (p[0] == 'T') || (p[0] == 'W') || (p[0] == 'X')) && (km_hexv(p[1]) >= 0) &&
           (km_hexv(p[2]) >= 0);
}

km_status km_gdb_command(km_gdb *g, const char *cmd, km_error *err)
{
    km_status st = km_gdb_send_packet(g, cmd, err);
    /* Only '?' is answered with a stop reply; any stop reply that arrives
     * while another command waits (QEMU announces the stop caused by the
     * attach, or a watchpoint fires) is kept for km_gdb_wait_stop. */
    bool want_stop = (strcmp(cmd, "?") == 0) || (strncmp(cmd, "vCont;", 6) == 0) || (strcmp(cmd, "s") == 0);
    bool have = false;
    int64_t deadline = km_now_ms() + g->timeout_ms;
    while ((st == KM_OK) && !have) {
        st = km_gdb_recv_packet(g, deadline, err);
        if ((st == KM_OK) && !want_stop && km_gdb_is_stop(g->pkt)) {
            size_t n = strlen(g->pkt);
            if (n < sizeof(g->stop_pkt)) {
                (void)memcpy(g->stop_pkt, g->pkt, n + 1u);
                g->stop_pending = true;
            }
        } else {
            have = true;
        }
    }
    return st;
}

km_status km_gdb_connect(km_gdb *g, const char *host, uint16_t port, int timeout_ms, km_error *err)
{
    km_status st;
    g->fd = -1;
    g->len = 0u;
    g->no_ack = false;
    g->nregs = 0u;
    g->stop_pending = false;
    g->stop_pkt[0] = '\0';
    g->timeout_ms = (timeout_ms > 0) ? timeout_ms : 5000;
    st = km_sock_tcp(host, port, g->timeout_ms, &g->fd, err);
    if (st == KM_OK) {
        st = km_gdb_command(g, "qSupported:multiprocess+;swbreak+;hwbreak+", err);
    }
    if ((st == KM_OK) && (strstr(g->pkt, "QStartNoAckMode+") != NULL)) {
        st = km_gdb_command(g, "QStartNoAckMode", err);
        if ((st == KM_OK) && (strcmp(g->pkt, "OK") == 0)) {
            g->no_ack = true;
        }
    }
    if (st == KM_OK) {
        st = km_gdb_command(g, "?", err); /* the stop the attach caused */
        g->stop_pending = false;
    }
    if (st != KM_OK) {
        km_gdb_close(g);
    }
    return st;
}

km_status km_gdb_detach(km_gdb *g, bool resume, km_error *err)
{
    km_status st = KM_OK;
    if (resume) {
        /* Plain "D" is refused (E22) by QEMU once multiprocess is negotiated: name the process. */
        st = km_gdb_command(g, "D;1", err);
        if ((st == KM_OK) && (strcmp(g->pkt, "OK") != 0)) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
    }
    km_gdb_close(g);
    return st;
}

void km_gdb_close(km_gdb *g)
{
    if ((g != NULL) && (g->fd >= 0)) {
        (void)close(g->fd);
        g->fd = -1;
    }
}

/* Read an XML document of the target description into g->xml (binary-escaped chunks). */
static km_status km_gdb_read_xml(km_gdb *g, const char *annex, size_t *len, km_error *err)
{
    km_status st = KM_OK;
    size_t off = 0u;
    bool last = false;
    while ((st == KM_OK) && !last) {
        char cmd[256];
        int n = snprintf(cmd, sizeof(cmd), "qXfer:features:read:%s:%zx,%x", annex, off, 0x3000u);
        if ((n < 0) || ((size_t)n >= sizeof(cmd))) {
            st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
        } else {
            st = km_gdb_command(g, cmd, err);
        }
        if ((st == KM_OK) && (g->pkt[0] != 'm') && (g->pkt[0] != 'l')) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
        if (st == KM_OK) {
            last = g->pkt[0] == 'l';
            for (size_t i = 1u; (st == KM_OK) && (g->pkt[i] != '\0'); i++) {
                char c = g->pkt[i];
                if ((c == '}') && (g->pkt[i + 1u] != '\0')) {
                    i++;
                    c = (char)((unsigned char)g->pkt[i] ^ 0x20u);
                }
                if ((off + 1u) >= sizeof(g->xml)) {
                    st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
                } else {
                    g->xml[off] = c;
                    off++;
                }
            }
        }
    }
    if (st == KM_OK) {
        g->xml[off] = '\0';
        *len = off;
    }
    return st;
}

/* Value of attribute `name` inside the element text [p, end). */
static bool km_xml_attr(const char *p, const char *end, const char *name, char *out, size_t cap)
{
    bool found = false;
    size_t nl = strlen(name);
    const char *q = p;
    while (!found && (q < end)) {
        const char *a = strstr(q, name);
        if ((a == NULL) || (a >= end)) {
            q = end;
        } else if (((a == p) || (a[-1] == ' ')) && (a[nl] == '=') && (a[nl + 1u] == '"')) {
            const char *v = &a[nl + 2u];
            const char *ve = strchr(v, '"');
            if ((ve != NULL) && (ve < end) && ((size_t)(ve - v) < cap)) {
                (void)memcpy(out, v, (size_t)(ve - v));
                out[ve - v] = '\0';
                found = true;
            }
            q = end;
        } else {
            q = &a[1];
        }
    }
    return found;
}

/* Add the <reg> elements of the document in g->xml; *next is the next implicit regnum. */
static km_status km_gdb_add_regs(km_gdb *g, uint32_t *next)
{
    km_status st = KM_OK;
    const char *p = strstr(g->xml, "<reg ");
    while ((st == KM_OK) && (p != NULL)) {
        const char *end = strchr(p, '>');
        char name[64];
        char num[32];
        char bits[32];
        if (end == NULL) {
            st = KM_ERR_BAD_DATA;
        } else if (km_xml_attr(&p[5], end, "name", name, sizeof(name))) {
            uint32_t regnum = *next;
            if (km_xml_attr(&p[5], end, "regnum", num, sizeof(num))) {
                regnum = (uint32_t)strtoul(num, NULL, 10);
            }
            uint32_t bitsize = km_xml_attr(&p[5], end, "bitsize", bits, sizeof(bits))
                                   ? (uint32_t)strtoul(bits, NULL, 10)
                                   : 0u;
            if (g->nregs >= KM_GDB_MAX_REGS) {
                st = KM_ERR_CAPACITY;
            } else {
                km_gdb_reg *r = &g->regs[g->nregs];
                size_t n = strlen(name);
                size_t c = (n < (sizeof(r->name) - 1u)) ? n : (sizeof(r->name) - 1u);
                (void)memcpy(r->name, name, c);
                r->name[c] = '\0';
                r->regnum = regnum;
                r->bitsize = bitsize;
                g->nregs++;
                *next = regnum + 1u;
            }
        } else {
            st = KM_ERR_BAD_DATA;
        }
        p = (end != NULL) ? strstr(end, "<reg ") : NULL;
    }
    return st;
}

km_status km_gdb_load_regs(km_gdb *g, km_error *err)
{
    km_status st;
    size_t len = 0u;
    char includes[KM_GDB_MAX_INCLUDES][64];
    uint32_t ninc = 0u;
    uint32_t next = 0u;
    g->nregs = 0u;
    st = km_gdb_read_xml(g, "target.xml", &len, err);
    if (st == KM_OK) {
        /* collect the includes first: reading them reuses g->xml */
        const char *p = strstr(g->xml, "<xi:include");
        while ((st == KM_OK) && (p != NULL)) {
            const char *end = strchr(p, '>');
            if ((end == NULL) || (ninc >= KM_GDB_MAX_INCLUDES) ||
                !km_xml_attr(&p[11], end, "href", includes[ninc], sizeof(includes[0]))) {
                st = km_error_set(err, KM_ERR_BAD_DATA, 0u, ninc, 0);
            } else {
                ninc++;
                p = strstr(end, "<xi:include");
            }
        }
        if (st == KM_OK) {
            st = km_gdb_add_regs(g, &next); /* registers declared in target.xml itself */
        }
    }
    for (uint32_t i = 0u; (st == KM_OK) && (i < ninc); i++) {
        st = km_gdb_read_xml(g, includes[i], &len, err);
        if (st == KM_OK) {
            st = km_gdb_add_regs(g, &next);
            if (st != KM_OK) {
                (void)km_error_set(err, st, 0u, i, 0);
            }
        }
    }
    if ((st == KM_OK) && (g->nregs == 0u)) {
        st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
    }
    return st;
}

km_status km_gdb_regnum(const km_gdb *g, const char *name, uint32_t *regnum)
{
    km_status st = KM_ERR_NO_SYMBOL;
    for (uint32_t i = 0u; (st != KM_OK) && (i < g->nregs); i++) {
        if (strcmp(g->regs[i].name, name) == 0) {
            *regnum = g->regs[i].regnum;
            st = KM_OK;
        }
    }
    return st;
}

km_status km_gdb_read_reg(km_gdb *g, int cpu, uint32_t regnum, uint64_t *val, km_error *err)
{
    char cmd[64];
    km_status st = KM_OK;
    if (cpu < 0) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        /* thread ids are vCPU index + 1, inside process 1 */
        (void)snprintf(cmd, sizeof(cmd), "Hgp1.%x", (unsigned int)cpu + 1u);
        st = km_gdb_command(g, cmd, err);
        if ((st == KM_OK) && (strcmp(g->pkt, "OK") != 0)) {
            st = km_error_set(err, KM_ERR_RANGE, 0u, (uint32_t)cpu, 0);
        }
    }
    if (st == KM_OK) {
        (void)snprintf(cmd, sizeof(cmd), "p%x", (unsigned int)regnum);
        st = km_gdb_command(g, cmd, err);
    }
    if (st == KM_OK) {
        size_t n = strlen(g->pkt);
        uint64_t v = 0u;
        if ((n == 0u) || (n > 16u) || ((n % 2u) != 0u) || (g->pkt[0] == 'E') || (g->pkt[0] == 'x')) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, regnum, 0);
        }
        /* target byte order (little-endian): byte i is hex digits 2i, 2i+1 */
        for (size_t i = 0u; (st == KM_OK) && (i < (n / 2u)); i++) {
            int hi = km_hexv(g->pkt[2u * i]);
            int lo = km_hexv(g->pkt[(2u * i) + 1u]);
            if ((hi < 0) || (lo < 0)) {
                st = km_error_set(err, KM_ERR_PROTOCOL, 0u, regnum, 0);
            } else {
                v |= (uint64_t)(uint32_t)((hi * 16) + lo) << (8u * (uint32_t)i);
            }
        }
        if (st == KM_OK) {
            *val = v;
        }
    }
    return st;
}

km_status km_gdb_watch(km_gdb *g, uint64_t addr, uint32_t len, bool insert, km_error *err)
{
    char cmd[64];
    (void)snprintf(cmd, sizeof(cmd), "%c2,%llx,%x", insert ? 'Z' : 'z', (unsigned long long)addr,
                   (unsigned int)len);
    km_status st = km_gdb_command(g, cmd, err);
    if ((st == KM_OK) && (strcmp(g->pkt, "OK") != 0)) {
        st = km_error_set(err, (g->pkt[0] == '\0') ? KM_ERR_UNSUPPORTED : KM_ERR_PROTOCOL, addr,
                          KM_NO_INDEX, 0);
    }
    return st;
}

km_status km_gdb_continue(km_gdb *g, km_error *err)
{
    return km_gdb_send_packet(g, "c", err);
}

km_status km_gdb_parse_stop(const char *payload, km_gdb_stop *stop)
{
    km_status st = KM_OK;
    km_gdb_stop s = {.signal = 0u, .watch = false, .watch_addr = 0u, .thread = -1, .exited = false};
    char kind = payload[0];
    int h1 = (kind != '\0') ? km_hexv(payload[1]) : -1;
    int h2 = (h1 >= 0) ? km_hexv(payload[2]) : -1;
    if ((kind == 'W') || (kind == 'X')) {
        s.exited = true;
    } else if (((kind != 'S') && (kind != 'T')) || (h1 < 0) || (h2 < 0)) {
        st = KM_ERR_PROTOCOL;
    } else {
        s.signal = (uint32_t)((h1 * 16) + h2);
        const char *p = &payload[3];
        while ((st == KM_OK) && (kind == 'T') && (*p != '\0')) {
            const char *colon = strchr(p, ':');
            const char *semi = strchr(p, ';');
            if ((colon == NULL) || ((semi != NULL) && (semi < colon))) {
                st = KM_ERR_PROTOCOL;
            } else {
                size_t klen = (size_t)(colon - p);
                const char *v = &colon[1];
                if (((klen == 5u) && (memcmp(p, "watch", 5u) == 0)) ||
                    ((klen == 6u) && ((memcmp(p, "awatch", 6u) == 0) || (memcmp(p, "rwatch", 6u) == 0)))) {
                    s.watch = true;
                    s.watch_addr = (uint64_t)strtoull(v, NULL, 16);
                } else if ((klen == 6u) && (memcmp(p, "thread", 6u) == 0)) {
                    const char *dot = strchr(v, '.');
                    const char *tid = ((dot != NULL) && ((semi == NULL) || (dot < semi))) ? &dot[1] : v;
                    long t = strtol(tid, NULL, 16);
                    s.thread = (t > 0) ? (int32_t)(t - 1) : -1;
                } else {
                    /* other key:value pairs (core, swbreak, ...) */
                }
                p = (semi != NULL) ? &semi[1] : &v[strlen(v)];
            }
        }
    }
    if (st == KM_OK) {
        *stop = s;
    }
    return st;
}

km_status km_gdb_wait_stop(km_gdb *g, int timeout_ms, km_gdb_stop *stop, km_error *err)
{
    km_status st = KM_OK;
    const char *payload = g->pkt;
    if (g->stop_pending) {
        g->stop_pending = false;
        payload = g->stop_pkt;
    } else {
        st = km_gdb_recv_packet(g, km_now_ms() + timeout_ms, err);
    }
    if (st == KM_OK) {
        st = km_gdb_parse_stop(payload, stop);
        if (st != KM_OK) {
            (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
        }
    }
    return st;
}

km_status km_gdb_interrupt(km_gdb *g, km_gdb_stop *stop, km_error *err)
{
    const char brk = (char)0x03;
    km_status st = km_sock_send(g->fd, &brk, 1u, g->timeout_ms, err);
    if (st == KM_OK) {
        st = km_gdb_wait_stop(g, g->timeout_ms, stop, err);
    }
    return st;
}
