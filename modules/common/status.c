/* ktmon: status names.  Pure, allocation-free; proved by WP (verify/wp/common.wp). */
#include "ktmon/status.h"

#include <stddef.h>

_Static_assert(((int)KM_ERR_MISMATCH + 1) == KM_STATUS_COUNT, "KM_STATUS_COUNT out of step");

/*@ ensures \valid_read(\result);
    assigns \nothing; */
const char *km_status_name(km_status s)
{
    /* Indexed by km_status; the initializer count is checked below. */
    static const char *const km_status_names[KM_STATUS_COUNT] = {
        "ok",
        "out of range",
        "unmapped",
        "misaligned",
        "bad data",
        "no such symbol",
        "no such type or member",
        "I/O error",
        "protocol error",
        "timeout",
        "busy",
        "unsupported",
        "invalid argument",
        "address overflow",
        "crosses region end",
        "not present",
        "invalid descriptor",
        "table outside RAM",
        "bad registers",
        "out of memory",
        "table full",
        "wrong state",
        "not ready",
        "mismatch",
    };

    _Static_assert(sizeof(km_status_names) / sizeof(km_status_names[0]) == (size_t)KM_STATUS_COUNT,
                   "status name table out of step");
    const char *name = "unknown status";
    /* The enum's underlying type is implementation-defined; compare as unsigned. */
    unsigned int idx = (unsigned int)s;
    if (idx < (unsigned int)KM_STATUS_COUNT) {
        name = km_status_names[idx];
    }
    return name;
}

km_status km_error_set(km_error *err, km_status s, uint64_t addr, uint32_t index, int32_t sys_errno)
{
    if (err != NULL) {
        err->status = s;
        err->addr = addr;
        err->index = index;
        err->sys_errno = sys_errno;
    }
    return s;
}
