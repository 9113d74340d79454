/* ktmon watchpoint_fsm: the indirect call and the coordinator signal.
 * Not WP-proved (their contracts in wp_prim.h are the trusted base); kept
 * to the few lines that cannot be expressed in WP's memory model. */
#include "wp_prim.h"

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

km_status km_wp_prim_issue(const km_wp_vcpu *v, const uint64_t kva[KM_WP_SLOTS], km_error *e)
{
    km_status st = KM_ERR_INVALID_ARG;
    if ((v->ops != NULL) && (v->ops->set_debug != NULL)) {
        st = v->ops->set_debug(v->ctx, kva, e);
    } else {
        (void)km_error_set(e, st, 0u, KM_NO_INDEX, 0);
    }
    return st;
}

int32_t km_wp_prim_signal(const km_wp_table *t, uint32_t slot)
{
    int32_t rc = 0;
    if (t->notify != NULL) {
        t->notify(t->notify_ctx, slot);
    }
    if (t->hit_fd >= 0) {
        /* eventfd(2): an 8-byte add; it only fails if the counter would
         * overflow (EAGAIN) or the fd is not an eventfd.  Retry EINTR a
         * bounded number of times. */
        const uint64_t one = 1u;
        ssize_t n = -1;
        int e = EINTR;
        uint32_t tries = 0u;
        while ((e == EINTR) && (tries < KM_WP_EINTR_RETRIES)) {
            n = write(t->hit_fd, &one, sizeof(one));
            e = (n < 0) ? errno : 0;
            tries++;
        }
        if (e != 0) {
            rc = (int32_t)e;
        } else if (n != (ssize_t)sizeof(one)) {
            rc = (int32_t)EIO;
        } else {
            /* signalled */
        }
    }
    return rc;
}
