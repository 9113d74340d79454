/* ktmon: socket helpers of hal/qemu.
 *
 * The only file of hal/qemu that opens sockets, does socket I/O or reads the
 * clock.  errno is tested only right after a POSIX call that returned its
 * failure value (docs/misra-deviations.md, 22.10). */
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "text.h"

int64_t km_now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((int64_t)ts.tv_sec * 1000) + ((int64_t)ts.tv_nsec / 1000000);
}

uint64_t km_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * UINT64_C(1000000000)) + (uint64_t)ts.tv_nsec;
}

void km_sleep_ms(int ms)
{
    if (ms > 0) {
        long msl = (long)ms;
        struct timespec ts = {.tv_sec = msl / 1000L, .tv_nsec = (msl % 1000L) * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
}

km_status km_sock_unix(const char *path, int *fd, km_error *err)
{
    km_status st = KM_OK;
    struct sockaddr_un sa;
    (void)memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if ((path == NULL) || (strlen(path) >= sizeof(sa.sun_path))) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, 0u, KM_NO_INDEX, 0);
    } else {
        (void)memcpy(sa.sun_path, path, strlen(path) + 1u);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
            st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
        } else if (connect(s, (const struct sockaddr *)&sa, (socklen_t)sizeof(sa)) != 0) {
            st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
            (void)close(s);
        } else {
            *fd = s;
        }
    }
    return st;
}

km_status km_sock_tcp(const char *host, uint16_t port, int timeout_ms, int *fd, km_error *err)
{
    km_status st = KM_OK;
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char portstr[8];
    km_txt t;
    (void)memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    km_txt_init(&t, portstr, sizeof(portstr));
    km_txt_dec(&t, (uint64_t)port); /* at most 5 digits: always fits */
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if ((rc != 0) || (res == NULL)) {
        st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)ENOENT);
    } else {
        int s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0) {
            st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
        } else {
            int one = 1;
            (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, (socklen_t)sizeof(one));
            if ((connect(s, res->ai_addr, res->ai_addrlen) != 0) && (errno != EINPROGRESS)) {
                st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
            } else {
                struct pollfd p = {.fd = s, .events = POLLOUT, .revents = 0};
                int soerr = 0;
                socklen_t sl = (socklen_t)sizeof(soerr);
                int pr = poll(&p, 1u, timeout_ms);
                if (pr == 0) {
                    st = km_error_set(err, KM_ERR_TIMEOUT, 0u, KM_NO_INDEX, 0);
                } else if ((pr < 0) || (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)) {
                    st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
                } else if (soerr != 0) {
                    st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)soerr);
                } else {
                    *fd = s;
                }
            }
            if (st != KM_OK) {
                (void)close(s);
            }
        }
        freeaddrinfo(res);
    }
    return st;
}

km_status km_sock_send(int fd, const char *buf, size_t len, int timeout_ms, km_error *err)
{
    km_status st = KM_OK;
    size_t done = 0u;
    int64_t deadline = km_now_ms() + timeout_ms;
    while ((st == KM_OK) && (done < len)) {
        ssize_t n = send(fd, &buf[done], len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
        } else if ((n < 0) && ((errno == EAGAIN) || (errno == EINTR))) {
            int64_t left = deadline - km_now_ms();
            struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
            if (left <= 0) {
                st = km_error_set(err, KM_ERR_TIMEOUT, 0u, KM_NO_INDEX, 0);
            } else {
                (void)poll(&p, 1u, (int)left);
            }
        } else {
            st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (n < 0) ? (int32_t)errno : (int32_t)EPIPE);
        }
    }
    return st;
}

km_status km_sock_recv(int fd, char *buf, size_t cap, int64_t deadline_ms, size_t *got, km_error *err)
{
    km_status st = KM_ERR_TIMEOUT;
    bool done = false;
    while (!done) {
        int64_t left = deadline_ms - km_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        int pr = (left > 0) ? poll(&p, 1u, (int)left) : 0;
        if (pr == 0) {
            st = km_error_set(err, KM_ERR_TIMEOUT, 0u, KM_NO_INDEX, 0);
            done = true;
        } else if (pr < 0) {
            if (errno != EINTR) {
                st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
                done = true;
            }
        } else {
            ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
            if (n > 0) {
                *got = (size_t)n;
                st = KM_OK;
                done = true;
            } else if (n == 0) {
                st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)EPIPE);
                done = true;
            } else if ((errno != EAGAIN) && (errno != EINTR)) {
                st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, (int32_t)errno);
                done = true;
            } else {
                /* spurious wakeup: poll again */
            }
        }
    }
    return st;
}
