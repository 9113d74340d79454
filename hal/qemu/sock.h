/* ktmon: socket helpers of hal/qemu (private): connect, send all, receive with a deadline. */
#ifndef KTMON_QEMU_SOCK_H
#define KTMON_QEMU_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "ktmon/status.h"

km_status km_sock_unix(const char *path, int *fd, km_error *err);
km_status km_sock_tcp(const char *host, uint16_t port, int timeout_ms, int *fd, km_error *err);
km_status km_sock_send(int fd, const char *buf, size_t len, int timeout_ms, km_error *err);
/* Receive at least one byte (up to cap) before the deadline (ms since an
 * arbitrary epoch, from km_now_ms); a closed peer is KM_ERR_IO with EPIPE. */
km_status km_sock_recv(int fd, char *buf, size_t cap, int64_t deadline_ms, size_t *got,
                       km_error *err);
int64_t km_now_ms(void);
/* CLOCK_MONOTONIC in nanoseconds (hit time stamps). */
uint64_t km_now_ns(void);
/* Sleep ms milliseconds (nothing if ms <= 0); a signal may end it early. */
void km_sleep_ms(int ms);

#endif /* KTMON_QEMU_SOCK_H */
