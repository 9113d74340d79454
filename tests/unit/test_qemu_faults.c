/* Unit tests (issue 9): hal/qemu's QMP and gdbstub clients, and the HAL over them, against peers
 * that misbehave: closing mid-conversation, never answering, garbage, bad checksums, NAK storms,
 * oversized packets, dying while the client waits.
 *
 * Each test scripts a fake server: a thread (or, when the peer must die, a fork()ed child that
 * SIGKILLs itself) serving a Unix socket in a mkdtemp directory (QMP) or a 127.0.0.1 port picked
 * by bind(0) + getsockname (gdbstub).  The script says exactly which bytes go out and when.  The
 * tests check the exact km_status, km_error's copy of it, that outputs were left alone, and that
 * every call returned in bounded time (client timeouts here are 200-300 ms). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktmon/qemu.h"

/* ------------------------------------------------------------------ the scripted fake server */

typedef enum srv_op {
    OP_SEND,       /* send data[0 .. len) */
    OP_LINE,       /* read one '\n'-terminated line (a QMP command); logged */
    OP_PKT,        /* read one RSP packet "$...#xx" (acks and noise before it skipped); payload logged */
    OP_BREAK,      /* read up to and including a 0x03 interrupt byte; logged as "^C" */
    OP_SLEEP,      /* wait ms */
    OP_HOLD,       /* read and discard until the client goes away: never answer */
    OP_DRIP,       /* send data every ms until the client goes away */
    OP_ANSWER_ALL, /* answer every packet with data until the client goes away */
    OP_DIE         /* (forked server only) SIGKILL ourselves: the peer process dies */
} srv_op;

typedef struct srv_step {
    srv_op op;
    const char *data;
    size_t len;
    int ms;
} srv_step;

#define SRV_STEPS 64u
#define SRV_ARENA (16u * 1024u)
#define SRV_SLICE_MS 10
#define SRV_LIMIT_MS 3000 /* no server wait lasts longer: a broken client cannot hang a test */

typedef struct srv {
    int lfd;
    int cfd;
    uint16_t port;
    char dir[64];
    char path[128];
    srv_step step[SRV_STEPS];
    size_t nstep;
    char arena[SRV_ARENA]; /* frames built by the script helpers */
    size_t arena_len;
    char rx[128u * 1024u];
    size_t rxlen;
    char got[16u * 1024u]; /* what the client sent: one line or packet payload per line */
    size_t gotlen;
    atomic_bool stop;
    atomic_bool done; /* the server thread has ended */
    bool threaded;
    bool in_child;
    pthread_t thr;
    pid_t child;
    int child_status;
    bool finished;
} srv;

static srv S;
static km_qmp *Q;
static km_gdb *G;
static km_hal_qemu *H;

static int64_t now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((int64_t)ts.tv_sec * 1000) + ((int64_t)ts.tv_nsec / 1000000);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    (void)nanosleep(&ts, NULL);
}

/* Wait (in slices, watching S.stop) until cfd reports ev or until the deadline. */
static bool srv_wait(short ev, int64_t until)
{
    bool ready = false;
    while (!ready && !atomic_load(&S.stop) && (now_ms() < until)) {
        struct pollfd p = {.fd = S.cfd, .events = ev, .revents = 0};
        ready = poll(&p, 1u, SRV_SLICE_MS) > 0;
    }
    return ready;
}

/* More bytes from the client into S.rx; false once it is gone (or silent for SRV_LIMIT_MS). */
static bool srv_fill(void)
{
    bool ok = false;
    if (S.rxlen >= sizeof(S.rx)) {
        S.rxlen = 0u;
    }
    if (srv_wait(POLLIN, now_ms() + SRV_LIMIT_MS)) {
        ssize_t n = recv(S.cfd, &S.rx[S.rxlen], sizeof(S.rx) - S.rxlen, MSG_DONTWAIT);
        if (n > 0) {
            S.rxlen += (size_t)n;
            ok = true;
        } else {
            ok = (n < 0) && ((errno == EAGAIN) || (errno == EINTR));
        }
    }
    return ok;
}

static void srv_consume(size_t n)
{
    (void)memmove(S.rx, &S.rx[n], S.rxlen - n);
    S.rxlen -= n;
}

static void srv_log(const char *p, size_t n)
{
    size_t room = sizeof(S.got) - 1u - S.gotlen;
    size_t k = (n < room) ? n : room;
    (void)memcpy(&S.got[S.gotlen], p, k);
    S.gotlen += k;
    if (S.gotlen < (sizeof(S.got) - 1u)) {
        S.got[S.gotlen++] = '\n';
    }
    S.got[S.gotlen] = '\0';
}

static bool srv_line(void)
{
    bool ok = true;
    bool have = false;
    while (ok && !have) {
        const char *nl = memchr(S.rx, '\n', S.rxlen);
        if (nl != NULL) {
            size_t n = (size_t)(nl - S.rx);
            srv_log(S.rx, n);
            srv_consume(n + 1u);
            have = true;
        } else {
            ok = srv_fill();
        }
    }
    return ok;
}

static bool srv_pkt(void)
{
    bool ok = true;
    bool have = false;
    while (ok && !have) {
        const char *d = memchr(S.rx, '$', S.rxlen);
        const char *h = NULL;
        if (d == NULL) {
            S.rxlen = 0u; /* acks */
        } else {
            srv_consume((size_t)(d - S.rx));
            h = memchr(S.rx, '#', S.rxlen);
        }
        if ((h != NULL) && ((size_t)(h - S.rx) + 3u <= S.rxlen)) {
            srv_log(&S.rx[1], (size_t)(h - S.rx) - 1u);
            srv_consume((size_t)(h - S.rx) + 3u);
            have = true;
        } else {
            ok = srv_fill();
        }
    }
    return ok;
}

static bool srv_break(void)
{
    bool ok = true;
    bool have = false;
    while (ok && !have) {
        const char *b = memchr(S.rx, 0x03, S.rxlen);
        if (b != NULL) {
            srv_log("^C", 2u);
            srv_consume((size_t)(b - S.rx) + 1u);
            have = true;
        } else {
            S.rxlen = 0u;
            ok = srv_fill();
        }
    }
    return ok;
}

static bool srv_send(const char *d, size_t n)
{
    bool ok = true;
    size_t done = 0u;
    while (ok && (done < n)) {
        ssize_t k = send(S.cfd, &d[done], n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            done += (size_t)k;
        } else if ((k < 0) && ((errno == EAGAIN) || (errno == EINTR))) {
            ok = srv_wait(POLLOUT, now_ms() + SRV_LIMIT_MS);
        } else {
            ok = false;
        }
    }
    return ok;
}

static bool srv_sleep(int ms)
{
    int64_t until = now_ms() + ms;
    while (!atomic_load(&S.stop) && (now_ms() < until)) {
        sleep_ms(SRV_SLICE_MS / 2);
    }
    return !atomic_load(&S.stop);
}

static bool srv_hold(void)
{
    while (srv_fill()) {
        S.rxlen = 0u;
    }
    return false;
}

static bool srv_drip(const char *d, size_t n, int ms)
{
    bool ok = true;
    int64_t until = now_ms() + SRV_LIMIT_MS;
    while (ok && (now_ms() < until)) {
        ok = srv_send(d, n);
        if (ok && srv_wait(POLLIN, now_ms() + ms)) {
            ssize_t k = recv(S.cfd, S.rx, sizeof(S.rx), MSG_DONTWAIT);
            ok = (k > 0) || ((k < 0) && ((errno == EAGAIN) || (errno == EINTR)));
        }
    }
    return false;
}

static bool srv_do(const srv_step *s)
{
    bool ok = false;
    switch (s->op) {
    case OP_SEND:
        ok = srv_send(s->data, s->len);
        break;
    case OP_LINE:
        ok = srv_line();
        break;
    case OP_PKT:
        ok = srv_pkt();
        break;
    case OP_BREAK:
        ok = srv_break();
        break;
    case OP_SLEEP:
        ok = srv_sleep(s->ms);
        break;
    case OP_HOLD:
        ok = srv_hold();
        break;
    case OP_DRIP:
        ok = srv_drip(s->data, s->len, s->ms);
        break;
    case OP_ANSWER_ALL:
        for (uint32_t i = 0u; (i < 100000u) && srv_pkt() && srv_send(s->data, s->len); i++) {
        }
        ok = false;
        break;
    case OP_DIE:
        if (S.in_child) {
            (void)kill(getpid(), SIGKILL);
        }
        ok = false;
        break;
    default:
        ok = false;
        break;
    }
    return ok;
}

static bool srv_accept(void)
{
    int64_t until = now_ms() + SRV_LIMIT_MS;
    bool ready = false;
    while (!ready && !atomic_load(&S.stop) && (now_ms() < until)) {
        struct pollfd p = {.fd = S.lfd, .events = POLLIN, .revents = 0};
        ready = poll(&p, 1u, SRV_SLICE_MS) > 0;
    }
    S.cfd = ready ? accept(S.lfd, NULL, NULL) : -1;
    return S.cfd >= 0;
}

static void *srv_main(void *arg)
{
    (void)arg;
    if (srv_accept()) {
        bool ok = true;
        for (size_t i = 0u; ok && (i < S.nstep); i++) {
            ok = srv_do(&S.step[i]);
        }
        /* End of script: the peer closes.  Half-close first and linger until the client goes
         * away, so that it sees a clean EOF rather than a reset. */
        (void)shutdown(S.cfd, SHUT_WR);
        (void)srv_hold();
        (void)close(S.cfd);
        S.cfd = -1;
    }
    atomic_store(&S.done, true);
    return NULL;
}

/* ---- script building */

static void s_step(srv_op op, const char *data, size_t len, int ms)
{
    cr_assert_lt(S.nstep, SRV_STEPS);
    S.step[S.nstep] = (srv_step){.op = op, .data = data, .len = len, .ms = ms};
    S.nstep++;
}

static void s_send(const char *txt) { s_step(OP_SEND, txt, strlen(txt), 0); }
static void s_sendn(const char *d, size_t n) { s_step(OP_SEND, d, n, 0); }
static void s_line(void) { s_step(OP_LINE, NULL, 0u, 0); }
static void s_pkt(void) { s_step(OP_PKT, NULL, 0u, 0); }
static void s_break(void) { s_step(OP_BREAK, NULL, 0u, 0); }
static void s_sleep(int ms) { s_step(OP_SLEEP, NULL, 0u, ms); }
static void s_hold(void) { s_step(OP_HOLD, NULL, 0u, 0); }
static void s_drip(const char *txt, int ms) { s_step(OP_DRIP, txt, strlen(txt), ms); }
static void s_answer_all(const char *txt) { s_step(OP_ANSWER_ALL, txt, strlen(txt), 0); }
static void s_die(void) { s_step(OP_DIE, NULL, 0u, 0); }

/* "[+]$payload#cs" in the arena; ack: prefix the '+' acknowledging the client's packet. */
static const char *mkframe(const char *payload, bool ack)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(payload);
    char *f = &S.arena[S.arena_len];
    size_t o = 0u;
    unsigned int sum = 0u;
    cr_assert_lt(S.arena_len + n + 6u, sizeof(S.arena));
    if (ack) {
        f[o++] = '+';
    }
    f[o++] = '$';
    for (size_t i = 0u; i < n; i++) {
        f[o++] = payload[i];
        sum = (sum + (unsigned char)payload[i]) & 0xFFu;
    }
    f[o++] = '#';
    f[o++] = hex[sum >> 4];
    f[o++] = hex[sum & 0xFu];
    f[o++] = '\0';
    S.arena_len += o;
    return f;
}

static const char *frame(const char *payload) { return mkframe(payload, false); }
static const char *aframe(const char *payload) { return mkframe(payload, true); }

/* ---- starting and finishing */

static void srv_listen_unix(void)
{
    struct sockaddr_un sa;
    (void)memset(&sa, 0, sizeof(sa));
    (void)snprintf(S.dir, sizeof(S.dir), "/tmp/ktmon-faults-XXXXXX");
    cr_assert_not_null(mkdtemp(S.dir));
    (void)snprintf(S.path, sizeof(S.path), "%s/qmp.sock", S.dir);
    sa.sun_family = AF_UNIX;
    (void)memcpy(sa.sun_path, S.path, strlen(S.path) + 1u);
    S.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(S.lfd, 0);
    cr_assert_eq(bind(S.lfd, (const struct sockaddr *)&sa, (socklen_t)sizeof(sa)), 0);
    cr_assert_eq(listen(S.lfd, 4), 0);
}

/* A 127.0.0.1 port; listening unless refuse (bound, not listening: connect is refused). */
static void srv_bind_tcp(bool refuse)
{
    struct sockaddr_in sa;
    socklen_t sl = (socklen_t)sizeof(sa);
    (void)memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(S.lfd, 0);
    cr_assert_eq(bind(S.lfd, (const struct sockaddr *)&sa, sl), 0);
    if (!refuse) {
        cr_assert_eq(listen(S.lfd, 4), 0);
    }
    cr_assert_eq(getsockname(S.lfd, (struct sockaddr *)&sa, &sl), 0);
    S.port = ntohs(sa.sin_port);
}

/* Run the script: in a thread, or (forked) in a child process that can die. */
static void srv_go(bool forked)
{
    if (forked) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            S.in_child = true;
            (void)srv_main(NULL);
            _exit(0);
        }
        S.child = pid;
    } else {
        cr_assert_eq(pthread_create(&S.thr, NULL, srv_main, NULL), 0);
        S.threaded = true;
    }
}

static void qmp_server(bool forked)
{
    srv_listen_unix();
    srv_go(forked);
}

static void gdb_server(bool forked)
{
    srv_bind_tcp(false);
    srv_go(forked);
}

/* Close the clients and wait for the server to end; then S.got and S.child_status are final. */
static void srv_finish(void)
{
    if (!S.finished) {
        S.finished = true;
        if (Q != NULL) {
            km_qmp_close(Q);
        }
        if (G != NULL) {
            km_gdb_close(G);
        }
        if (H != NULL) {
            km_hal_qemu_close(H);
        }
        if (S.threaded) {
            /* the server notices the client's EOF; stop covers a script still waiting to accept */
            int64_t until = now_ms() + 500;
            while (!atomic_load(&S.done) && (now_ms() < until)) {
                sleep_ms(5);
            }
            atomic_store(&S.stop, true);
            (void)pthread_join(S.thr, NULL);
            S.threaded = false;
        }
        if (S.child > 0) {
            int64_t until = now_ms() + SRV_LIMIT_MS;
            pid_t r = 0;
            while ((r == 0) && (now_ms() < until)) {
                r = waitpid(S.child, &S.child_status, WNOHANG);
                if (r == 0) {
                    sleep_ms(5);
                }
            }
            if (r == 0) {
                (void)kill(S.child, SIGKILL);
                (void)waitpid(S.child, &S.child_status, 0);
            }
            S.child = 0;
        }
    }
}

static void fx_init(void)
{
    (void)memset(&S, 0, sizeof(S));
    S.lfd = -1;
    S.cfd = -1;
    atomic_init(&S.stop, false);
    atomic_init(&S.done, false);
    Q = calloc(1u, sizeof(*Q));
    G = calloc(1u, sizeof(*G));
    cr_assert_not_null(Q);
    cr_assert_not_null(G);
    Q->fd = -1; /* calloc's 0 would be stdin */
    G->fd = -1;
    H = NULL;
}

static void fx_fini(void)
{
    srv_finish();
    free(Q);
    free(G);
    free(H);
    Q = NULL;
    G = NULL;
    H = NULL;
    if (S.lfd >= 0) {
        (void)close(S.lfd);
    }
    if (S.path[0] != '\0') {
        (void)unlink(S.path);
    }
    if (S.dir[0] != '\0') {
        (void)rmdir(S.dir);
    }
}

/* A closed peer: EOF (EPIPE) or, when the peer had unread data, a reset. */
static bool peer_gone_errno(int32_t e)
{
    return (e == EPIPE) || (e == ECONNRESET);
}

#define ASSERT_ELAPSED(t0, lo, hi)                                                                        \
    do {                                                                                                  \
        int64_t el_ = now_ms() - (t0);                                                                    \
        cr_assert((el_ >= (lo)) && (el_ < (hi)), "took %lld ms, expected [%d, %d)", (long long)el_, (lo), \
                  (hi));                                                                                  \
    } while (0)

#define FAST_MS 1000 /* a failure that needs no timeout comes well within this */
#define T_MS 250     /* the short client timeout of these tests */

TestSuite(qmp_faults, .init = fx_init, .fini = fx_fini, .timeout = 10.0);
TestSuite(gdb_faults, .init = fx_init, .fini = fx_fini, .timeout = 10.0);
TestSuite(hal_faults, .init = fx_init, .fini = fx_fini, .timeout = 10.0);

/* ------------------------------------------------------------------ QMP */

static const char GREETING[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, "
    "\"capabilities\": [\"oob\"]}}\r\n";
static const char RET_EMPTY[] = "{\"return\": {}}\r\n";
static const char EVENT[] =
    "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, \"event\": \"RTC_CHANGE\", "
    "\"data\": {\"offset\": 0}}\r\n";

static void qmp_handshake(void)
{
    s_send(GREETING);
    s_line();
    s_send(RET_EMPTY);
}

static void qmp_connect_ok(int timeout_ms)
{
    km_error err;
    km_status st = km_qmp_connect(Q, S.path, timeout_ms, &err);
    cr_assert_eq(st, KM_OK, "connect: %s", km_status_name(st));
}

/* The control: the same fake, behaving, gives the right answers (so failures below are the faults'). */
Test(qmp_faults, well_behaved_server_is_understood)
{
    qmp_handshake();
    s_line();
    s_send(EVENT);
    s_send("{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}}\r\n");
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    bool running = true;
    char status[16];
    km_error err;
    cr_assert_eq(km_qmp_query_status(Q, &running, status, sizeof(status), &err), KM_OK);
    cr_assert(!running);
    cr_assert_str_eq(status, "paused");
    srv_finish();
    cr_assert_not_null(strstr(S.got, "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n"), "%s",
                       S.got);
}

Test(qmp_faults, no_server_at_the_path_is_io)
{
    qmp_server(false); /* listening elsewhere: the path below has no socket */
    char path[160];
    km_error err = {0};
    (void)snprintf(path, sizeof(path), "%s/absent.sock", S.dir);
    cr_assert_eq(km_qmp_connect(Q, path, T_MS, &err), KM_ERR_IO);
    cr_assert_eq(err.status, KM_ERR_IO);
    cr_assert_eq(err.sys_errno, ENOENT);
    cr_assert_eq(Q->fd, -1);
}

Test(qmp_faults, closed_before_the_greeting_is_io)
{
    qmp_server(false); /* empty script: accept, close */
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_connect(Q, S.path, 5000, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(err.status, KM_ERR_IO);
    cr_assert(peer_gone_errno(err.sys_errno), "errno %d", err.sys_errno);
    cr_assert_eq(Q->fd, -1, "a failed connect leaves no descriptor open");
}

Test(qmp_faults, closed_after_the_greeting_is_io)
{
    s_send(GREETING);
    qmp_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_connect(Q, S.path, 5000, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert(peer_gone_errno(err.sys_errno), "errno %d", err.sys_errno);
    cr_assert_eq(Q->fd, -1);
}

Test(qmp_faults, half_a_greeting_then_eof_is_io)
{
    s_send("{\"QMP\": {\"version\": {\"qemu\": {\"mi");
    qmp_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_connect(Q, S.path, 5000, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert(peer_gone_errno(err.sys_errno));
}

Test(qmp_faults, garbage_greeting_is_protocol)
{
    s_send("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    s_hold();
    qmp_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_connect(Q, S.path, 5000, &err), KM_ERR_PROTOCOL);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(err.status, KM_ERR_PROTOCOL);
    cr_assert_eq(Q->fd, -1);
}

Test(qmp_faults, binary_greeting_is_protocol)
{
    static const char bin[] = {'\x00', '\xff', '\xfe', '{', '\x01', '"', '\x7f', '\r', '\n'};
    s_sendn(bin, sizeof(bin));
    s_hold();
    qmp_server(false);
    km_error err = {0};
    cr_assert_eq(km_qmp_connect(Q, S.path, 5000, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(Q->fd, -1);
}

Test(qmp_faults, json_that_is_no_qmp_greeting_is_protocol)
{
    s_send("{\"hello\": \"world\"}\n");
    s_hold();
    qmp_server(false);
    km_error err = {0};
    cr_assert_eq(km_qmp_connect(Q, S.path, 5000, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(Q->fd, -1);
}

Test(qmp_faults, silent_server_times_out)
{
    s_hold();
    qmp_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_connect(Q, S.path, T_MS, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert_eq(err.status, KM_ERR_TIMEOUT);
    cr_assert_eq(Q->fd, -1);
}

Test(qmp_faults, unanswered_capabilities_time_out)
{
    s_send(GREETING);
    s_line();
    s_hold();
    qmp_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_connect(Q, S.path, T_MS, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    srv_finish();
    cr_assert_not_null(strstr(S.got, "qmp_capabilities"), "the client did ask");
}

Test(qmp_faults, closed_during_the_reply_is_io_and_outputs_untouched)
{
    qmp_handshake();
    s_line();
    s_send("{\"return\": {\"status\": \"running\", \"singlestep\": fal"); /* half a line, then EOF */
    qmp_server(false);
    qmp_connect_ok(5000);
    bool running = false;
    char status[16];
    km_error err = {0};
    (void)memset(status, 'X', sizeof(status));
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_query_status(Q, &running, status, sizeof(status), &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert(peer_gone_errno(err.sys_errno));
    cr_assert(!running, "not written");
    cr_assert_eq(status[0], 'X', "not written");
}

Test(qmp_faults, closed_after_reading_the_command_is_io)
{
    qmp_handshake();
    s_line();
    qmp_server(false);
    qmp_connect_ok(5000);
    char out[32] = "untouched";
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"query-target\"}", out, sizeof(out), &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_str_eq(out, "untouched");
    /* the peer is gone for good: the next command fails too, it does not succeed or hang */
    t0 = now_ms();
    cr_assert_neq(km_qmp_stop(Q, &err), KM_OK);
    cr_assert_eq(err.status, KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
}

Test(qmp_faults, garbage_reply_is_protocol)
{
    qmp_handshake();
    s_line();
    s_send("Segmentation fault (core dumped)\r\n");
    s_hold();
    qmp_server(false);
    qmp_connect_ok(5000);
    char out[32] = "untouched";
    km_error err = {0};
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"query-target\"}", out, sizeof(out), &err), KM_ERR_PROTOCOL);
    cr_assert_eq(err.status, KM_ERR_PROTOCOL);
    cr_assert_str_eq(out, "untouched");
}

/* A reply line that is not a whole JSON object must not count as the reply, even though its
 * "return" member is complete. */
Test(qmp_faults, truncated_reply_line_is_not_success)
{
    static const char *const bad[] = {
        "{\"return\": {}\r\n",
        "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\"\r\n",
        "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": \r\n",
        "{\"return\": {}} trailing garbage\r\n",
    };
    qmp_handshake();
    for (size_t i = 0u; i < (sizeof(bad) / sizeof(bad[0])); i++) {
        s_line();
        s_send(bad[i]);
    }
    s_hold();
    qmp_server(false);
    qmp_connect_ok(5000);
    for (size_t i = 0u; i < (sizeof(bad) / sizeof(bad[0])); i++) {
        char out[64] = "untouched";
        km_error err = {0};
        km_status st = km_qmp_execute(Q, "{\"execute\":\"query-status\"}", out, sizeof(out), &err);
        cr_assert_eq(st, KM_ERR_PROTOCOL, "reply %zu (%s): %s", i, bad[i], km_status_name(st));
        cr_assert_str_eq(out, "untouched", "reply %zu", i);
    }
}

Test(qmp_faults, unanswered_command_times_out_and_outputs_untouched)
{
    qmp_handshake();
    s_line();
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    bool running = true;
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_query_status(Q, &running, NULL, 0u, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert_eq(err.status, KM_ERR_TIMEOUT);
    cr_assert(running, "not written");
}

/* Events keep coming, the reply never does: the deadline covers the whole reply, not each line. */
Test(qmp_faults, event_storm_without_a_reply_times_out)
{
    qmp_handshake();
    s_line();
    s_drip(EVENT, 15);
    qmp_server(false);
    qmp_connect_ok(T_MS);
    char out[32] = "untouched";
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"stop\"}", out, sizeof(out), &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert_str_eq(out, "untouched");
}

/* A reply that arrives after its command timed out must not be taken as the next command's reply. */
Test(qmp_faults, late_reply_is_not_the_next_commands_reply)
{
    qmp_handshake();
    s_line();
    s_sleep(2 * T_MS);
    s_send("{\"return\": {\"arch\": \"x86_64\"}}\r\n"); /* query-target's, late */
    s_line();
    s_hold(); /* "stop" is never answered */
    qmp_server(false);
    qmp_connect_ok(T_MS);
    char out[64] = "untouched";
    km_error err = {0};
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"query-target\"}", out, sizeof(out), &err), KM_ERR_TIMEOUT);
    sleep_ms(T_MS + 100); /* the late reply is in by now */
    km_status st = km_qmp_stop(Q, &err);
    cr_assert_neq(st, KM_OK, "stop 'succeeded' on query-target's late reply");
    cr_assert_eq(st, KM_ERR_STATE, "%s", km_status_name(st));
    cr_assert_str_eq(out, "untouched");
    srv_finish();
    cr_assert_null(strstr(S.got, "\"stop\""), "a command was sent on a connection out of step: %s", S.got);
}

Test(qmp_faults, line_longer_than_the_buffer_is_protocol)
{
    static char big[KM_QMP_BUF_SIZE + 4096u];
    (void)memset(big, 'x', sizeof(big)); /* no newline anywhere */
    qmp_handshake();
    s_line();
    s_sendn(big, sizeof(big));
    s_hold();
    qmp_server(false);
    qmp_connect_ok(2000);
    char out[32] = "untouched";
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"query-target\"}", out, sizeof(out), &err), KM_ERR_PROTOCOL);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_str_eq(out, "untouched");
}

Test(qmp_faults, error_reply_is_protocol_with_a_terminated_description)
{
    qmp_handshake();
    s_line();
    s_send("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Device 'nosuch' not found\"}}\r\n");
    s_line();
    s_send("{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}\r\n");
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    char out[64];
    km_error err = {0};
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"x\"}", out, sizeof(out), &err), KM_ERR_PROTOCOL);
    cr_assert_str_eq(out, "Device 'nosuch' not found");
    /* a description longer than out still leaves a NUL-terminated string */
    char small[8];
    (void)memset(small, 'X', sizeof(small));
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"x\"}", small, 1u, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(small[0], '\0');
}

Test(qmp_faults, long_error_description_stays_terminated)
{
    qmp_handshake();
    s_line();
    s_send("{\"error\": {\"class\": \"GenericError\", \"desc\": \"a description far longer than eight\"}}\r\n");
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    char out[16];
    km_error err = {0};
    (void)memset(out, 'X', sizeof(out));
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"x\"}", out, 8u, &err), KM_ERR_PROTOCOL);
    cr_assert_lt(strnlen(out, 8u), 8u, "description not NUL-terminated within cap");
}

/* A return value that does not fit is not silently cut short. */
Test(qmp_faults, return_value_larger_than_out_is_capacity)
{
    qmp_handshake();
    s_line();
    s_send("{\"return\": {\"arch\": \"x86_64\"}}\r\n");
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    char out[16];
    km_error err = {0};
    (void)memset(out, 'X', sizeof(out));
    km_status st = km_qmp_execute(Q, "{\"execute\":\"query-target\"}", out, 8u, &err);
    cr_assert_eq(st, KM_ERR_CAPACITY, "%s", km_status_name(st));
    cr_assert_eq(out[0], 'X', "not written");
}

Test(qmp_faults, query_status_without_running_is_protocol)
{
    qmp_handshake();
    s_line();
    s_send("{\"return\": {\"status\": \"running\"}}\r\n");
    s_line();
    s_send("{\"return\": {\"status\": \"running\", \"running\": 1}}\r\n");
    s_line();
    s_send("{\"return\": []}\r\n");
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    for (int i = 0; i < 3; i++) {
        bool running = true;
        km_error err = {0};
        cr_assert_eq(km_qmp_query_status(Q, &running, NULL, 0u, &err), KM_ERR_PROTOCOL, "reply %d", i);
        cr_assert_eq(err.status, KM_ERR_PROTOCOL);
        cr_assert(running, "reply %d: not written", i);
    }
}

/* A status word longer than the caller's buffer: a failure, never an unterminated string. */
Test(qmp_faults, status_word_longer_than_the_buffer_is_capacity)
{
    qmp_handshake();
    s_line();
    s_send("{\"return\": {\"status\": \"inmigrate\", \"running\": true}}\r\n");
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    bool running = false;
    char status[8];
    km_error err = {0};
    (void)memset(status, 'X', sizeof(status));
    km_status st = km_qmp_query_status(Q, &running, status, 4u, &err);
    cr_assert_eq(st, KM_ERR_CAPACITY, "%s", km_status_name(st));
    cr_assert(!running, "not written");
    cr_assert_lt(strnlen(status, 4u), 4u, "status left unterminated");
}

Test(qmp_faults, non_string_returns_are_protocol)
{
    qmp_handshake();
    s_line();
    s_send("{\"return\": 42}\r\n"); /* human-monitor-command returns a string */
    s_line();
    s_send("{\"return\": {\"path\": \"/dev/shm/x\"}}\r\n"); /* qom-get mem-path returns a string */
    s_hold();
    qmp_server(false);
    qmp_connect_ok(T_MS);
    char out[32] = "untouched";
    km_error err = {0};
    cr_assert_eq(km_qmp_hmp(Q, "info registers", 0, out, sizeof(out), &err), KM_ERR_PROTOCOL);
    cr_assert_eq(err.status, KM_ERR_PROTOCOL);
    cr_assert_str_eq(out, "untouched");
    cr_assert_eq(km_qmp_mem_path(Q, "mem", out, sizeof(out), &err), KM_ERR_PROTOCOL);
    cr_assert_str_eq(out, "untouched");
}

Test(qmp_faults, peer_killed_while_the_client_waits_is_io)
{
    qmp_handshake();
    s_line();
    s_sleep(100); /* the client is in poll() by now */
    s_die();
    qmp_server(true);
    qmp_connect_ok(1500);
    char out[32] = "untouched";
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"query-status\"}", out, sizeof(out), &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 80, 1000); /* noticed the death, did not sit out the 1.5 s timeout */
    cr_assert(peer_gone_errno(err.sys_errno), "errno %d", err.sys_errno);
    cr_assert_str_eq(out, "untouched");
    srv_finish();
    cr_assert(WIFSIGNALED(S.child_status) && (WTERMSIG(S.child_status) == SIGKILL), "the peer did die");
}

Test(qmp_faults, calls_on_a_closed_client_are_state)
{
    km_error err = {0};
    char out[8] = "x";
    cr_assert_eq(km_qmp_execute(Q, "{\"execute\":\"stop\"}", out, sizeof(out), &err), KM_ERR_STATE);
    cr_assert_eq(err.status, KM_ERR_STATE);
    cr_assert_str_eq(out, "x");
}

/* ------------------------------------------------------------------ gdbstub */

/* qSupported offering no-ack mode, QStartNoAckMode, '?': the session QEMU's stub gives. */
static void gdb_handshake(void)
{
    s_pkt();
    s_send(aframe("PacketSize=1000;qXfer:features:read+;QStartNoAckMode+;multiprocess+"));
    s_pkt();
    s_send(aframe("OK"));
    s_pkt();
    s_send(frame("T05thread:p01.01;"));
}

/* The same without no-ack mode: every packet is acknowledged. */
static void gdb_handshake_ack(void)
{
    s_pkt();
    s_send(aframe("PacketSize=1000"));
    s_pkt();
    s_send(aframe("S05"));
}

static void gdb_connect_ok(int timeout_ms)
{
    km_error err;
    km_status st = km_gdb_connect(G, "127.0.0.1", S.port, timeout_ms, &err);
    cr_assert_eq(st, KM_OK, "connect: %s", km_status_name(st));
}

#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

Test(gdb_faults, well_behaved_stub_is_understood)
{
    gdb_handshake();
    s_pkt();
    s_send(frame("OK"));
    s_pkt();
    s_send(frame("efbeadde00000000"));
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    cr_assert(G->no_ack);
    uint64_t v = SENTINEL;
    km_error err;
    cr_assert_eq(km_gdb_read_reg(G, 0, 16u, &v, &err), KM_OK);
    cr_assert_eq(v, UINT64_C(0xdeadbeef));
    srv_finish();
    cr_assert_not_null(strstr(S.got, "QStartNoAckMode\n?\nHgp1.1\np10\n"), "%s", S.got);
}

Test(gdb_faults, well_behaved_stub_in_ack_mode_is_understood)
{
    gdb_handshake_ack();
    s_pkt();
    s_send(aframe("OK"));
    s_pkt();
    s_send(aframe("0100000000000000"));
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    cr_assert(!G->no_ack);
    uint64_t v = SENTINEL;
    km_error err;
    cr_assert_eq(km_gdb_read_reg(G, 1, 32u, &v, &err), KM_OK);
    cr_assert_eq(v, 1u);
}

Test(gdb_faults, refused_connection_is_io)
{
    srv_bind_tcp(true);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, T_MS, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(err.sys_errno, ECONNREFUSED);
    cr_assert_eq(G->fd, -1);
}

Test(gdb_faults, closed_on_accept_is_io)
{
    gdb_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, 5000, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert(peer_gone_errno(err.sys_errno), "errno %d", err.sys_errno);
    cr_assert_eq(G->fd, -1);
}

Test(gdb_faults, closed_mid_packet_is_io)
{
    s_pkt();
    s_send("+$PacketSize=1000;qXfer:feat");
    gdb_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, 5000, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert(peer_gone_errno(err.sys_errno));
    cr_assert_eq(G->fd, -1);
}

Test(gdb_faults, closed_between_checksum_digits_is_io)
{
    gdb_handshake();
    s_pkt();
    s_send("$OK#9"); /* one digit of "9a" */
    gdb_server(false);
    gdb_connect_ok(5000);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_watch(G, 0xffff888000001000u, 4u, true, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
}

Test(gdb_faults, closed_mid_register_reply_is_io_and_value_untouched)
{
    gdb_handshake();
    s_pkt();
    s_send(frame("OK"));
    s_pkt();
    s_send("$efbeadde00");
    gdb_server(false);
    gdb_connect_ok(5000);
    uint64_t v = SENTINEL;
    km_error err = {0};
    cr_assert_eq(km_gdb_read_reg(G, 0, 16u, &v, &err), KM_ERR_IO);
    cr_assert_eq(v, SENTINEL);
}

Test(gdb_faults, bad_checksum_is_protocol)
{
    s_pkt();
    s_send("+$PacketSize=1000;QStartNoAckMode+#00");
    s_hold();
    gdb_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, 5000, &err), KM_ERR_PROTOCOL);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(err.status, KM_ERR_PROTOCOL);
    cr_assert_eq(G->fd, -1);
}

Test(gdb_faults, non_hex_checksum_is_protocol)
{
    s_pkt();
    s_send("+$OK#zz");
    s_hold();
    gdb_server(false);
    km_error err = {0};
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, 5000, &err), KM_ERR_PROTOCOL);
}

Test(gdb_faults, bad_checksum_on_a_register_reply_leaves_the_value)
{
    gdb_handshake();
    s_pkt();
    s_send(frame("OK"));
    s_pkt();
    s_send("$efbeadde00000000#00");
    s_hold();
    gdb_server(false);
    gdb_connect_ok(5000);
    uint64_t v = SENTINEL;
    km_error err = {0};
    cr_assert_eq(km_gdb_read_reg(G, 0, 16u, &v, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(v, SENTINEL);
}

Test(gdb_faults, nak_storm_at_connect_is_protocol)
{
    static char naks[4096];
    (void)memset(naks, '-', sizeof(naks));
    s_pkt();
    s_sendn(naks, sizeof(naks));
    s_hold();
    gdb_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, 5000, &err), KM_ERR_PROTOCOL);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(G->fd, -1);
}

Test(gdb_faults, nak_storm_on_a_command_is_protocol)
{
    gdb_handshake_ack();
    s_pkt();
    s_drip("-", 5);
    gdb_server(false);
    gdb_connect_ok(5000);
    uint64_t v = SENTINEL;
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_read_reg(G, 0, 16u, &v, &err), KM_ERR_PROTOCOL);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(v, SENTINEL);
}

/* In no-ack mode a '-' is noise: a storm of them is no reply, so the command times out. */
Test(gdb_faults, nak_storm_in_no_ack_mode_times_out)
{
    gdb_handshake();
    s_pkt();
    s_drip("--------", 5);
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_watch(G, 0x1000u, 8u, true, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
}

Test(gdb_faults, oversized_packet_is_protocol)
{
    static char big[KM_GDB_BUF_SIZE + 8192u];
    (void)memset(big, 'a', sizeof(big));
    big[0] = '+';
    big[1] = '$'; /* and never a '#' */
    s_pkt();
    s_sendn(big, sizeof(big));
    s_hold();
    gdb_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, 2000, &err), KM_ERR_PROTOCOL);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(G->fd, -1);
}

/* 2100 bytes on the wire that run-length-expand to 68,600: larger than g->pkt. */
Test(gdb_faults, oversized_run_length_expansion_is_capacity)
{
    static char payload[2200];
    size_t o = 0u;
    for (int i = 0; i < 700; i++) {
        payload[o++] = '0';
        payload[o++] = '*';
        payload[o++] = '~'; /* 126 - 29 = 97 more copies */
    }
    payload[o] = '\0';
    gdb_handshake();
    s_pkt();
    s_send(frame("OK"));
    s_pkt();
    s_send(frame(payload));
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    uint64_t v = SENTINEL;
    km_error err = {0};
    cr_assert_eq(km_gdb_read_reg(G, 0, 16u, &v, &err), KM_ERR_CAPACITY);
    cr_assert_eq(v, SENTINEL);
}

Test(gdb_faults, silent_stub_times_out)
{
    s_hold();
    gdb_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, T_MS, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert_eq(err.status, KM_ERR_TIMEOUT);
    cr_assert_eq(G->fd, -1);
}

Test(gdb_faults, acknowledged_but_unanswered_times_out)
{
    s_pkt();
    s_send("+");
    s_hold();
    gdb_server(false);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, T_MS, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
}

/* Noise that never forms a packet keeps arriving: the deadline still holds. */
Test(gdb_faults, dripping_noise_times_out)
{
    gdb_handshake();
    s_pkt();
    s_drip("x+", 10);
    gdb_server(false);
    gdb_connect_ok(T_MS);
    uint64_t v = SENTINEL;
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_read_reg(G, 0, 16u, &v, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert_eq(v, SENTINEL);
}

/* Only stop replies, never the command's reply: they are kept aside, the command times out. */
Test(gdb_faults, stop_reply_storm_times_out)
{
    gdb_handshake();
    s_pkt();
    s_drip(frame("S05"), 10);
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_watch(G, 0x1000u, 8u, true, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert(G->stop_pending);
}

Test(gdb_faults, error_and_malformed_register_replies)
{
    static const char *const bad[] = {"E01", "", "123", "zz", "1122334455667788aa", "OK", "x"};
    gdb_handshake();
    for (size_t i = 0u; i < (sizeof(bad) / sizeof(bad[0])); i++) {
        s_pkt();
        s_send(frame("OK"));
        s_pkt();
        s_send(frame(bad[i]));
    }
    s_pkt();
    s_send(frame("E22")); /* Hg refused: no such vCPU */
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    for (size_t i = 0u; i < (sizeof(bad) / sizeof(bad[0])); i++) {
        uint64_t v = SENTINEL;
        km_error err = {0};
        km_status st = km_gdb_read_reg(G, 0, 7u, &v, &err);
        cr_assert_eq(st, KM_ERR_PROTOCOL, "reply \"%s\": %s", bad[i], km_status_name(st));
        cr_assert_eq(err.status, KM_ERR_PROTOCOL);
        cr_assert_eq(err.index, 7u, "the register is named");
        cr_assert_eq(v, SENTINEL, "reply \"%s\": value written", bad[i]);
    }
    uint64_t v = SENTINEL;
    km_error err = {0};
    cr_assert_eq(km_gdb_read_reg(G, 3, 7u, &v, &err), KM_ERR_RANGE);
    cr_assert_eq(err.index, 3u);
    cr_assert_eq(v, SENTINEL);
}

Test(gdb_faults, refused_watchpoints)
{
    gdb_handshake();
    s_pkt();
    s_send(frame(""));
    s_pkt();
    s_send(frame("E22"));
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_error err = {0};
    cr_assert_eq(km_gdb_watch(G, 0xffff888000001000u, 8u, true, &err), KM_ERR_UNSUPPORTED);
    cr_assert_eq(err.addr, 0xffff888000001000u);
    cr_assert_eq(km_gdb_watch(G, 0xffff888000002000u, 8u, true, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(err.addr, 0xffff888000002000u);
}

Test(gdb_faults, garbage_stop_reply_is_protocol)
{
    gdb_handshake();
    s_send(frame("OK"));
    s_send(frame("T05watch"));
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_gdb_stop stop = {.signal = 99u, .watch = true, .watch_addr = SENTINEL, .thread = 42, .exited = true};
    km_error err = {0};
    cr_assert_eq(km_gdb_wait_stop(G, T_MS, &stop, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(err.status, KM_ERR_PROTOCOL);
    cr_assert_eq(km_gdb_wait_stop(G, T_MS, &stop, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(stop.signal, 99u, "not written");
    cr_assert_eq(stop.watch_addr, SENTINEL);
    cr_assert_eq(stop.thread, 42);
}

Test(gdb_faults, no_stop_reply_times_out)
{
    gdb_handshake();
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_gdb_stop stop = {.signal = 99u, .watch = false, .watch_addr = 0u, .thread = 42, .exited = false};
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_wait_stop(G, 200, &stop, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, 190, 200 + FAST_MS);
    cr_assert_eq(stop.signal, 99u);
    /* waiting for a stop is routine: a timeout leaves the session usable */
    cr_assert_geq(G->fd, 0);
}

Test(gdb_faults, stub_killed_while_waiting_for_a_stop_is_io)
{
    gdb_handshake();
    s_sleep(100);
    s_die();
    gdb_server(true);
    gdb_connect_ok(T_MS);
    km_gdb_stop stop = {.signal = 99u, .watch = false, .watch_addr = 0u, .thread = 42, .exited = false};
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_wait_stop(G, 1500, &stop, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 50, 1000);
    cr_assert(peer_gone_errno(err.sys_errno), "errno %d", err.sys_errno);
    cr_assert_eq(stop.signal, 99u);
    srv_finish();
    cr_assert(WIFSIGNALED(S.child_status) && (WTERMSIG(S.child_status) == SIGKILL));
}

Test(gdb_faults, stub_killed_during_the_handshake_is_io)
{
    s_pkt();
    s_sleep(100);
    s_die();
    gdb_server(true);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_connect(G, "127.0.0.1", S.port, 1500, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 50, 1000);
    cr_assert_eq(G->fd, -1);
}

Test(gdb_faults, ignored_interrupt_times_out)
{
    gdb_handshake();
    s_break();
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_gdb_stop stop = {.signal = 99u, .watch = false, .watch_addr = 0u, .thread = 42, .exited = false};
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_interrupt(G, &stop, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert_eq(stop.signal, 99u);
    srv_finish();
    cr_assert_not_null(strstr(S.got, "?\n^C\n"), "%s", S.got);
}

Test(gdb_faults, interrupt_answered_by_closing_is_io)
{
    gdb_handshake();
    s_break();
    gdb_server(false);
    gdb_connect_ok(5000);
    km_gdb_stop stop;
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_interrupt(G, &stop, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
}

/* A stub answering every qXfer read with an empty "m" chunk would keep the reader asking forever. */
Test(gdb_faults, endless_empty_xml_chunks_are_protocol)
{
    gdb_handshake();
    s_answer_all(frame("m"));
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_error err = {0};
    int64_t t0 = now_ms();
    km_status st = km_gdb_load_regs(G, &err);
    cr_assert_eq(st, KM_ERR_PROTOCOL, "%s", km_status_name(st));
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(G->nregs, 0u);
}

Test(gdb_faults, target_description_cut_mid_packet_is_io)
{
    gdb_handshake();
    s_pkt();
    s_send("$l<?xml version=\"1.0\"?><target><reg name=\"pc\" bits");
    gdb_server(false);
    gdb_connect_ok(5000);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_load_regs(G, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_eq(G->nregs, 0u);
}

Test(gdb_faults, malformed_target_descriptions)
{
    gdb_handshake();
    s_pkt();
    s_send(frame("E00")); /* qXfer refused */
    s_pkt();
    s_send(frame("l<target><feature name=\"x\"></feature></target>")); /* no registers */
    s_pkt();
    s_send(frame("l<target><reg name=\"pc\" bitsize=\"64\"")); /* element never closed */
    s_pkt();
    s_send(frame("l<target><xi:include/></target>")); /* include without href */
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    static const km_status want[] = {KM_ERR_PROTOCOL, KM_ERR_PROTOCOL, KM_ERR_BAD_DATA, KM_ERR_BAD_DATA};
    for (size_t i = 0u; i < (sizeof(want) / sizeof(want[0])); i++) {
        km_error err = {0};
        km_status st = km_gdb_load_regs(G, &err);
        cr_assert_eq(st, want[i], "document %zu: %s", i, km_status_name(st));
        cr_assert_eq(err.status, want[i], "document %zu: km_error says %s", i, km_status_name(err.status));
    }
}

/* A reply that arrives after its command timed out must not be taken as the next command's reply. */
Test(gdb_faults, late_reply_is_not_the_next_commands_reply)
{
    gdb_handshake();
    s_pkt(); /* Z2 */
    s_sleep(2 * T_MS);
    s_send(frame("OK")); /* Z2's, late */
    s_pkt(); /* z2, never answered */
    s_hold();
    gdb_server(false);
    gdb_connect_ok(T_MS);
    km_error err = {0};
    cr_assert_eq(km_gdb_watch(G, 0x1000u, 8u, true, &err), KM_ERR_TIMEOUT);
    sleep_ms(T_MS + 100);
    km_status st = km_gdb_watch(G, 0x1000u, 8u, false, &err);
    cr_assert_neq(st, KM_OK, "z2 'succeeded' on Z2's late reply");
    cr_assert_eq(st, KM_ERR_STATE, "%s", km_status_name(st));
    /* and waiting for a stop on it says so at once, instead of timing out forever */
    km_gdb_stop stop = {.signal = 99u, .watch = false, .watch_addr = 0u, .thread = 42, .exited = false};
    int64_t t0 = now_ms();
    cr_assert_eq(km_gdb_wait_stop(G, 1000, &stop, &err), KM_ERR_STATE);
    ASSERT_ELAPSED(t0, 0, 100);
    cr_assert_eq(stop.signal, 99u);
    srv_finish();
    cr_assert_null(strstr(S.got, "z2,"), "a command was sent on a connection out of step: %s", S.got);
}

/* ------------------------------------------------------------------ the HAL (hal_qemu.c) */

static void qmp_vm(const char *cpus_reply)
{
    qmp_handshake();
    s_line();
    s_send("{\"return\": {\"arch\": \"x86_64\"}}\r\n");
    s_line();
    s_send(cpus_reply);
    s_line();
    s_send("{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}\r\n");
}

static const char CPUS1[] = "{\"return\": [{\"thread-id\": 100, \"props\": {\"core-id\": 0, \"thread-id\": 0, "
                            "\"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": 0, "
                            "\"target\": \"x86_64\"}]}\r\n";

static km_hal_qemu *hal_alloc(void)
{
    H = calloc(1u, sizeof(*H));
    cr_assert_not_null(H);
    return H;
}

Test(hal_faults, open_against_a_qmp_peer_killed_mid_setup_is_io)
{
    qmp_handshake();
    s_line(); /* query-target */
    s_sleep(50);
    s_die();
    qmp_server(true);
    km_hal_qemu *h = hal_alloc();
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_hal_qemu_open(h, S.path, "127.0.0.1", 0u, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_null(h->qmp, "freed on failure");
    cr_assert_null(h->gdb);
}

Test(hal_faults, open_with_no_vcpus_is_protocol)
{
    qmp_handshake();
    s_line();
    s_send("{\"return\": {\"arch\": \"x86_64\"}}\r\n");
    s_line();
    s_send("{\"return\": []}\r\n");
    s_hold();
    qmp_server(false);
    km_hal_qemu *h = hal_alloc();
    km_error err = {0};
    cr_assert_eq(km_hal_qemu_open(h, S.path, "127.0.0.1", 0u, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(err.status, KM_ERR_PROTOCOL);
    cr_assert_null(h->qmp);
}

Test(hal_faults, open_with_a_refused_gdbstub_is_io)
{
    srv_bind_tcp(true); /* the gdbstub port, refusing; bound before the QMP server starts */
    int glfd = S.lfd;
    uint16_t gport = S.port;
    qmp_vm(CPUS1);
    s_hold();
    qmp_server(false);
    km_hal_qemu *h = hal_alloc();
    km_error err = {0};
    cr_assert_eq(km_hal_qemu_open(h, S.path, "127.0.0.1", gport, &err), KM_ERR_IO);
    cr_assert_eq(err.sys_errno, ECONNREFUSED);
    cr_assert_null(h->qmp);
    cr_assert_null(h->gdb);
    (void)close(glfd);
}

/* 64 vCPUs: query-cpus-fast's reply is ~9 KB.  Every vCPU is counted, none lost to a cut-off copy. */
Test(hal_faults, many_vcpus_are_all_counted)
{
    static char cpus[64u * 1024u];
    size_t o = 0u;
    o += (size_t)snprintf(&cpus[o], sizeof(cpus) - o, "{\"return\": [");
    for (int i = 0; i < 64; i++) {
        o += (size_t)snprintf(&cpus[o], sizeof(cpus) - o,
                              "%s{\"thread-id\": %d, \"props\": {\"core-id\": 0, \"thread-id\": 0, \"socket-id\": %d}, "
                              "\"qom-path\": \"/machine/unattached/device[%d]\", \"cpu-index\": %d, \"target\": "
                              "\"x86_64\"}",
                              (i == 0) ? "" : ", ", 1000 + i, i, i, i);
    }
    (void)snprintf(&cpus[o], sizeof(cpus) - o, "]}\r\n");
    cr_assert_gt(strlen(cpus), 8192u);
    qmp_vm(cpus);
    s_hold();
    qmp_server(false);
    km_hal_qemu *h = hal_alloc();
    km_error err = {0};
    cr_assert_eq(km_hal_qemu_open(h, S.path, "127.0.0.1", 0u, &err), KM_OK);
    uint32_t n = 0u;
    cr_assert_eq(km_hal_qemu_ops.vcpus(h, &n, &err), KM_OK);
    cr_assert_eq(n, 64u);
}

Test(hal_faults, qmp_only_freeze_against_a_dead_peer_is_io)
{
    qmp_vm(CPUS1);
    s_line(); /* "stop": the peer dies instead of answering */
    s_die();
    qmp_server(true);
    km_hal_qemu *h = hal_alloc();
    km_error err = {0};
    cr_assert_eq(km_hal_qemu_open(h, S.path, "127.0.0.1", 0u, &err), KM_OK);
    cr_assert(h->running);
    int64_t t0 = now_ms();
    cr_assert_eq(km_hal_qemu_ops.freeze(h, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert(h->running, "not frozen");
    cr_assert_eq(h->stops, 0u);
    km_hal_hit hit = {.slot = 9u, .addr = SENTINEL, .cpu = 7, .t_ns = 0u};
    /* without the gdbstub nothing can hit: wait_hit sleeps out its timeout */
    cr_assert_eq(km_hal_qemu_ops.wait_hit(h, 20, &hit, &err), KM_ERR_TIMEOUT);
    cr_assert_eq(hit.addr, SENTINEL);
    t0 = now_ms();
    km_hal_qemu_close(h); /* safe on a dead QEMU, and quick */
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_null(h->qmp);
}

/* A HAL over a connected fake gdbstub (QMP unused), VM running, one vCPU, x86_64. */
static km_hal_qemu *hal_over_gdb(int timeout_ms)
{
    km_hal_qemu *h = hal_alloc();
    km_error err;
    h->gdb = calloc(1u, sizeof(*h->gdb));
    cr_assert_not_null(h->gdb);
    h->gdb->fd = -1;
    cr_assert_eq(km_gdb_connect(h->gdb, "127.0.0.1", S.port, timeout_ms, &err), KM_OK);
    h->arch = KM_ARCH_X86_64;
    h->ncpus = 1u;
    h->running = true;
    h->was_running = false;
    return h;
}

Test(hal_faults, wait_hit_when_the_vm_exits_is_io)
{
    gdb_handshake();
    s_send(frame("W00"));
    s_hold();
    gdb_server(false);
    km_hal_qemu *h = hal_over_gdb(T_MS);
    km_hal_hit hit = {.slot = 9u, .addr = SENTINEL, .cpu = 7, .t_ns = 0u};
    km_error err = {0};
    cr_assert_eq(km_hal_qemu_ops.wait_hit(h, 500, &hit, &err), KM_ERR_IO);
    cr_assert_eq(err.status, KM_ERR_IO);
    cr_assert_eq(hit.slot, 9u);
    cr_assert_eq(hit.addr, SENTINEL);
}

Test(hal_faults, wait_hit_when_the_stub_dies_is_io)
{
    gdb_handshake();
    s_sleep(100);
    s_die();
    gdb_server(true);
    km_hal_qemu *h = hal_over_gdb(T_MS);
    km_hal_hit hit = {.slot = 9u, .addr = SENTINEL, .cpu = 7, .t_ns = 0u};
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_hal_qemu_ops.wait_hit(h, 1500, &hit, &err), KM_ERR_IO);
    ASSERT_ELAPSED(t0, 50, 1000);
    cr_assert_eq(hit.addr, SENTINEL);
    t0 = now_ms();
    km_hal_qemu_close(h); /* safe on a dead QEMU, and quick */
    ASSERT_ELAPSED(t0, 0, FAST_MS);
    cr_assert_null(h->gdb);
}

Test(hal_faults, wait_hit_without_a_stop_times_out)
{
    gdb_handshake();
    s_hold();
    gdb_server(false);
    km_hal_qemu *h = hal_over_gdb(T_MS);
    km_hal_hit hit = {.slot = 9u, .addr = SENTINEL, .cpu = 7, .t_ns = 0u};
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_hal_qemu_ops.wait_hit(h, 200, &hit, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, 190, 200 + FAST_MS);
    cr_assert_eq(hit.addr, SENTINEL);
    cr_assert(h->running);
}

Test(hal_faults, freeze_with_an_ignored_interrupt_times_out)
{
    gdb_handshake();
    s_break();
    s_hold();
    gdb_server(false);
    km_hal_qemu *h = hal_over_gdb(T_MS);
    km_error err = {0};
    int64_t t0 = now_ms();
    cr_assert_eq(km_hal_qemu_ops.freeze(h, &err), KM_ERR_TIMEOUT);
    ASSERT_ELAPSED(t0, T_MS - 10, T_MS + FAST_MS);
    cr_assert(h->running, "not reported frozen");
    cr_assert_eq(h->stops, 0u);
}

Test(hal_faults, refused_arm_leaves_the_slot_empty_and_the_vm_running)
{
    gdb_handshake();
    s_break();
    s_send(frame("T02thread:p01.01;"));
    s_pkt(); /* Z2 */
    s_send(frame("E22"));
    s_pkt(); /* c */
    s_hold();
    gdb_server(false);
    km_hal_qemu *h = hal_over_gdb(T_MS);
    km_error err = {0};
    cr_assert_eq(km_hal_qemu_ops.arm(h, 1u, 0xffff888000004000u, 8u, &err), KM_ERR_PROTOCOL);
    cr_assert_eq(err.addr, 0xffff888000004000u);
    cr_assert_eq(h->armed_len[1], 0u);
    cr_assert_eq(h->armed_kva[1], 0u);
    cr_assert(h->running);
    km_gdb_close(h->gdb);
    srv_finish();
    cr_assert_not_null(strstr(S.got, "^C\nZ2,ffff888000004000,8\nc\n"), "%s", S.got);
}
