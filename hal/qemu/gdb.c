/* ktmon: a client for QEMU's gdbstub (GDB Remote Serial Protocol over TCP).
 *
 * Packets are "$payload#cs" with a modulo-256 checksum.  After qSupported we
 * ask for no-ack mode; until then every packet is acknowledged with '+'.
 * Registers are found by name in the target description (qXfer:features),
 * which is how QEMU exposes arm64 system registers such as TTBR1_EL1. */
#include <string.h>
#include <unistd.h>

#include "ktmon/qemu.h"
#include "sock.h"
#include "text.h"

#define KM_GDB_MAX_INCLUDES 16u

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

/* The two hex digits after '#' (at rx[hash]) equal the modulo-256 sum of rx[1 .. hash). */
static bool km_gdb_checksum_ok(const km_gdb *g, size_t hash)
{
    uint32_t sum = 0u;
    int32_t h1 = km_txt_hexval(g->rx[hash + 1u]);
    int32_t h2 = km_txt_hexval(g->rx[hash + 2u]);
    for (size_t i = 1u; i < hash; i++) {
        sum = (sum + (uint32_t)(uint8_t)g->rx[i]) & 0xFFu;
    }
    return (h1 >= 0) && (h2 >= 0) && ((((uint32_t)h1 * 16u) + (uint32_t)h2) == sum);
}

/* Expand the payload rx[1 .. 1+plen) into g->pkt (NUL-terminated): "X*n" is X
 * followed by (n - 29) more copies of X (run-length encoding). */
static km_status km_gdb_expand(km_gdb *g, size_t plen, km_error *err)
{
    km_status st = KM_OK;
    size_t o = 0u;
    size_t i = 1u;
    while ((st == KM_OK) && (i <= plen)) {
        char c = g->rx[i];
        if ((c == '*') && (o > 0u) && (i < plen)) {
            /* a count byte below 29 repeats nothing */
            int32_t rep = (int32_t)(uint8_t)g->rx[i + 1u] - 29;
            for (int32_t r = 0; (st == KM_OK) && (r < rep); r++) {
                if ((o + 1u) >= sizeof(g->pkt)) {
                    st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
                } else {
                    g->pkt[o] = g->pkt[o - 1u];
                    o++;
                }
            }
            i += 2u;
        } else if ((o + 1u) >= sizeof(g->pkt)) {
            st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
        } else {
            g->pkt[o] = c;
            o++;
            i++;
        }
    }
    g->pkt[o] = '\0'; /* o < sizeof(g->pkt): every store above left room */
    return st;
}

/* Receive one packet into g->pkt (run-length encoding expanded). */
static km_status km_gdb_recv_packet(km_gdb *g, int64_t deadline, km_error *err)
{
    km_status st = KM_OK;
    bool have = false;
    while ((st == KM_OK) && !have) {
        size_t dollar = 0u;
        size_t hash = 0u;
        bool framed = false;
        if (!km_txt_find_byte(g->rx, g->len, '$', &dollar)) {
            g->len = 0u; /* acks and noise */
        } else {
            km_gdb_consume(g, dollar);
            /* "$payload#xx": the packet is complete once both checksum digits are in */
            framed = km_txt_find_byte(g->rx, g->len, '#', &hash) && ((hash + 3u) <= g->len);
        }
        if (framed) {
            size_t plen = hash - 1u;
            if (!km_gdb_checksum_ok(g, hash)) {
                st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
                g->pkt[0] = '\0';
            } else {
                st = km_gdb_expand(g, plen, err);
            }
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
    static const char hexchars[] = "0123456789abcdef";
    km_status st = KM_OK;
    char frame[1100];
    size_t n = strlen(payload);
    if ((n + 4u) > sizeof(frame)) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        /* "$payload#cs": cs is the modulo-256 sum of the payload bytes */
        uint32_t sum = 0u;
        frame[0] = '$';
        for (size_t i = 0u; i < n; i++) {
            frame[i + 1u] = payload[i];
            sum = (sum + (uint32_t)(uint8_t)payload[i]) & 0xFFu;
        }
        frame[n + 1u] = '#';
        frame[n + 2u] = hexchars[(sum >> 4u) & 0xFu];
        frame[n + 3u] = hexchars[sum & 0xFu];
        st = km_sock_send(g->fd, frame, n + 4u, g->timeout_ms, err);
    }
    if ((st == KM_OK) && !g->no_ack) {
        /* wait for the '+' */
        int64_t deadline = km_now_ms() + g->timeout_ms;
        bool acked = false;
        while ((st == KM_OK) && !acked) {
            if (g->len > 0u) {
                char c = g->rx[0];
                if (c == '+') {
                    km_gdb_consume(g, 1u);
                    acked = true;
                } else if (c == '-') {
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
    return ((p[0] == 'S') || (p[0] == 'T') || (p[0] == 'W') || (p[0] == 'X')) && (km_txt_hexval(p[1]) >= 0) &&
           (km_txt_hexval(p[2]) >= 0);
}

km_status km_gdb_command(km_gdb *g, const char *cmd, km_error *err)
{
    km_status st = KM_OK;
    if (g->fd < 0) {
        st = km_error_set(err, KM_ERR_STATE, 0u, KM_NO_INDEX, 0); /* closed, or closed by a timeout */
    } else {
        st = km_gdb_send_packet(g, cmd, err);
    }
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
    if (st == KM_ERR_TIMEOUT) {
        /* The reply may still come and would be read as the next
         * command's: the connection is out of step, close it. */
        km_gdb_close(g);
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
        km_txt t;
        char kind;
        bool empty;
        const char *reply;
        km_txt_init(&t, cmd, sizeof(cmd));
        km_txt_str(&t, "qXfer:features:read:");
        km_txt_str(&t, annex);
        km_txt_chr(&t, ':');
        km_txt_hex(&t, (uint64_t)off, 1u);
        km_txt_str(&t, ",3000"); /* chunk length 0x3000 */
        if (!km_txt_ok(&t)) {
            st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
        } else {
            st = km_gdb_command(g, cmd, err);
        }
        reply = g->pkt;
        kind = reply[0];
        /* 'm' + data: more follows; 'l' + data: the last part.  An 'm' without
         * data would have us ask for the same offset forever. */
        empty = (kind == 'm') && (reply[1] == '\0');
        if ((st == KM_OK) && (((kind != 'm') && (kind != 'l')) || empty)) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
        if (st == KM_OK) {
            const char *d = g->pkt;
            size_t i = 1u;
            last = (kind == 'l');
            /* "}x" stands for the byte x ^ 0x20 */
            while ((st == KM_OK) && (d[i] != '\0')) {
                char c = d[i];
                if ((c == '}') && (d[i + 1u] != '\0')) {
                    i++;
                    uint8_t b = (uint8_t)d[i] ^ 0x20u;
                    c = (char)b;
                }
                if ((off + 1u) >= sizeof(g->xml)) {
                    st = km_error_set(err, KM_ERR_CAPACITY, 0u, KM_NO_INDEX, 0);
                } else {
                    g->xml[off] = c;
                    off++;
                }
                i++;
            }
        }
    }
    if (st == KM_OK) {
        g->xml[off] = '\0';
        *len = off;
    }
    return st;
}

/* Value of attribute `name` inside the element text el[0 .. len) (the text
 * between the tag name and '>'): the first occurrence of name that starts the
 * text or follows a space and is followed by =" decides. */
static bool km_xml_attr(const char *el, size_t len, const char *name, char *out, size_t cap)
{
    bool found = false;
    bool done = false;
    size_t nl = strlen(name);
    size_t from = 0u;
    while (!done) {
        size_t a = 0u;
        if (!km_txt_find(el, len, from, name, &a)) {
            done = true;
        } else if (((a == 0u) || (el[a - 1u] == ' ')) && ((a + nl + 1u) < len) && (el[a + nl] == '=') &&
                   (el[a + nl + 1u] == '"')) {
            size_t v = a + nl + 2u;
            size_t vlen = 0u;
            if (km_txt_find_byte(&el[v], len - v, '"', &vlen) && (vlen < cap)) {
                (void)memcpy(out, &el[v], vlen);
                out[vlen] = '\0';
                found = true;
            }
            done = true;
        } else {
            from = a + 1u;
        }
    }
    return found;
}

/* Attribute `name` as a decimal number (0 when it has no leading digits); false if absent. */
static bool km_xml_attr_u32(const char *el, size_t len, const char *name, uint32_t *out)
{
    char num[32];
    bool found = km_xml_attr(el, len, name, num, sizeof(num));
    if (found) {
        uint64_t v = km_txt_strtou64(num, strlen(num), 10u);
        *out = (uint32_t)v; /* the low 32 bits, as strtoul and a cast to uint32_t give */
    }
    return found;
}

/* Add the <reg> elements of the document in g->xml; *next is the next implicit regnum. */
static km_status km_gdb_add_regs(km_gdb *g, uint32_t *next)
{
    km_status st = KM_OK;
    const char *x = g->xml;
    size_t xlen = strlen(x);
    size_t p = 0u;
    bool more = km_txt_find(x, xlen, 0u, "<reg ", &p);
    while ((st == KM_OK) && more) {
        size_t end = 0u; /* '>' of the element, relative to p */
        char name[64];
        /* an element needs its '>' and a name */
        if (!km_txt_find_byte(&x[p], xlen - p, '>', &end) ||
            !km_xml_attr(&x[p + 5u], end - 5u, "name", name, sizeof(name))) {
            st = KM_ERR_BAD_DATA;
        } else {
            uint32_t regnum = *next;
            uint32_t bitsize = 0u;
            (void)km_xml_attr_u32(&x[p + 5u], end - 5u, "regnum", &regnum);
            (void)km_xml_attr_u32(&x[p + 5u], end - 5u, "bitsize", &bitsize);
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
        }
        if (st == KM_OK) {
            more = km_txt_find(x, xlen, p + end, "<reg ", &p);
        }
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
        const char *x = g->xml;
        size_t xlen = strlen(x);
        size_t p = 0u;
        bool more = km_txt_find(x, xlen, 0u, "<xi:include", &p);
        while ((st == KM_OK) && more) {
            size_t end = 0u; /* '>' of the element, relative to p */
            if (!km_txt_find_byte(&x[p], xlen - p, '>', &end) || (ninc >= KM_GDB_MAX_INCLUDES) ||
                !km_xml_attr(&x[p + 11u], end - 11u, "href", includes[ninc], sizeof(includes[0]))) {
                st = km_error_set(err, KM_ERR_BAD_DATA, 0u, ninc, 0);
            } else {
                ninc++;
                more = km_txt_find(x, xlen, p + end, "<xi:include", &p);
            }
        }
        if (st == KM_OK) {
            st = km_gdb_add_regs(g, &next); /* registers declared in target.xml itself */
            if (st != KM_OK) {
                (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
            }
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
    km_txt t;
    km_status st = KM_OK;
    if (cpu < 0) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        /* thread ids are vCPU index + 1, inside process 1 */
        km_txt_init(&t, cmd, sizeof(cmd));
        km_txt_str(&t, "Hgp1.");
        km_txt_hex(&t, (uint64_t)cpu + 1u, 1u);
        st = km_gdb_command(g, cmd, err);
        if ((st == KM_OK) && (strcmp(g->pkt, "OK") != 0)) {
            st = km_error_set(err, KM_ERR_RANGE, 0u, (uint32_t)cpu, 0);
        }
    }
    if (st == KM_OK) {
        km_txt_init(&t, cmd, sizeof(cmd));
        km_txt_chr(&t, 'p');
        km_txt_hex(&t, (uint64_t)regnum, 1u);
        st = km_gdb_command(g, cmd, err);
    }
    if (st == KM_OK) {
        const char *d = g->pkt;
        size_t n = strlen(d);
        uint64_t v = 0u;
        if ((n == 0u) || (n > 16u) || ((n % 2u) != 0u) || (d[0] == 'E') || (d[0] == 'x')) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, regnum, 0);
        }
        /* target byte order (little-endian): byte i is hex digits 2i, 2i+1 */
        for (size_t i = 0u; (st == KM_OK) && (i < (n / 2u)); i++) {
            int32_t hi = km_txt_hexval(d[2u * i]);
            int32_t lo = km_txt_hexval(d[(2u * i) + 1u]);
            if ((hi < 0) || (lo < 0)) {
                st = km_error_set(err, KM_ERR_PROTOCOL, 0u, regnum, 0);
            } else {
                uint64_t byte = ((uint64_t)hi * 16u) + (uint64_t)lo;
                uint64_t shift = 8u * (uint64_t)i;
                v |= byte << shift;
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
    km_txt t;
    km_status st;
    km_txt_init(&t, cmd, sizeof(cmd));
    km_txt_chr(&t, insert ? 'Z' : 'z'); /* Z2/z2: insert/remove a write watchpoint */
    km_txt_str(&t, "2,");
    km_txt_hex(&t, addr, 1u);
    km_txt_chr(&t, ',');
    km_txt_hex(&t, (uint64_t)len, 1u);
    st = km_gdb_command(g, cmd, err);
    if ((st == KM_OK) && (strcmp(g->pkt, "OK") != 0)) {
        const char *d = g->pkt;
        st = km_error_set(err, (d[0] == '\0') ? KM_ERR_UNSUPPORTED : KM_ERR_PROTOCOL, addr, KM_NO_INDEX, 0);
    }
    return st;
}

km_status km_gdb_continue(km_gdb *g, km_error *err)
{
    return km_gdb_send_packet(g, "c", err);
}

/* The vCPU index (0-based) of the thread id at p[at .. len): "[p<pid>.]<tid>",
 * hexadecimal as strtol reads it, thread ids counting from 1.  -1 if it names
 * no single vCPU (0, negative, no digits, or an index beyond int32_t). */
static int32_t km_gdb_thread_index(const char *p, size_t len, size_t at, size_t semi, bool has_semi)
{
    int32_t cpu = -1;
    size_t dot = 0u;
    size_t tid = at;
    km_txt_number t;
    /* the first '.' after the key, if it lies in this pair, separates pid and tid */
    if (km_txt_find_byte(&p[at], len - at, '.', &dot) && (!has_semi || ((at + dot) < semi))) {
        tid = at + dot + 1u;
    }
    km_txt_scan_number(&p[tid], len - tid, 16u, &t);
    if (t.any && !t.neg && (t.mag > 0u) && ((t.mag - 1u) <= (uint64_t)INT32_MAX)) {
        uint64_t idx = t.mag - 1u;
        cpu = (int32_t)idx;
    }
    return cpu;
}

/* One "key:value;" pair of a T stop reply at payload[*p .. len); *p moves past it. */
static km_status km_gdb_stop_pair(const char *payload, size_t len, size_t *p, km_gdb_stop *s)
{
    km_status st = KM_OK;
    size_t at = *p;
    size_t colon = 0u;
    size_t semi = 0u;
    bool has_colon = km_txt_find_byte(&payload[at], len - at, ':', &colon);
    bool has_semi = km_txt_find_byte(&payload[at], len - at, ';', &semi);
    if (!has_colon || (has_semi && (semi < colon))) {
        st = KM_ERR_PROTOCOL;
    } else {
        const char *key = &payload[at];
        size_t v = at + colon + 1u;
        if (km_txt_span_is(key, colon, "watch") || km_txt_span_is(key, colon, "awatch") ||
            km_txt_span_is(key, colon, "rwatch")) {
            s->watch = true;
            s->watch_addr = km_txt_strtou64(&payload[v], len - v, 16u);
        } else if (km_txt_span_is(key, colon, "thread")) {
            s->thread = km_gdb_thread_index(payload, len, v, at + semi, has_semi);
        } else {
            /* other key:value pairs (core, swbreak, ...) */
        }
        *p = has_semi ? ((at + semi) + 1u) : len;
    }
    return st;
}

km_status km_gdb_parse_stop(const char *payload, km_gdb_stop *stop)
{
    km_status st = KM_OK;
    km_gdb_stop s = {.signal = 0u, .watch = false, .watch_addr = 0u, .thread = -1, .exited = false};
    char kind = payload[0];
    int32_t h1 = (kind != '\0') ? km_txt_hexval(payload[1]) : -1;
    int32_t h2 = (h1 >= 0) ? km_txt_hexval(payload[2]) : -1;
    if ((kind == 'W') || (kind == 'X')) {
        s.exited = true;
    } else if (((kind != 'S') && (kind != 'T')) || (h1 < 0) || (h2 < 0)) {
        st = KM_ERR_PROTOCOL;
    } else {
        size_t len = strlen(payload);
        size_t p = 3u;
        s.signal = ((uint32_t)h1 * 16u) + (uint32_t)h2;
        while ((st == KM_OK) && (kind == 'T') && (p < len)) {
            st = km_gdb_stop_pair(payload, len, &p, &s);
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
    } else if (g->fd < 0) {
        /* closed (a command timed out): no stop can come, say so rather than time out forever */
        st = km_error_set(err, KM_ERR_STATE, 0u, KM_NO_INDEX, 0);
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
