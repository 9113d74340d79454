/* ktmon kop_dispatch: the bounded message builder (private; kop_msg.c). */
#ifndef KTMON_KOP_MSG_H
#define KTMON_KOP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "ktmon/kop_dispatch.h"

void km_kop_msg_clear(km_kop_msg *m);
/* Append s[0 .. n), cut at a UTF-8 boundary when the message is full. */
void km_kop_msg_put_n(km_kop_msg *m, const char *s, size_t n);
void km_kop_msg_put(km_kop_msg *m, const char *s);
void km_kop_msg_put_u64(km_kop_msg *m, uint64_t v);
void km_kop_msg_put_hex(km_kop_msg *m, uint64_t v);
void km_kop_msg_put_quoted(km_kop_msg *m, const char *s);
void km_kop_msg_copy(km_kop_msg *dst, const km_kop_msg *src);

#endif /* KTMON_KOP_MSG_H */
