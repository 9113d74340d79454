/* Unit tests: the error model (include/ktmon/status.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "ktmon/status.h"

Test(status, every_status_has_a_distinct_name)
{
    for (int i = 0; i < KM_STATUS_COUNT; i++) {
        const char *a = km_status_name((km_status)i);
        cr_assert_not_null(a);
        cr_assert_neq(strcmp(a, "unknown status"), 0, "status %d has no name", i);
        for (int j = 0; j < i; j++) {
            cr_assert_neq(strcmp(a, km_status_name((km_status)j)), 0, "statuses %d and %d share '%s'", i,
                          j, a);
        }
    }
}

Test(status, names_of_known_statuses)
{
    cr_assert_str_eq(km_status_name(KM_OK), "ok");
    cr_assert_str_eq(km_status_name(KM_ERR_RANGE), "out of range");
    cr_assert_str_eq(km_status_name(KM_ERR_MISMATCH), "mismatch");
}

Test(status, out_of_range_status_is_unknown)
{
    cr_assert_str_eq(km_status_name((km_status)KM_STATUS_COUNT), "unknown status");
    cr_assert_str_eq(km_status_name((km_status)-1), "unknown status");
}

Test(status, error_set_fills_context_and_returns_status)
{
    km_error e;
    memset(&e, 0xAB, sizeof(e));
    cr_assert_eq(km_error_set(&e, KM_ERR_IO, 0x1000u, 3u, 13), KM_ERR_IO);
    cr_assert_eq(e.status, KM_ERR_IO);
    cr_assert_eq(e.addr, 0x1000u);
    cr_assert_eq(e.index, 3u);
    cr_assert_eq(e.sys_errno, 13);
    cr_assert_eq(km_error_set(NULL, KM_ERR_TIMEOUT, 0u, KM_NO_INDEX, 0), KM_ERR_TIMEOUT);
}
