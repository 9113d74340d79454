/* ktmon watchpoint_fsm: primitives WP takes on trust (private).
 *
 * The two places where the module leaves C's sequential memory model: the
 * indirect call into the vCPU backend (KVM ioctl, test fake) and the
 * notification of the coordinator (a callback and an eventfd write).  They
 * live in wp_prim.c, which the WP harness does not include, so WP sees only
 * these contracts; they are the trusted base of verify/wp/watchpoint_fsm.wp
 * (docs/proof-status.md) and are exercised by the unit and stress tests. */
#ifndef KTMON_WP_PRIM_H
#define KTMON_WP_PRIM_H

#include <stdint.h>

#include "ktmon/status.h"
#include "ktmon/watchpoint_fsm.h"

/* v->ops->set_debug(v->ctx, kva, e); KM_ERR_INVALID_ARG if there is no
 * backend.  The backend touches neither the table nor the vCPU record. */
/*@ requires \valid_read(v) && \valid_read(kva + (0 .. KM_WP_SLOTS - 1)) && \valid(e);
    requires \separated(e, v) && \separated(e, kva + (0 .. KM_WP_SLOTS - 1));
    assigns *e; */
km_status km_wp_prim_issue(const km_wp_vcpu *v, const uint64_t kva[KM_WP_SLOTS], km_error *e);

/* Tell the coordinator that `slot` latched: t->notify (if set), then an
 * 8-byte 1 written to t->hit_fd (if >= 0).  Returns 0 or the write's errno. */
/*@ requires \valid_read(t);
    assigns \nothing;
    ensures \result >= 0; */
int32_t km_wp_prim_signal(const km_wp_table *t, uint32_t slot);

#endif /* KTMON_WP_PRIM_H */
